/** Reading machine snapshots by chart id (`live.connected.idle`), and running a chart's timers, for tests of any machine. */
import type { AnyActorRef, AnyMachineSnapshot, StateValue } from 'xstate';
import { TimerLists, TimerSlot, type TimerClock } from '../../src/core/timer-lists.js';

/**
 * @param {string} id A state id from `readChart()`
 * @returns {StateValue} The state value that matches it: `{ live: { connected: 'idle' } }`
 */
export function valueOf(id: string): StateValue {
  const keys = id.split('.');
  const leaf = keys.at(-1)!;
  return keys.slice(0, -1).reduceRight<StateValue>((inner, key) => ({ [key]: inner }), leaf);
}

/**
 * @param {AnyMachineSnapshot} snapshot A snapshot
 * @param {string} id A state id from `readChart()`
 * @returns {boolean} Whether that state is active in it
 */
export function matchesId(snapshot: AnyMachineSnapshot, id: string): boolean {
  return snapshot.matches(valueOf(id));
}

/**
 * A machine's chart timers as the binding runs them (`startTimer(<timer>)`
 * arms, `cancelTimer` disarms, `after <timer>` is sent when it elapses), on
 * the given clock: XState's `SimulatedClock` in machine tests.
 *
 * @param {TimerClock} clock The clock
 * @param {(context: C, timer: string) => number} duration A timer's duration in a context
 * @returns The actions to `provide()`, and `bind` to give them the started actor
 */
export function chartTimers<C>(clock: TimerClock, duration: (context: C, timer: string) => number) {
  const lists = new TimerLists(clock);
  let actor: AnyActorRef | undefined;
  let elapsed: { type: string } | undefined;
  const slot = new TimerSlot({ _timerElapsed: () => actor!.send(elapsed!) });
  return {
    bind(started: AnyActorRef): void {
      actor = started;
    },
    actions: {
      startTimer: ({ context }: { context: C }, { timer }: { timer: string }): void => {
        elapsed = { type: `after ${timer}` };
        lists.arm(slot, duration(context, timer));
      },
      cancelTimer: (): void => lists.disarm(slot)
    }
  };
}
