/**
 * src/core/timer-lists.ts (#14): the connections' chart timers, one list per
 * duration. On a simulated clock stepped a millisecond at a time, whatever
 * the interleaving of arms, re-arms, disarms and owners re-arming as they
 * elapse: a timer elapses exactly when due, once per arm, never after it
 * was disarmed or replaced, and no clock timer is left once nothing is
 * armed and the longest duration has passed. A fast-check property, and the same property failing against a
 * naive variant (a Node timer per arm that a re-arm does not clear).
 */
import fc from 'fast-check';
import { SimulatedClock } from 'xstate';
import { describe, expect, it, vi } from 'vitest';
import { TimerLists, TimerSlot, type TimerClock, type TimerOwner } from '../../src/core/timer-lists.js';

const SEED = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
const DURATIONS = [5, 12, 30] as const;
const SLOTS = 5;

/** XState's SimulatedClock, counting the timeouts it holds. */
class CountingClock extends SimulatedClock implements TimerClock {
  get pending(): number {
    return (this as unknown as { timeouts: Map<unknown, unknown> }).timeouts.size;
  }
}

interface Subject {
  arm(slot: TimerSlot, ms: number): void;
  disarm(slot: TimerSlot): void;
}

/** Arms a clock timer per arm and never clears one: what a binding that forgets to cancel does. */
class NaiveTimers implements Subject {
  constructor(private readonly clock: TimerClock) {}
  arm(slot: TimerSlot, ms: number): void {
    this.clock.setTimeout(() => slot.owner._timerElapsed(), ms);
  }
  disarm(): void {}
}

type Op =
  | { kind: 'arm'; slot: number; ms: number }
  | { kind: 'disarm'; slot: number }
  | { kind: 'advance'; ms: number }
  /** From now on the slot re-arms itself with this duration each time it elapses (a heartbeat). */
  | { kind: 'repeat'; slot: number; ms: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('arm' as const), slot: fc.nat(SLOTS - 1), ms: fc.constantFrom(...DURATIONS) }),
  fc.record({ kind: fc.constant('disarm' as const), slot: fc.nat(SLOTS - 1) }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant('repeat' as const), slot: fc.nat(SLOTS - 1), ms: fc.constantFrom(...DURATIONS) })
);

/**
 * Run the ops and check every elapse against what was armed.
 *
 * @returns {string | undefined} The first violation, in words
 */
function violation(make: (clock: CountingClock) => Subject, ops: Op[]): string | undefined {
  const clock = new CountingClock();
  const timers = make(clock);
  /** Per slot: when its current arm is due, or undefined when nothing is armed. */
  const due: Array<number | undefined> = Array(SLOTS).fill(undefined);
  const repeat: Array<number | undefined> = Array(SLOTS).fill(undefined);
  let problem: string | undefined;
  const slots = Array.from({ length: SLOTS }, (_, i) => {
    const owner: TimerOwner = {
      _timerElapsed: () => {
        const expected = due[i];
        if (expected === undefined) problem ??= `slot ${i} elapsed at ${clock.now()} with nothing armed`;
        else if (expected !== clock.now()) problem ??= `slot ${i} elapsed at ${clock.now()}, due at ${expected}`;
        due[i] = undefined;
        const ms = repeat[i];
        if (ms !== undefined) arm(i, ms);
      }
    };
    return new TimerSlot(owner);
  });
  const arm = (i: number, ms: number): void => {
    due[i] = clock.now() + ms;
    timers.arm(slots[i]!, ms);
  };
  const advance = (ms: number): void => {
    for (let step = 0; step < ms && problem === undefined; step++) clock.set(clock.now() + 1);
  };
  for (const o of ops) {
    if (o.kind === 'arm') arm(o.slot, o.ms);
    else if (o.kind === 'repeat') {
      repeat[o.slot] = o.ms;
      arm(o.slot, o.ms);
    } else if (o.kind === 'disarm') {
      repeat[o.slot] = undefined;
      due[o.slot] = undefined;
      timers.disarm(slots[o.slot]!);
    } else advance(o.ms);
    if (problem !== undefined) return problem;
  }
  // Heartbeats stop; everything still armed must elapse, then nothing may be left on the clock.
  repeat.fill(undefined);
  advance(Math.max(...DURATIONS) + 1);
  if (problem !== undefined) return problem;
  const lost = due.flatMap((d, i) => (d === undefined ? [] : [`slot ${i} due at ${d}`]));
  if (lost.length > 0) return `never elapsed: ${lost.join(', ')} (now ${clock.now()})`;
  if (clock.pending !== 0) return `${clock.pending} clock timers left with nothing armed`;
  return undefined;
}

