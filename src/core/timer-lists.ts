/**
 * The timers of every connection's and session's chart, in one list per
 * duration (#14).
 *
 * The connections of a manager arm the same few durations (its
 * `handshakeTimeoutMs`, `heartbeatIntervalMs`, `closeTimeoutMs`; sessions
 * their `ttlMs`), so within one list a timer armed later is due later:
 * arming appends, disarming unlinks, both O(1) and without allocating, and
 * each list keeps one Node timer, for its head. A connection or session holds one {@link TimerSlot}
 * for its whole life, since its chart arms one timer at a time.
 *
 * XState's own `after` made, per arm, a scheduled-event record, a random id,
 * a key string and a Node timer, and scanned every scheduled event of the
 * actor's system when the actor stopped.
 */

import { MAX_TIMER_MS } from './validation.js';

/** What the lists read the time from and wait with; tests inject their own. */
export interface TimerClock {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Whoever holds a slot: told once when its timer elapses. */
export interface TimerOwner {
  _timerElapsed(): void;
}

const NODE_CLOCK: TimerClock = {
  now: () => performance.now(),
  // Unref'd: each connection's socket holds the process open while the connection lives; a timer must not.
  setTimeout: (callback, ms) => setTimeout(callback, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout)
};

/** One owner's place in a list: armed while `list` is set. */
export class TimerSlot {
  due = 0;
  prev: TimerSlot | undefined = undefined;
  next: TimerSlot | undefined = undefined;
  list: TimerList | undefined = undefined;

  constructor(readonly owner: TimerOwner) {}

  /** Whether a timer is armed. */
  get armed(): boolean {
    return this.list !== undefined;
  }
}

/** The armed slots of one duration, due first at the head. */
class TimerList {
  head: TimerSlot | undefined = undefined;
  tail: TimerSlot | undefined = undefined;
  handle: unknown = undefined;
  /** When the pending Node timer is due. */
  handleDue = 0;
  firing = false;

  constructor(readonly ms: number) {}
}

/** Arms and disarms slots; one instance serves every connection of the process. */
export class TimerLists {
  readonly #clock: TimerClock;
  readonly #lists = new Map<number, TimerList>();

  /** @param {TimerClock} [clock] Default: `performance.now()` and Node's timers */
  constructor(clock: TimerClock = NODE_CLOCK) {
    this.#clock = clock;
  }

  /**
   * Arm `slot` to elapse `ms` from now, disarming it first if it was armed.
   *
   * @param {TimerSlot} slot The owner's slot
   * @param {number} ms A positive duration; 0 only disarms
   */
  arm(slot: TimerSlot, ms: number): void {
    this.disarm(slot);
    if (ms <= 0) return;
    let list = this.#lists.get(ms);
    if (list === undefined) {
      list = new TimerList(ms);
      this.#lists.set(ms, list);
    }
    const now = this.#clock.now();
    slot.due = now + ms;
    slot.list = list;
    slot.prev = list.tail;
    if (list.tail === undefined) list.head = slot;
    else list.tail.next = slot;
    list.tail = slot;
    if (list.handle === undefined && !list.firing) this.#schedule(list, slot.due, now);
  }

  /** @param {TimerSlot} slot Disarmed if armed; nothing happens otherwise */
  disarm(slot: TimerSlot): void {
    const list = slot.list;
    if (list === undefined) return;
    if (slot.prev === undefined) list.head = slot.next;
    else slot.prev.next = slot.next;
    if (slot.next === undefined) list.tail = slot.prev;
    else slot.next.prev = slot.prev;
    slot.prev = slot.next = slot.list = undefined;
    // The list keeps its Node timer, set for the old head: it fires early once and is set again, or finds the list
    // empty and lapses. Clearing it here would cost a clear and a set per accepted connection, whose handshake timer
    // is armed and disarmed in one step (#14). The Node timer is unref'd, so a lapsing one holds no process open.
  }

  /** Armed slots over all lists (for tests). */
  get size(): number {
    let size = 0;
    for (const list of this.#lists.values()) for (let slot = list.head; slot !== undefined; slot = slot.next) size++;
    return size;
  }

  #schedule(list: TimerList, due: number, now: number): void {
    const wait = Math.max(1, Math.ceil(due - now));
    // Node fires a longer delay (Infinity too) after 1 ms: a due time that far off is reached in steps, each
    // claiming only its own end, so the slots are not taken for due.
    const step = wait > MAX_TIMER_MS ? MAX_TIMER_MS : wait;
    list.handleDue = step === wait ? due : now + step;
    list.handle = this.#clock.setTimeout(() => this.#fire(list), step);
  }

  /** The list's Node timer fired: every slot due now elapses, in the order armed. */
  #fire(list: TimerList): void {
    list.handle = undefined;
    list.firing = true;
    // The timer fired, so its due time has come, whatever the clock reads: Node's timers may fire a little before
    // performance.now() reaches it, and a test's fake timers move setTimeout's time without moving the clock.
    const now = Math.max(this.#clock.now(), list.handleDue);
    try {
      for (let slot = list.head; slot !== undefined && slot.due <= now; slot = list.head) {
        this.disarm(slot);
        // An owner re-arming here appends behind `now`, so the loop ends.
        slot.owner._timerElapsed();
      }
    } finally {
      list.firing = false;
      const head = list.head;
      // An empty list keeps no timer and stays in the map: managers arm the same few durations all their life.
      if (head !== undefined) this.#schedule(list, head.due, now);
    }
  }
}

/** The lists every connection and session of this process arms its timers on. */
export const processTimers = new TimerLists();
