/**
 * One topic as this process delivers it (#12). Messages reach a feed from
 * this process's own appends and, in a cluster, from other nodes through
 * the broker: out of order between the two paths, with gaps where the
 * broker was cut off. The feed hands them to its subscribers in offset
 * order, each once, fills gaps from the store, and tells its subscribers
 * when history was lost (a new epoch, a trimmed gap) instead of skipping
 * ahead in silence.
 */
import type { SendReport, SendResult } from '../core/send-result.js';
import { countRejected, emptyReport, refusedFor } from '../core/send-result.js';
import type { TopicMessage, TopicPosition, TopicRead } from './topic-store.js';

/** What a feed gives its subscribers, in order. */
export type FeedEvent =
  | { kind: 'message'; message: TopicMessage }
  /** The stream lost history: it continues after `offset` of `epoch`. */
  | { kind: 'lost'; reason: 'epoch_changed' | 'trimmed'; epoch: string; offset: number };

/** A subscriber writes or keeps the event; it returns the write's result when it wrote one. */
export type FeedSubscriber = (event: FeedEvent) => Promise<SendResult> | undefined;

/** What a feed reads from the store. */
export interface FeedSource {
  position(topic: string): TopicPosition | Promise<TopicPosition>;
  readAfter(topic: string, epoch: string, offset: number): TopicRead | Promise<TopicRead>;
}

interface Waiting {
  message: TopicMessage;
  /** Who waits for the report of this process's writes (this process's own publish); none for the broker's copy. */
  settle: ((report: SendReport | Promise<SendReport>) => void) | undefined;
}

/** At most this many messages wait for a gap to be filled; past it the gap is given up and told. */
const MAX_AHEAD = 10_000;
/** A read that failed (the store unreachable) is tried again after this, doubling up to the max. */
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5_000;

export class TopicFeed {
  readonly topic: string;
  readonly #source: FeedSource;
  readonly #subscribers = new Map<object, FeedSubscriber>();
  /** Unknown until the first position read answers. */
  #epoch: string | undefined;
  /** The newest offset delivered. */
  #offset = 0;
  /** Epochs this feed has left: a late message of one is stale, not a new epoch. */
  readonly #retired = new Set<string>();
  /** Messages that arrived before their turn, by offset (or before the position was known). */
  readonly #ahead = new Map<number, Waiting>();
  #early: Waiting[] = [];
  #filling = false;
  #closed = false;
  /** After a failed read: when to try again (doubling while the store stays unreachable). */
  #retryMs = RETRY_MIN_MS;
  #retry: NodeJS.Timeout | undefined;
  /** Resolves once the feed knows where the topic stands. */
  #ready: Promise<void>;
  /**
   * Resolves with the first position read, before anything that arrived
   * meanwhile is delivered. Made only when asked before that read answers:
   * a promise and its resolver are about 170 B of every feed's heap.
   */
  #firstPosition: Promise<TopicPosition> | undefined;
  #positioned: ((position: TopicPosition) => void) | undefined;

  constructor(topic: string, source: FeedSource) {
    this.topic = topic;
    this.#source = source;
    this.#ready = this.#init();
  }

