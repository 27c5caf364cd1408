/**
 * bench/machine-variants.ts: the chart with XState `after` delays, which
 * bench/connection-cost.ts measures as "before #14", must be the same chart
 * with its timers as XState delays: the same transitions, the delays armed
 * where the chart arms its timers, and timing out on XState's clock.
 */
import { createActor, SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { connectionMachine } from '../../machines/connection.machine.js';
import { readChart } from '../../src/core/machine-graph.js';
import { withXStateAfter } from '../../bench/machine-variants.js';

const INPUT = { handshakeTimeoutMs: 1_000, closeTimeoutMs: 500, heartbeatIntervalMs: 200 };

describe('withXStateAfter', () => {
  const variant = withXStateAfter(connectionMachine);

  it('has the chart\'s transitions, its timer events now XState delays, and no timer actions', () => {
    const strip = (t: { source: string; target: string | undefined; event: string; guard: string | undefined; actions: string[] }): string =>
      `${t.source} ${t.event} [${t.guard ?? ''}] ${t.target ?? ''} / ${t.actions.join(',')}`;
    const chart = readChart(connectionMachine).flatMap((s) => s.transitions);
    const derived = readChart(variant).flatMap((s) => s.transitions);
    expect(derived.map(strip).sort()).toEqual(chart.map(strip).sort());
    // Each `after <timer>` transition of the chart (one per guarded branch) is a delay of the variant, in the same state.
    const timed = chart.filter((t) => t.event.startsWith('after ')).map((t) => `${t.source} ${t.event.slice('after '.length)}`);
    expect(timed).toContain('live.connecting handshakeTimeout');
    expect(timed).toContain('live.closing closeTimeout');
    expect(derived.filter((t) => t.delay !== undefined).map((t) => `${t.source} ${t.delay}`)).toEqual(timed);
    const entries = readChart(variant).flatMap((s) => s.entry);
    expect(entries.filter((name) => name.startsWith('startTimer') || name === 'cancelTimer')).toEqual([]);
  });

  it('times out on XState\'s clock as the chart does on its timers', () => {
    const clock = new SimulatedClock();
    const actor = createActor(variant, { input: INPUT, clock }).start();
    clock.increment(INPUT.handshakeTimeoutMs - 1);
    expect(actor.getSnapshot().status).toBe('active');
    clock.increment(1);
    expect(actor.getSnapshot().output).toEqual({ code: 1006, reason: '', initiator: 'timeout' });
  });
});
