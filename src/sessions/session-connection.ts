/**
 * What the hub knows of one session connection (#20): where it is in the
 * hello (`admitted`: waiting for it, `greeting`: the shared store is asked
 * about its token, `joined`), its session and client instance, its
 * subscriptions, and how much of what it sent is still being checked.
 *
 * Inbound frames are bounded per connection, never with memory: past
 * `maxInFlight` sends being checked against the shared store, or past
 * `maxFramesPerSecond`, the hub stops reading from the socket until the
 * checks are done or the second is over (what ws had already read waits
 * here, at most one read's worth). TCP then slows the client down;
 * nothing it sent is dropped, and nothing piles up here.
 */
import type { Connection } from '../core/connection.js';
import { RateWindow } from '../core/rate-window.js';
import type { Session } from './session-registry.js';
import type { Subscription } from './subscription.js';

export type HelloPhase = 'admitted' | 'greeting' | 'joined';

/** Why reading is paused (bits for `Connection._pauseReading`). */
const PAUSED_IN_FLIGHT = 1 << 8;
const PAUSED_RATE = 1 << 9;
const PAUSED_GREETING = 1 << 10;

/** A frame as it arrived. */
export interface RawFrame {
  data: string | Buffer;
  isBinary: boolean;
}

export class SessionConnection {
  readonly connection: Connection;
  phase: HelloPhase = 'admitted';
  session: Session | undefined;
  /** The client instance its sends are numbered by: `hello.client`, or one of its own when the hello had none. */
  client = '';
  readonly subscriptions = new Map<string, Subscription>();
  /** The highest send id seen on this connection: ids rise on a connection (docs/protocol.md 3.3). */
  lastSendId = 0;
  /** Topics it holds while it has no session (its user's, from the upgrade on). */
  held: string[] = [];
  helloTimer: NodeJS.Timeout | undefined;
  /** Frames that came after the hello while it was being answered: handled after the welcome, in order. */
  #early: RawFrame[] = [];
  #inFlight = 0;
  #rate: RateWindow | undefined;
  #rateTimer: NodeJS.Timeout | undefined;
  /** Frames past the second's limit, waiting for the next second. */
  #held: RawFrame[] = [];

  constructor(connection: Connection) {
    this.connection = connection;
  }

  /**
   * Whether a frame may be handled now, against `limit` frames per second.
   * Past it the frame waits, reading pauses, and once the second is over
   * what waited is handed to `replay`, in order, to be counted against the
   * next second. Pausing alone is not enough: ws still hands over every
   * frame of the read it is in (a read can hold thousands of small frames).
   */
  admit(frame: RawFrame, limit: number, now: number, replay: (frames: RawFrame[]) => void): boolean {
    if (limit === 0) return true;
    // Frames already waiting go first: order is kept.
    if (this.#held.length > 0) return this.#hold(frame);
    const rate = (this.#rate ??= new RateWindow());
    if (rate.admit(limit, now)) return true;
    this.#hold(frame);
    this.connection._pauseReading(PAUSED_RATE);
    this.#rateTimer = setTimeout(() => {
      this.#rateTimer = undefined;
      const held = this.#held;
      this.#held = [];
      this.connection._resumeReading(PAUSED_RATE);
      replay(held);
    }, rate.resetsIn(now));
    this.#rateTimer.unref();
    return false;
  }

  #hold(frame: RawFrame): false {
    this.#held.push(frame);
    return false;
  }

  /** A send starts being checked; at `limit` reading pauses. */
  checking(limit: number): void {
    if (++this.#inFlight >= limit) this.connection._pauseReading(PAUSED_IN_FLIGHT);
  }

  /** A check is done; at half the limit reading resumes. */
  checked(limit: number): void {
    if (--this.#inFlight <= limit >> 1) this.connection._resumeReading(PAUSED_IN_FLIGHT);
  }

  /**
   * The hello is being answered (the shared store is asked about its
   * token): stop reading, and keep what already arrived for after the
   * welcome. A client may send right after its hello (docs/protocol.md 1.4).
   */
  greet(): void {
    this.phase = 'greeting';
    this.connection._pauseReading(PAUSED_GREETING);
  }

  /** A frame that came while greeting; false past `limit` of them (what ws had read before reading paused). */
  keep(frame: RawFrame, limit: number): boolean {
    if (this.#early.length >= limit) return false;
    this.#early.push(frame);
    return true;
  }

  /** The hello is answered: reading resumes, and what was kept is handed back to be handled in order. */
  welcomed(): RawFrame[] {
    const early = this.#early;
    this.#early = [];
    this.connection._resumeReading(PAUSED_GREETING);
    return early;
  }

  /** The connection closed: nothing of it waits any more. */
  close(): void {
    this.#early = [];
    this.#held = [];
    clearTimeout(this.helloTimer);
    clearTimeout(this.#rateTimer);
    for (const subscription of this.subscriptions.values()) subscription.end();
    this.subscriptions.clear();
  }
}