  /**
   * Where the topic stands now: at once when the feed knows, else where the
   * store said it stood when the feed first asked (a room's membership
   * begins there, before any message that arrived while it asked).
   */
  positionNow(): TopicPosition | Promise<TopicPosition> {
    return this.position ?? (this.#firstPosition ??= new Promise((resolve) => {
      this.#positioned = resolve;
    }));
  }

  /** Where the feed stands: the epoch and the newest offset it delivered (undefined before it knows). */
  get position(): TopicPosition | undefined {
    return this.#epoch === undefined ? undefined : { epoch: this.#epoch, offset: this.#offset };
  }

  /** Resolves once the position is known (it may never be, while the store is unreachable). */
  get ready(): Promise<void> {
    return this.#ready;
  }

  get size(): number {
    return this.#subscribers.size;
  }

  subscribe(key: object, subscriber: FeedSubscriber): void {
    this.#subscribers.set(key, subscriber);
  }

  unsubscribe(key: object): void {
    this.#subscribers.delete(key);
  }

  has(key: object): boolean {
    return this.#subscribers.has(key);
  }

  /**
   * A message of this topic, from any path. Resolves with the report of
   * this process's writes once it is delivered (empty for a duplicate).
   */
  accept(message: TopicMessage): Promise<SendReport> {
    if (this.#closed) return Promise.resolve(emptyReport());
    return new Promise((settle) => this.#arrive({ message, settle }));
  }

  /** A message from the broker: like `accept`, with no report to wait for (no promise per message and node). */
  offer(message: TopicMessage): void {
    if (!this.#closed) this.#arrive({ message, settle: undefined });
  }

  #arrive(waiting: Waiting): void {
    if (this.#epoch === undefined) this.#early.push(waiting);
    else this.#take(waiting);
  }

  /**
   * The broker may have missed messages (it was cut off, or the store
   * restarted): read what came after the newest delivered offset.
   */
  resync(): void {
    if (this.#closed) return;
    if (this.#epoch === undefined) {
      this.#ready = this.#init();
      return;
    }
    void this.#fill();
  }

  /** Nobody here holds the topic any more. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#retry);
    this.#subscribers.clear();
    for (const waiting of [...this.#early, ...this.#ahead.values()]) waiting.settle?.(emptyReport());
    this.#early = [];
    this.#ahead.clear();
  }

  async #init(): Promise<void> {
    let position: TopicPosition;
    try {
      position = await this.#source.position(this.topic);
    } catch {
      // The store is unreachable: tried again later; what arrives meanwhile waits.
      this.#retryLater();
      return;
    }
    this.#retryMs = RETRY_MIN_MS;
    if (this.#closed || this.#epoch !== undefined) return;
    this.#positioned?.(position);
    this.#positioned = this.#firstPosition = undefined;
    this.#epoch = position.epoch;
    this.#offset = position.offset;
    const early = this.#early;
    this.#early = [];
    for (const waiting of early) this.#take(waiting);
  }

  #take(waiting: Waiting): void {
    const { message } = waiting;
    if (message.epoch !== this.#epoch) {
      if (this.#retired.has(message.epoch)) return void waiting.settle?.(emptyReport());
      // History was lost (the store restarted or forgot the topic): say so, then follow the new epoch.
      this.#switchEpoch(message.epoch);
    }
    if (message.offset <= this.#offset) return void waiting.settle?.(emptyReport());
    if (message.offset === this.#offset + 1) {
      this.#settle(waiting, message);
      this.#drainAhead();
      return;
    }
    if (!this.#ahead.has(message.offset)) this.#ahead.set(message.offset, waiting);
    else waiting.settle?.(emptyReport());
    if (this.#ahead.size > MAX_AHEAD) this.#giveUpGap('trimmed');
    else void this.#fill();
  }

  #switchEpoch(epoch: string): void {
    if (this.#epoch !== undefined) this.#retired.add(this.#epoch);
    this.#epoch = epoch;
    this.#offset = 0;
    for (const waiting of this.#ahead.values()) waiting.settle?.(emptyReport());
    this.#ahead.clear();
    this.#deliver({ kind: 'lost', reason: 'epoch_changed', epoch, offset: 0 });
  }

  /** Deliver what waited and is now next in line. */
  #drainAhead(): void {
    for (let next = this.#ahead.get(this.#offset + 1); next !== undefined; next = this.#ahead.get(this.#offset + 1)) {
      this.#ahead.delete(next.message.offset);
      this.#settle(next, next.message);
    }
  }

  /** The gap before the first waiting message cannot be filled: tell it, and go on from there. */
  #giveUpGap(reason: 'trimmed'): void {
    const first = Math.min(...this.#ahead.keys());
    this.#offset = first - 1;
    this.#deliver({ kind: 'lost', reason, epoch: this.#epoch!, offset: this.#offset });
    this.#drainAhead();
  }

  /** Read the gap after the newest delivered offset from the store. */
  async #fill(): Promise<void> {
    if (this.#filling || this.#closed || this.#epoch === undefined) return;
    this.#filling = true;
    try {
      // Bounded: each pass delivers something or tells a loss, or stops.
      for (let pass = 0; pass < 8 && !this.#closed; pass++) {
        const epoch: string = this.#epoch;
        const read = await this.#source.readAfter(this.topic, epoch, this.#offset);
        this.#retryMs = RETRY_MIN_MS;
        if (this.#closed || epoch !== this.#epoch) return;
        if (read.recovered) {
          for (const entry of read.entries) {
            if (entry.offset === this.#offset + 1) {
              const waiting = this.#ahead.get(entry.offset);
              this.#ahead.delete(entry.offset);
              this.#settle(waiting, { topic: this.topic, epoch, offset: entry.offset, payload: entry.payload });
            }
          }
          this.#drainAhead();
          if (this.#ahead.size === 0 || read.entries.length === 0) {
            // Nothing newer in the store than what waits: the broker will bring the rest.
            if (this.#ahead.size > 0) this.#giveUpGap('trimmed');
            return;
          }
        } else if (read.reason === 'epoch_changed') {
          this.#switchEpoch(read.epoch);
        } else {
          // Trimmed (or the store is behind this feed): what is gone is told, never skipped in silence.
          if (this.#ahead.size > 0) this.#giveUpGap('trimmed');
          else {
            this.#offset = read.offset;
            this.#deliver({ kind: 'lost', reason: 'trimmed', epoch, offset: read.offset });
          }
          return;
        }
      }
    } catch {
      // The store is unreachable: tried again later (and on the next resync, when the broker is back).
      this.#retryLater();
    } finally {
      this.#filling = false;
    }
  }

  #retryLater(): void {
    if (this.#closed || this.#retry !== undefined) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.resync();
    }, this.#retryMs);
    this.#retry.unref();
    this.#retryMs = Math.min(RETRY_MAX_MS, this.#retryMs * 2);
  }

  /** Deliver the next message; the report goes to whoever waits for one. */
  #settle(waiting: Waiting | undefined, message: TopicMessage): void {
    this.#offset = message.offset;
    const event: FeedEvent = { kind: 'message', message };
    if (waiting?.settle === undefined) this.#deliver(event, false);
    else waiting.settle(this.#deliver(event, true));
  }

  /** Hand the event to every subscriber; with `report`, the report of the writes made settles with them. */
  #deliver(event: FeedEvent, report: true): Promise<SendReport>;
  #deliver(event: FeedEvent, report?: false): void;
  #deliver(event: FeedEvent, report = false): Promise<SendReport> | void {
    if (!report) {
      for (const subscriber of this.#subscribers.values()) void subscriber(event);
      return;
    }
    // Counted as the writes are made: a frame written or queued is sent, and a connection that never reads it
    // catches up from the store when it resumes. Waiting for each write held the publisher until the heartbeat
    // ended a tab that had stopped reading (a minute at the defaults), and any visitor's tab follows `broadcast`.
    const counted = emptyReport();
    for (const subscriber of this.#subscribers.values()) {
      const write = subscriber(event);
      if (write === undefined) continue;
      const reason = refusedFor(write);
      if (reason === undefined) counted.sent++;
      else countRejected(counted, reason);
    }
    return Promise.resolve(counted);
  }
}
