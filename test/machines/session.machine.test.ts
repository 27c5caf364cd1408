/**
 * The pure session machine (#11): every transition of its chart, the TTL
 * on a simulated clock, connections counted across attach and detach.
 */
import { createActor, SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { SESSION_STATES, sessionMachine, type SessionContext, type SessionEvent } from '../../machines/session.machine.js';
import { chartTimers } from '../support/machine.js';
import { allowedTransitions, lifecycleChart, readChart } from '../../src/core/machine-graph.js';

const TTL = 1_000;
type Step = SessionEvent | { advance: number };

function run(steps: Step[]) {
  const clock = new SimulatedClock();
  const entered: string[] = [];
  // The TTL as the binding runs it (src/sessions/session-hub.ts), on the simulated clock.
  const timers = chartTimers(clock, (context: SessionContext) => context.ttlMs);
  const machine = sessionMachine.provide({ actions: { reportEntry: (_, { state }) => void entered.push(state), ...timers.actions } });
  const actor = createActor(machine, { input: { ttlMs: TTL } }).start();
  timers.bind(actor);
  for (const step of steps) {
    if ('advance' in step) clock.increment(step.advance);
    else actor.send(step);
  }
  return { snapshot: actor.getSnapshot(), entered };
}

const ATTACH: SessionEvent = { type: 'ATTACH' };
const DETACH: SessionEvent = { type: 'DETACH' };
const END: SessionEvent = { type: 'END' };

describe('session machine', () => {
  it('audits its three states, starting attached, with the transitions a trail may record', () => {
    const lifecycle = lifecycleChart(readChart(sessionMachine));
    expect(lifecycle.map((s) => s.name)).toEqual([...SESSION_STATES]);
    expect([...allowedTransitions(lifecycle)].sort()).toEqual(
      ['attached|DETACH|detached', 'attached|END|expired', 'detached|ATTACH|attached', 'detached|END|expired', 'detached|after sessionTtl|expired'].sort()
    );
  });

  it('stays attached while any connection is left, and detaches with the last', () => {
    expect(run([ATTACH, ATTACH, DETACH, DETACH]).snapshot).toMatchObject({ value: 'attached', context: { connections: 1 } });
    expect(run([ATTACH, DETACH, DETACH]).snapshot).toMatchObject({ value: 'detached', context: { connections: 0 } });
  });

  it('expires ttlMs after the last connection left, not a millisecond before; a resume in time cancels it', () => {
    expect(run([DETACH, { advance: TTL - 1 }]).snapshot.value).toBe('detached');
    const expired = run([DETACH, { advance: TTL }]);
    expect(expired.snapshot.value).toBe('expired');
    expect(expired.snapshot.status).toBe('done');
    expect(expired.entered).toEqual(['attached', 'detached', 'expired']);
    const resumed = run([DETACH, { advance: TTL - 1 }, ATTACH, { advance: TTL * 5 }]);
    expect(resumed.snapshot).toMatchObject({ value: 'attached', context: { connections: 1 } });
    // Detached again: the TTL starts over.
    expect(run([DETACH, { advance: TTL - 1 }, ATTACH, DETACH, { advance: TTL - 1 }]).snapshot.value).toBe('detached');
  });

  it('ends at once from attached or detached, and nothing leaves expired', () => {
    expect(run([END]).snapshot.value).toBe('expired');
    expect(run([DETACH, END]).snapshot.value).toBe('expired');
    const after = run([END, ATTACH, DETACH, { advance: TTL * 2 }]);
    expect(after.snapshot.value).toBe('expired');
    expect(after.entered).toEqual(['attached', 'expired']);
  });
});
