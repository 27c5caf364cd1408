/**
 * One session connection's place in one topic (#20): what it was given (the
 * high-water mark), what waits while it catches up (the buffer), and where
 * the user's membership began (the floor). It lives as long as the
 * connection follows the topic; every frame of the topic to the connection
 * is written here, so the promise is kept in one place:
 *
 * - nothing at or below the high-water mark of an epoch is written again,
 *   whatever the feed, the store or a replay hands over;
 * - nothing is skipped: a message the socket refuses (its send buffer is
 *   over `maxBufferedBytes`), a buffer grown too long, or a gap or an epoch
 *   change the feed did not announce, makes the subscription `behind`; once
 *   the socket has drained, it reads the store after the high-water mark
 *   and writes what the connection missed, or tells it (`recovered: false`)
 *   what the store no longer has.
 *
 * States: `buffering` (subscribed, not started: events wait), `reading`
 * (a read of the store is out: events wait), `live` (events are written as
 * they come), `behind` (waiting for the socket to drain: events are
 * dropped, the store has them), `ended`.
 */
import type { Connection } from '../core/connection.js';
import { refused, type SendResult } from '../core/send-result.js';
import { encodeFrame, messageFrame, type RecoveryFailure, type TopicCursor } from '../protocol/session-protocol.js';
import type { FeedEvent, TopicFeed } from './topic-feed.js';
import type { TopicMessage, TopicPosition, TopicRead } from './topic-store.js';

export type SubscriptionState = 'buffering' | 'reading' | 'live' | 'behind' | 'ended';

/** What a subscription needs from the hub. */
export interface SubscriptionHost {
  /** Reads the store (may answer with a promise; rejects while it is unreachable). */
  readAfter(topic: string, epoch: string, offset: number): TopicRead | Promise<TopicRead>;
  /** Below this many bytes queued on its socket, a connection that fell behind is written to again. */
  readonly drainedBytes: number;
  /** The store could not be read to catch the connection up: close it so the client resumes later. */
  unreachable(connection: Connection, topic: string, error: unknown): void;
  /** Whoever measures the sessions (`ws-lifecycle/metrics`); read once per subscription. */
  readonly probe?: SessionProbe | undefined;
}

/** What the sessions tell whoever measures them (#22): nothing is asked of it, and without one nothing is done. */
export interface SessionProbe {
  /** A connection was told where it stands in a topic: its history `recovered`, or why not (a `recovery` frame). */
  recovery(topic: string, result: 'recovered' | RecoveryFailure): void;
  /** A message published here was stored; its publish began at `startedAt` (`performance.now()`). */
  published(message: TopicMessage, startedAt: number): void;
  /** A message was written to a connection as it came (not from a replay). */
  delivered(message: TopicMessage): void;
}

/** Events kept at most while catching up; past it they are dropped and read from the store instead. */
export const MAX_BUFFERED_EVENTS = 1_000;
/** How often a connection that fell behind looks whether its socket drained. */
const DRAIN_POLL_MS = 20;
const BACKPRESSURE = refused('backpressure');

/** Each message's frame is built once, however many connections it goes to. */
const frames = new WeakMap<TopicMessage, string>();
function frameOf(message: TopicMessage): string {
  let frame = frames.get(message);
  if (frame === undefined) frames.set(message, (frame = messageFrame(message.topic, message.epoch, message.offset, message.payload)));
  return frame;
}

export class Subscription {
  readonly connection: Connection;
  readonly topic: string;
  readonly #feed: TopicFeed;
  readonly #host: SubscriptionHost;
  readonly #probe: SessionProbe | undefined;
  #state: SubscriptionState = 'buffering';
  /** The last position written to the connection (a message, or where a recovery said the stream continues). */
  #mark: TopicPosition | undefined;
  /** Where the user's membership of the topic began (rooms); nothing before it is written. A promise while the store has not said. */
  #floor: TopicPosition | Promise<TopicPosition> | undefined;
  #buffer: FeedEvent[] = [];
  /** The buffer overflowed while catching up: what it dropped is read from the store. */
  #overflowed = false;
  /** Where the topic stood before the first event buffered (a new session starts there). */
  #firstBuffered: TopicPosition | undefined;
  #drainTimer: NodeJS.Timeout | undefined;
  /** A frame the connection must get before the next message of the topic, refused by a full socket. */
  #owed: string | undefined;
  /** A replay (`recovered: true`) is being written: `replayed` is owed at its end. */
  #replaying = false;
  /** The feed calls this: one function per subscription, made once. */
  readonly #receive = (event: FeedEvent): Promise<SendResult> | undefined => this.offer(event);

