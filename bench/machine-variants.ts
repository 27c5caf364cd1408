/**
 * Variants of the connection chart that bench/connection-cost.ts measures
 * it against: the floor of an actor per connection, and the chart as it ran
 * before #14, with XState `after` delays (derived from the chart, so the two
 * cannot drift apart).
 */
import { createMachine, type AnyStateMachine } from 'xstate';
import { timerDuration, type ConnectionMachineInput, type ConnectionTimer } from '../machines/connection.machine.js';

/** The chart's shape (a `live` parent, three states, a final one) with no context, action or guard. */
export const floorMachine = createMachine({
  id: 'floor',
  initial: 'live',
  states: {
    live: {
      initial: 'connecting',
      on: { TRANSPORT_CLOSED: 'closed' },
      states: { connecting: { on: { OPENED: 'connected' } }, connected: { on: { CLOSE: 'closing' } }, closing: {} }
    },
    closed: { type: 'final' }
  }
});

type StateConfig = { entry?: unknown; on?: Record<string, unknown>; after?: Record<string, unknown>; states?: Record<string, StateConfig> };

/**
 * The connection chart as it was before #14: each `startTimer(<timer>)` entry
 * action becomes an XState `after` delay taking the chart's own
 * `after <timer>` transition, and `cancelTimer` goes (XState cancels on exit).
 */
export function withXStateAfter(machine: AnyStateMachine): AnyStateMachine {
  const rewrite = (state: StateConfig): StateConfig => {
    const entry = ([] as unknown[]).concat(state.entry ?? []);
    const timers = entry.flatMap((a) => ((a as { type?: string }).type === 'startTimer' ? [(a as { params: { timer: string } }).params.timer] : []));
    const on = { ...state.on };
    const after: Record<string, unknown> = {};
    for (const timer of timers) {
      after[timer] = on[`after ${timer}`];
      delete on[`after ${timer}`];
    }
    const kept = entry.filter((a) => !['startTimer', 'cancelTimer'].includes((a as { type?: string }).type ?? (a as string)));
    return {
      ...state,
      entry: kept,
      on,
      ...(timers.length > 0 ? { after } : {}),
      ...(state.states ? { states: Object.fromEntries(Object.entries(state.states).map(([k, s]) => [k, rewrite(s)])) } : {})
    };
  };
  const delays = Object.fromEntries(
    (['handshakeTimeout', 'heartbeatInterval', 'closeTimeout'] as ConnectionTimer[]).map((timer) => [
      timer,
      ({ context }: { context: ConnectionMachineInput }) => timerDuration(context, timer)
    ])
  );
  return createMachine(rewrite(machine.config as StateConfig) as never, { ...machine.implementations, delays } as never);
}
