/**
 * src/core/connection-rules.ts reads where sends are accepted, refused and
 * delivered from the machine (#9). Change the machine and the rules follow;
 * make the machine inconsistent and loading fails by name.
 */
import { createMachine } from 'xstate';
import { describe, expect, it } from 'vitest';
import { connectionMachine } from '../../machines/connection.machine.js';
import { readRules } from '../../src/core/connection-rules.js';
import { lifecycleChart, readChart } from '../../src/core/machine-graph.js';

type StateConfig = { tags?: string[]; meta?: Record<string, unknown>; states?: Record<string, StateConfig> };

/** A copy of plain objects and arrays; functions (the context factory) are kept as they are. */
function copy<T>(value: T): T {
  if (Array.isArray(value)) return value.map(copy) as T;
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, copy(v)])) as T;
  return value;
}

/** The connection machine's definition with `edit` applied to a copy of state `path`. */
function variant(path: string[], edit: (state: StateConfig) => void) {
  const config = copy(connectionMachine.config) as unknown as { states: Record<string, StateConfig> };
  let state: StateConfig = { states: config.states };
  for (const key of path) state = state.states![key]!;
  edit(state);
  return lifecycleChart(readChart(createMachine(config as never)));
}

describe('readRules', () => {
  it('reads the connection machine: only connected sends and delivers; each other state has its refusal', () => {
    expect(readRules()).toEqual({
      sendRefusal: { connecting: 'not_connected', connected: undefined, closing: 'closing', closed: 'closed' },
      delivering: { connecting: false, connected: true, closing: false, closed: false }
    });
  });

  it('follows the machine: tag closing writable and sends are accepted there', () => {
    const rules = readRules(
      variant(['live', 'closing'], (state) => {
        state.tags = ['writable', 'delivering'];
        delete state.meta;
      })
    );
    expect(rules.sendRefusal.closing).toBeUndefined();
    expect(rules.delivering.closing).toBe(true);
  });

  it('follows the machine: a changed refusal is the one a send gets', () => {
    const rules = readRules(variant(['live', 'connecting'], (state) => (state.meta = { sendRefusal: 'closing' })));
    expect(rules.sendRefusal.connecting).toBe('closing');
  });

  it('refuses a state that is writable and names a refusal, or neither, or an unknown refusal', () => {
    expect(() => readRules(variant(['live', 'closing'], (state) => (state.tags = ['writable'])))).toThrow(/closing must either .* not both/);
    expect(() => readRules(variant(['live', 'connected'], (state) => (state.tags = [])))).toThrow(/connected must either .* not neither/);
    expect(() => readRules(variant(['closed'], (state) => (state.meta = { sendRefusal: 'gone' })))).toThrow(/"gone", which is not a send failure reason/);
  });

  it('refuses a machine whose audited states are not the four lifecycle states', () => {
    expect(() => readRules(lifecycleChart(readChart(createMachine({ initial: 'a', states: { a: { entry: 'reportEntry' } } }))))).toThrow(
      /audited states are a; expected connecting, connected, closing, closed/
    );
  });
});