  constructor(connection: Connection, feed: TopicFeed, host: SubscriptionHost) {
    this.connection = connection;
    this.topic = feed.topic;
    this.#feed = feed;
    this.#host = host;
    this.#probe = host.probe;
    feed.subscribe(this, this.#receive);
  }

  get state(): SubscriptionState {
    return this.#state;
  }

  /** The last position written to the connection, once started. */
  get mark(): TopicPosition | undefined {
    return this.#mark;
  }

  /**
   * Start: tell the connection where it stands in the topic and catch it up,
   * then go live. `cursor` is what the client said it has (a resume), or
   * `undefined` for a topic it starts now (`reason` says why); `floor` is
   * where the user's membership of a room began.
   */
  start(cursor: TopicCursor | undefined, reason: 'unknown_session' | 'new_topic', floor: TopicPosition | Promise<TopicPosition> | undefined): void {
    if (this.#state !== 'buffering') return;
    this.#state = 'reading';
    this.#floor = floor;
    this.#catchUp(cursor, reason).catch((error: unknown) => this.#unreachable(error));
  }

  /** A feed event: written now when live, kept while catching up, dropped when behind (the store has it). */
  offer(event: FeedEvent): Promise<SendResult> | undefined {
    switch (this.#state) {
      case 'live':
        return this.write(event);
      case 'buffering':
      case 'reading':
        this.#keep(event);
        return undefined;
      case 'behind':
        return BACKPRESSURE;
      case 'ended':
        return undefined;
    }
  }

  /** The connection no longer follows the topic (it closed, or the user left the room). */
  end(): void {
    if (this.#state === 'ended') return;
    this.#state = 'ended';
    this.#buffer = [];
    clearTimeout(this.#drainTimer);
    this.#feed.unsubscribe(this);
  }

  #keep(event: FeedEvent): void {
    if (this.#firstBuffered === undefined) {
      this.#firstBuffered = event.kind === 'message' ? { epoch: event.message.epoch, offset: event.message.offset - 1 } : undefined;
    }
    if (this.#overflowed) return;
    if (this.#buffer.length < MAX_BUFFERED_EVENTS) {
      this.#buffer.push(event);
      return;
    }
    this.#overflowed = true;
    this.#buffer = [];
  }

  async #catchUp(cursor: TopicCursor | undefined, reason: 'unknown_session' | 'new_topic'): Promise<void> {
    // A rejection (the store could not say where the membership began) closes the connection: the client resumes later.
    const floor = this.#floor instanceof Promise ? await this.#floor : this.#floor;
    if (cursor === undefined) {
      // A topic started now begins where it stood when the connection subscribed, and never below the membership.
      let start = this.#firstBuffered;
      if (start === undefined) {
        await this.#feed.ready;
        start = this.#feed.position;
        if (start === undefined) throw new Error(`the position of topic ${this.topic} is unknown: the store is unreachable`);
      }
      if (floor !== undefined && floor.epoch === start.epoch && floor.offset > start.offset) start = floor;
      if (this.#state !== 'reading') return;
      if (this.#tell(reason, start)) this.#goLive();
      return;
    }
    if (floor !== undefined && floor.epoch === cursor.epoch && cursor.offset < floor.offset) {
      if (this.#state !== 'reading') return;
      // The client asks for history from before the user's membership began: never given.
      if (this.#tell('membership', floor)) this.#refill();
      return;
    }
    const read = await this.#host.readAfter(this.topic, cursor.epoch, cursor.offset);
    if (this.#state !== 'reading') return;
    if (!read.recovered && floor !== undefined && floor.epoch === read.epoch && read.offset < floor.offset) {
      // A cursor of another epoch (made up, or kept from before the store lost the topic) gets the store's epoch from
      // where the store says it continues, which may be below the membership: never given either.
      if (this.#tell('membership', floor)) this.#refill();
      return;
    }
    if (!read.recovered) {
      // What the store holds after where the stream continues (a lost epoch's successor, whole) follows the recovery at once.
      if (this.#tell(read.reason, read) && this.#writeEntries(read)) this.#goLive();
      return;
    }
    this.#mark = { epoch: read.epoch, offset: cursor.offset };
    this.#probe?.recovery(this.topic, 'recovered');
    this.#replaying = true;
    this.#owed = encodeFrame({ type: 'recovery', topic: this.topic, recovered: true, epoch: read.epoch, offset: cursor.offset });
    if (this.#payOwed() && this.#writeEntries(read)) this.#goLive();
  }

  /** Write a read's entries after the mark; false when the socket refused one (the subscription is then behind). */
  #writeEntries({ epoch, entries = [] }: TopicRead): boolean {
    for (const entry of entries) {
      // The write's result is the connection's to report; a refusal shows as the state falling behind.
      void this.write({ kind: 'message', message: { topic: this.topic, epoch, offset: entry.offset, payload: entry.payload } });
      if (this.#state !== 'reading') return false;
    }
    return true;
  }

  /** Flush what waited, in order, without what the connection already has, and write live from now on. */
  #goLive(): void {
    if (this.#state !== 'reading') return;
    if (this.#replaying) {
      // The replay's end: what follows is live. Refused, it is owed, and written before anything else once the socket
      // drained: the catch-up that follows must not end the replay a second time.
      this.#replaying = false;
      this.#owed = encodeFrame({ type: 'replayed', topic: this.topic, offset: this.#mark!.offset });
      if (!this.#payOwed()) return;
    }
    if (this.#overflowed) {
      this.#overflowed = false;
      return this.#refill();
    }
    const buffer = this.#buffer;
    this.#buffer = [];
    this.#state = 'live';
    for (const event of buffer) {
      void this.write(event);
      if (this.#state !== 'live') return;
    }
  }

  /**
   * Write one event, keeping the high-water mark: a message at or below it
   * is skipped, the next one is written, anything else (a gap, an epoch the
   * connection was not told of) is read from the store instead.
   */
  protected write(event: FeedEvent): Promise<SendResult> | undefined {
    const mark = this.#mark;
    if (event.kind === 'lost') {
      // A loss behind what the connection has costs it nothing.
      if (mark !== undefined && event.epoch === mark.epoch && event.offset <= mark.offset) return undefined;
      this.#tell(event.reason, event);
      return undefined;
    }
    const { message } = event;
    if (mark !== undefined && message.epoch === mark.epoch) {
      if (message.offset <= mark.offset) return undefined;
      if (message.offset === mark.offset + 1) return this.#sendMessage(message);
    }
    // A gap, or a new epoch nobody announced: the store fills it or says why not.
    this.#fallBehind();
    return BACKPRESSURE;
  }

  #sendMessage(message: TopicMessage): Promise<SendResult> {
    const result = this.connection._sendText(frameOf(message));
    if (result === BACKPRESSURE) {
      this.#fallBehind();
      return result;
    }
    this.#mark = { epoch: message.epoch, offset: message.offset };
    // Written as it came, not replayed while catching up: the lag measures delivery, not how long a tab was away.
    if (this.#state === 'live') this.#probe?.delivered(message);
    return result;
  }

  /** `recovered: false`: the stream continues after `at`. False when the socket refused the frame (it is owed). */
  #tell(reason: RecoveryFailure, at: TopicPosition): boolean {
    const { epoch, offset } = at;
    this.#probe?.recovery(this.topic, reason);
    this.#mark = { epoch, offset };
    // A replay cut short by a loss is over: no `replayed` follows a `recovered: false`.
    this.#replaying = false;
    this.#owed = encodeFrame({ type: 'recovery', topic: this.topic, recovered: false, reason, epoch, offset });
    return this.#payOwed();
  }

  /**
   * Write the frame the connection must have before any more messages of
   * the topic (a recovery, the end of a replay). When the socket refuses it,
   * the subscription falls behind and writes it first once it drained.
   */
  #payOwed(): boolean {
    const owed = this.#owed;
    if (owed === undefined) return true;
    if (this.connection._sendText(owed) === BACKPRESSURE) {
      this.#fallBehind();
      return false;
    }
    this.#owed = undefined;
    return true;
  }

  /** The connection missed something: stop writing, wait for its socket to drain, then read what it missed. */
  #fallBehind(): void {
    if (this.#state === 'ended' || this.#state === 'behind') return;
    this.#state = 'behind';
    this.#buffer = [];
    this.#overflowed = false;
    this.#waitForDrain();
  }

  #waitForDrain(): void {
    const { connection } = this;
    if (this.#state !== 'behind' || connection.state !== 'connected') return;
    if (connection.socket.bufferedAmount < this.#host.drainedBytes) return this.#refill();
    this.#drainTimer = setTimeout(() => this.#waitForDrain(), DRAIN_POLL_MS);
    this.#drainTimer.unref();
  }

  /** Write what is owed, read the store after the mark and write what the connection missed, then go live. */
  #refill(): void {
    this.#state = 'reading';
    if (!this.#payOwed()) return;
    const mark = this.#mark!;
    Promise.resolve(this.#host.readAfter(this.topic, mark.epoch, mark.offset)).then(
      (read) => {
        if (this.#state !== 'reading') return;
        if ((read.recovered || this.#tell(read.reason, read)) && this.#writeEntries(read)) this.#goLive();
      },
      (error: unknown) => this.#unreachable(error)
    );
  }

  #unreachable(error: unknown): void {
    if (this.#state === 'ended') return;
    this.#host.unreachable(this.connection, this.topic, error);
  }
}
