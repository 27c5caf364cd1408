/**
 * What the hub knows of one session connection (#20): where it is in the
 * hello (`admitted`: waiting for it, `greeting`: the shared store is asked
 * about its token, `joined`; `refused` once it broke the protocol and is
 * being closed), its session and client instance, its
 * subscriptions, and how much of what it sent is still being checked.
 *
 * Inbound frames are bounded per connection, never with memory: past
 * `maxInFlight` sends being checked against the shared store, or past
 * `maxFramesPerSecond`, the hub stops reading from the socket until the
 * checks are done or the second is over (what ws had already read waits
 * here, at most one read's worth). TCP then slows the client down;
 * nothing it sent is dropped, and nothing piles up here.
 *
 * So are the frames the client makes the server write: every `ping` is
 * answered with a `pong` and every `send` with an `ack`, whatever the
 * send buffer holds (control frames are never refused for backpressure).
 * While the connection's send buffer is at `maxBufferedBytes` or more, it
 * is not read either, until the client has read enough to bring it below:
 * a client cannot make the server write more than it reads.
 */
import type { Connection } from '../core/connection.js';
import { RateWindow } from '../core/rate-window.js';
import type { Session } from './session-registry.js';
import type { Subscription } from './subscription.js';

export type HelloPhase = 'admitted' | 'greeting' | 'joined' | 'refused';

/** Why reading is paused (bits for `Connection._pauseReading`). */
const PAUSED_IN_FLIGHT = 1 << 8;
const PAUSED_RATE = 1 << 9;
const PAUSED_GREETING = 1 << 10;
const PAUSED_BACKLOG = 1 << 11;
/** How often a connection held for its send buffer looks whether the client read enough of it. */
const DRAIN_POLL_MS = 20;

/** What the frames a connection sends are admitted against. */
export interface InboundLimits {
  /** Frames per second; 0: no limit. */
  readonly framesPerSecond: number;
  /** At this many bytes in its send buffer, the connection is not read until it is below again. */
  readonly maxBufferedBytes: number;
}

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
  #drainTimer: NodeJS.Timeout | undefined;
  /** Why frames are held now: bits of {@link PAUSED_RATE} and {@link PAUSED_BACKLOG}; 0 lets them through. */
  #holding = 0;
  /** Frames that came while held (past the second's limit, or over a full send buffer), waiting their turn, in order. */
  #held: RawFrame[] = [];

  constructor(connection: Connection) {
    this.connection = connection;
  }

  /**
   * Whether a frame may be handled now: while the send buffer is at
   * `limits.maxBufferedBytes` or more, or past `limits.framesPerSecond`,
   * the frame waits and reading pauses; once the client read enough, and
   * the second is over, what waited is handed to `replay`, in order, to be
   * admitted again (counted against the next second). Pausing alone is not
   * enough: ws still hands over every frame of the read it is in (a read
   * can hold thousands of small frames).
   */
  admit(frame: RawFrame, limits: InboundLimits, now: number, replay: (frames: RawFrame[]) => void): boolean {
    // Frames already waiting go first: order is kept.
    if (this.#holding !== 0) return this.#hold(frame);
    const backlog = Math.max(1, limits.maxBufferedBytes);
    if (this.connection.socket.bufferedAmount >= backlog) {
      this.#startHolding(PAUSED_BACKLOG);
      this.#waitForDrain(backlog, replay);
      return this.#hold(frame);
    }
    const limit = limits.framesPerSecond;
    if (limit === 0) return true;
    const rate = (this.#rate ??= new RateWindow());
    if (rate.admit(limit, now)) return true;
    this.#startHolding(PAUSED_RATE);
    this.#rateTimer = setTimeout(() => {
      this.#rateTimer = undefined;
      this.#stopHolding(PAUSED_RATE, replay);
    }, rate.resetsIn(now));
    this.#rateTimer.unref();
    return this.#hold(frame);
  }

  #hold(frame: RawFrame): false {
    this.#held.push(frame);
    return false;
  }

  #startHolding(cause: number): void {
    this.#holding |= cause;
    this.connection._pauseReading(cause);
  }

  /** `cause` is over: reading resumes, and once nothing else holds them the frames that waited are replayed. */
  #stopHolding(cause: number, replay: (frames: RawFrame[]) => void): void {
    this.#holding &= ~cause;
    this.connection._resumeReading(cause);
    if (this.#holding !== 0) return;
    const held = this.#held;
    this.#held = [];
    replay(held);
  }

  /** Held for its send buffer: read again as soon as the client brought it below `limit` (the bytes it read are what it may ask for). */
  #waitForDrain(limit: number, replay: (frames: RawFrame[]) => void): void {
    this.#drainTimer = setTimeout(() => {
      this.#drainTimer = undefined;
      if (this.connection.socket.bufferedAmount >= limit) this.#waitForDrain(limit, replay);
      else this.#stopHolding(PAUSED_BACKLOG, replay);
    }, DRAIN_POLL_MS);
    this.#drainTimer.unref();
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

  /**
   * The connection broke the protocol and is being closed: nothing it sent
   * or sends until the close is handled, and an answer to its hello that
   * comes meanwhile does not join it.
   */
  refuse(): void {
    this.phase = 'refused';
    this.close();
  }

  /** The connection closed: nothing of it waits any more. */
  close(): void {
    this.#early = [];
    this.#held = [];
    clearTimeout(this.helloTimer);
    clearTimeout(this.#rateTimer);
    clearTimeout(this.#drainTimer);
    for (const subscription of this.subscriptions.values()) subscription.end();
    this.subscriptions.clear();
  }
}
