/**
 * src/core/machine-graph.ts on ordinary XState (#9): the job test machine has
 * guarded event transitions, a parent with shared transitions, states
 * nested two deep, an invoked actor, tags and meta.
 */
import { createActor } from 'xstate';
import { describe, expect, it } from 'vitest';
import { allowedTransitions, eventLabel, lifecycleChart, readChart } from '../../src/core/machine-graph.js';
import { jobMachine } from '../machines/job.machine.js';
import { matchesId } from '../support/machine.js';

const CHART = readChart(jobMachine);
const byId = (id: string) => CHART.find((state) => state.id === id)!;

describe('readChart', () => {
  it('reads every state node, nested ones too, parents first, with its path as id', () => {
    expect(CHART.map((s) => s.id)).toEqual([
      'queued',
      'active',
      'active.running',
      'active.running.downloading',
      'active.running.processing',
      'active.retrying',
      'succeeded',
      'failed',
      'cancelled'
    ]);
    expect(byId('active.running.processing')).toMatchObject({ name: 'processing', parent: 'active.running', depth: 2, kind: 'atomic' });
    expect(CHART.filter((s) => s.initial).map((s) => s.id)).toEqual(['queued', 'active.running', 'active.running.downloading']);
    expect(CHART.filter((s) => s.final).map((s) => s.id)).toEqual(['succeeded', 'failed', 'cancelled']);
  });

  it('keeps guarded transitions for one event in order, with their guards', () => {
    expect(byId('active.running').transitions.filter((t) => t.event === 'FAIL')).toEqual([
      expect.objectContaining({ guard: 'retryable', target: 'active.retrying', actions: ['countAttempt'] }),
      expect.objectContaining({ guard: undefined, target: 'failed', actions: [] })
    ]);
    expect(byId('active.retrying').transitions).toEqual([expect.objectContaining({ event: 'START', guard: 'underLimit', target: 'active.running' })]);
  });

  it('reads invoked actors, tags, meta, delays and the states that report their entry', () => {
    expect(byId('active.running')).toMatchObject({ invoke: ['ticker'], tags: ['busy'], audited: true });
    expect(byId('active.retrying').meta).toEqual({ note: 'backing off' });
    expect(byId('active').audited).toBe(false);
    expect(byId('active.running').transitions.find((t) => t.delay !== undefined)).toMatchObject({ event: 'after stallTimeout', delay: 'stallTimeout', target: 'failed' });
  });

  it('names delayed events as the audit trail does, from the nested node the timer belongs to', () => {
    const actor = createActor(jobMachine).start();
    actor.send({ type: 'START' });
    const delayed = [...new Set(readChart(jobMachine).flatMap((s) => s.transitions.filter((t) => t.delay).map((t) => `xstate.after.${t.delay}.job.${t.source}`)))];
    expect(delayed.map(eventLabel)).toEqual(['after stallTimeout']);
    expect(matchesId(actor.getSnapshot(), 'active.running.downloading')).toBe(true);
    actor.stop();
  });
});

describe('lifecycleChart and allowedTransitions', () => {
  const lifecycle = lifecycleChart(CHART);

  it('keeps the audited states, flat, named by their key, starting where the machine starts', () => {
    expect(lifecycle.map((s) => s.name)).toEqual(['queued', 'running', 'retrying', 'succeeded', 'failed', 'cancelled']);
    expect(lifecycle.filter((s) => s.initial).map((s) => s.name)).toEqual(['queued']);
  });

  it("applies a parent's transitions to every audited state inside it, lands a parent target on its initial audited state, and keeps moves inside a state targetless", () => {
    expect([...allowedTransitions(lifecycle)].sort()).toEqual(
      [
        'queued|START|running',
        'running|CANCEL|cancelled',
        'retrying|CANCEL|cancelled',
        'running|FAIL|retrying',
        'running|FAIL|failed',
        'running|DONE|succeeded',
        'running|after stallTimeout|failed',
        'retrying|START|running'
      ].sort()
    );
    const progress = lifecycle.find((s) => s.name === 'running')!.transitions.filter((t) => t.event === 'PROGRESS');
    expect(progress.map((t) => t.target)).toEqual([undefined, undefined]);
  });

  it('the connection machine: the shared TERMINATE of live applies to connecting, connected and closing, the heartbeat timeout to connected', () => {
    const allowed = allowedTransitions();
    for (const from of ['connecting', 'connected', 'closing']) expect(allowed).toContain(`${from}|TERMINATE|closed`);
    expect(allowed).toContain('connected|after heartbeatInterval|closed');
    expect(allowed).not.toContain('closed|TERMINATE|closed');
    expect([...allowed].filter((key) => key.startsWith('connected|') && key.endsWith('|connected'))).toEqual([]);
  });

  it('refuses a machine whose audited states share a name', () => {
    const twice = readChart(jobMachine).map((s) => (s.id === 'failed' ? { ...s, name: 'succeeded' } : s));
    expect(() => lifecycleChart(twice)).toThrow(/Two audited states are named succeeded/);
  });
});