function check(make: (clock: CountingClock) => Subject): { failed: boolean; counterexample?: string } {
  const result = fc.check(
    fc.property(fc.array(op, { maxLength: 40 }), (ops) => violation(make, ops) === undefined),
    { seed: SEED, numRuns: 300 }
  );
  const example = result.counterexample?.[0];
  return { failed: result.failed, counterexample: example ? violation(make, example) : undefined };
}

describe('TimerLists', () => {
  it('elapses each arm exactly when due and once, never a replaced or disarmed one, and leaves no clock timer (fast-check)', () => {
    console.log(`timer-lists.test.ts: fast-check seed ${SEED} (replay with FC_SEED=${SEED})`);
    const outcome = check((clock) => new TimerLists(clock));
    expect(outcome.counterexample).toBeUndefined();
    expect(outcome.failed).toBe(false);
  });

  it('the naive variant, a clock timer per arm never cleared, fails the same property', () => {
    const outcome = check((clock) => new NaiveTimers(clock));
    console.log(`naive timers: failed=${outcome.failed}: ${outcome.counterexample ?? ''}`);
    expect(outcome.failed).toBe(true);
  });

  it('keeps one clock timer per duration however many slots are armed, and sets none per arm', () => {
    const clock = new CountingClock();
    const timers = new TimerLists(clock);
    let elapsed = 0;
    const slots = Array.from({ length: 100 }, () => new TimerSlot({ _timerElapsed: () => elapsed++ }));
    slots.forEach((slot, i) => timers.arm(slot, DURATIONS[i % DURATIONS.length]!));
    expect(timers.size).toBe(100);
    expect(clock.pending).toBe(DURATIONS.length);
    for (const slot of slots) timers.disarm(slot);
    expect(timers.size).toBe(0);
    // An accepted connection arms and disarms its handshake timer in one step: no clock timer is set or cleared.
    const setTimeout = vi.spyOn(clock, 'setTimeout');
    const clearTimeout = vi.spyOn(clock, 'clearTimeout');
    for (const slot of slots) {
      timers.arm(slot, DURATIONS[0]);
      timers.disarm(slot);
    }
    expect(setTimeout).not.toHaveBeenCalled();
    expect(clearTimeout).not.toHaveBeenCalled();
    // The lists' timers lapse: none is left, and nothing elapsed.
    clock.increment(Math.max(...DURATIONS));
    expect(clock.pending).toBe(0);
    expect(elapsed).toBe(0);
  });

  it("elapses on time under a test's fake timers, which move setTimeout's time and not performance.now()", () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      // The process's own clock: Node's timers (faked here) and the real performance.now().
      const timers = new TimerLists();
      let elapsed = 0;
      const slot = new TimerSlot({ _timerElapsed: () => elapsed++ });
      timers.arm(slot, 5_000);
      vi.advanceTimersByTime(4_999);
      expect(elapsed).toBe(0);
      vi.advanceTimersByTime(1);
      expect(elapsed).toBe(1);
      // Armed again from inside nothing: a heartbeat's next interval.
      timers.arm(slot, 5_000);
      vi.advanceTimersByTime(5_000);
      expect(elapsed).toBe(2);
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it.each([2 ** 31, 3e9, Infinity])('does not elapse a timer of %d ms early, though Node fires a delay over 2^31 - 1 ms after 1 ms (#25)', (ms) => {
    const clock = new CountingClock();
    const timers = new TimerLists(clock);
    let elapsed = 0;
    const slot = new TimerSlot({ _timerElapsed: () => elapsed++ });
    const setTimeout = vi.spyOn(clock, 'setTimeout');
    timers.arm(slot, ms);
    // No clock timer longer than Node keeps: the due time is reached in steps.
    expect(setTimeout.mock.calls.map(([, delay]) => delay)).toEqual([2 ** 31 - 1]);
    clock.increment(2 ** 31 - 1);
    expect(elapsed).toBe(0);
    expect(slot.armed).toBe(true);
    if (ms !== Infinity) {
      clock.increment(ms - (2 ** 31 - 1));
      expect(elapsed).toBe(1);
    }
    timers.disarm(slot);
  });

  it('treats a duration of 0 as off: arming with it only disarms', () => {
    const clock = new CountingClock();
    const timers = new TimerLists(clock);
    let elapsed = 0;
    const slot = new TimerSlot({ _timerElapsed: () => elapsed++ });
    timers.arm(slot, 10);
    timers.arm(slot, 0);
    expect(slot.armed).toBe(false);
    clock.increment(100);
    expect(elapsed).toBe(0);
    expect(clock.pending).toBe(0);
  });
});
