/**
 * The pure client machine (#11): backoff, refusal, and the heartbeat that
 * finds a server gone silent, on a simulated clock. `heard` stands for the
 * binding noting a frame.
 */
import { createActor, SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { clientMachine, type ClientEvent } from '../../machines/client.machine.js';

const INTERVAL = 1_000;
const TIMEOUT = 500;
const CONNECT = 2_000;
type Step = ClientEvent | { advance: number } | 'frame';

function run(steps: Step[]) {
  const clock = new SimulatedClock();
  const calls: string[] = [];
  let heard = false;
  const machine = clientMachine.provide({
    actions: {
      openSocket: () => void calls.push('open'),
      abandonSocket: () => void calls.push('abandon'),
      sendPing: () => void calls.push('ping'),
      forgetHeard: () => {
        heard = false;
      }
    },
    guards: { heard: () => heard }
  });
  const input = { minDelayMs: 100, maxDelayMs: 100, heartbeatIntervalMs: INTERVAL, heartbeatTimeoutMs: TIMEOUT, connectTimeoutMs: CONNECT };
  const actor = createActor(machine, { clock, input }).start();
  for (const step of steps) {
    if (step === 'frame') heard = true;
    else if ('advance' in step) clock.increment(step.advance);
    else actor.send(step);
  }
  return { value: actor.getSnapshot().value, calls };
}

const OPEN: Step[] = [{ type: 'START' }, { type: 'WELCOMED' }];

describe('client machine heartbeat', () => {
  it('does not probe while frames keep arriving', () => {
    const steps: Step[] = [...OPEN];
    for (let i = 0; i < 5; i++) steps.push('frame', { advance: INTERVAL });
    expect(run(steps)).toEqual({ value: { open: 'listening' }, calls: ['open'] });
  });

  it('probes after a quiet interval and stays when the server answers', () => {
    expect(run([...OPEN, { advance: INTERVAL }])).toEqual({ value: { open: 'probing' }, calls: ['open', 'ping'] });
    expect(run([...OPEN, { advance: INTERVAL }, 'frame', { advance: TIMEOUT }])).toEqual({ value: { open: 'listening' }, calls: ['open', 'ping'] });
  });

  it('gives the socket up when the probe goes unanswered, then reconnects after the backoff', () => {
    expect(run([...OPEN, { advance: INTERVAL + TIMEOUT - 1 }]).value).toEqual({ open: 'probing' });
    expect(run([...OPEN, { advance: INTERVAL }, { advance: TIMEOUT }])).toEqual({ value: 'reconnecting', calls: ['open', 'ping', 'abandon'] });
    expect(run([...OPEN, { advance: INTERVAL }, { advance: TIMEOUT }, { advance: 100 }])).toEqual({ value: 'connecting', calls: ['open', 'ping', 'abandon', 'open'] });
  });

  it('runs no heartbeat outside open', () => {
    expect(run([{ type: 'START' }, { advance: CONNECT - 1 }])).toEqual({ value: 'connecting', calls: ['open'] });
  });

  it('gives up an attempt that is not welcomed within connectTimeout (a hello never answered), and tries again', () => {
    expect(run([{ type: 'START' }, { advance: CONNECT }])).toEqual({ value: 'reconnecting', calls: ['open', 'abandon'] });
    expect(run([{ type: 'START' }, { advance: CONNECT }, { advance: 100 }])).toEqual({ value: 'connecting', calls: ['open', 'abandon', 'open'] });
    expect(run([{ type: 'START' }, { advance: CONNECT - 1 }, { type: 'WELCOMED' }, { advance: 1 }]).value).toEqual({ open: 'listening' });
  });
});
