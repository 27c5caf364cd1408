/**
 * A topic store a server under test passes as `sessions.store` (#24), so
 * the conformance suite can break it on purpose through the control
 * endpoint (control.ts): make it unreachable and back, lose a topic's
 * history (a new epoch, as a store restarted empty would start), or trim
 * it (messages up to now no longer kept). It wraps the store the server
 * would use anyway and changes nothing until told to.
 *
 * A lost history is a view: the inner store keeps counting, and this one
 * shows the topic from then on in an epoch of its own, with offsets
 * counted from where the loss happened. So it works over any store of one
 * process, Redis's included, without being able to reset it.
 */
import type { SessionRecord, SessionRecords, TopicPosition, TopicRead, TopicStore } from '../../sessions/topic-store.js';
import type { SendVerdict } from '../../sessions/client-sends.js';

/** A topic whose history was lost here: shown in `epoch`, offsets counted after `base` of the inner `innerEpoch`. */
interface Loss {
  epoch: string;
  innerEpoch: string;
  base: number;
}

/** The error every call rejects with while the store is made unreachable. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  constructor(what: string) {
    super(`topic store made unreachable by the conformance control (${what})`);
  }
}

/** Run `then` on a value that may be a promise; a plain value stays plain (a store of this process answers at once). */
function map<T, U>(value: T | Promise<T>, then: (value: T) => U): U | Promise<U> {
  return value instanceof Promise ? value.then(then) : then(value);
}

export class ConformanceStore implements TopicStore {
  readonly inner: TopicStore;
  readonly sessions?: SessionRecords;
  readonly #losses = new Map<string, Loss>();
  /** Per topic, the offset (in the epoch shown) up to which history is trimmed. */
  readonly #trimmed = new Map<string, TopicPosition>();
  #down = false;
  #lossCount = 0;

  constructor(inner: TopicStore) {
    this.inner = inner;
    if (inner.sessions !== undefined) this.sessions = new UnreachableRecords(inner.sessions, () => this.#down);
  }

  /** Whether every call fails as an unreachable store's would. */
  get down(): boolean {
    return this.#down;
  }

  /** Make the store unreachable (`true`) or reachable again. */
  setDown(down: boolean): void {
    this.#down = down;
  }

  /**
   * The topic's history is lost: from now on it is shown in a new epoch,
   * at offset 0, as after a store that restarted empty.
   *
   * @returns {Promise<TopicPosition>} Where the topic stands in its new epoch
   */
  async lose(topic: string): Promise<TopicPosition> {
    const inner = await this.inner.position(topic);
    const epoch = `${inner.epoch}~lost${++this.#lossCount}`;
    this.#losses.set(topic, { epoch, innerEpoch: inner.epoch, base: inner.offset });
    this.#trimmed.delete(topic);
    return { epoch, offset: 0 };
  }

  /**
   * Every message of the topic up to now is no longer kept: a read from
   * before it is told `trimmed`.
   *
   * @returns {Promise<TopicPosition>} Where the topic stands (the newest message trimmed)
   */
  async trim(topic: string): Promise<TopicPosition> {
    const position = this.#outward(topic, await this.inner.position(topic));
    this.#trimmed.set(topic, position);
    return position;
  }

  append(topic: string, payload: string | Buffer): TopicPosition | Promise<TopicPosition> {
    if (this.#down) return Promise.reject(new StoreUnavailableError(`append to ${JSON.stringify(topic)}`));
    return map(this.inner.append(topic, payload), (position) => this.#outward(topic, position));
  }

  position(topic: string): TopicPosition | Promise<TopicPosition> {
    if (this.#down) return Promise.reject(new StoreUnavailableError(`position of ${JSON.stringify(topic)}`));
    return map(this.inner.position(topic), (position) => this.#outward(topic, position));
  }

  readAfter(topic: string, epoch: string, offset: number): TopicRead | Promise<TopicRead> {
    if (this.#down) return Promise.reject(new StoreUnavailableError(`read of ${JSON.stringify(topic)}`));
    const loss = this.#losses.get(topic);
    // Without a loss here the inner store decides; with one, a cursor of any other epoch is from before it: its history is gone,
    // and the new epoch is read from its start.
    if (loss !== undefined && epoch !== loss.epoch) return map(this.readAfter(topic, loss.epoch, 0), changed);
    const base = loss?.base ?? 0;
    const read = this.inner.readAfter(topic, loss?.innerEpoch ?? epoch, offset + base);
    return map(read, (inner) => this.#trim(topic, offset, this.#readOutward(topic, inner, base)));
  }

  forget(topic: string): void | Promise<void> {
    if (this.#down) return Promise.reject(new StoreUnavailableError(`forget of ${JSON.stringify(topic)}`));
    return this.inner.forget(topic);
  }

  /** A position of the inner store as this store shows it. */
  #outward(topic: string, position: TopicPosition): TopicPosition {
    const loss = this.#losses.get(topic);
    if (loss === undefined) return position;
    if (position.epoch !== loss.innerEpoch) {
      // The inner store changed epoch by itself: its own loss supersedes this one.
      this.#losses.delete(topic);
      return position;
    }
    return { epoch: loss.epoch, offset: position.offset - loss.base };
  }

  #readOutward(topic: string, read: TopicRead, base: number): TopicRead {
    if (read.recovered) {
      if (base === 0) return read;
      const { epoch } = this.#outward(topic, { epoch: read.epoch, offset: base });
      return { recovered: true, epoch, entries: read.entries.map((entry) => ({ ...entry, offset: entry.offset - base })) };
    }
    const here = this.#outward(topic, read);
    const lost: TopicRead = { recovered: false, reason: read.reason, epoch: here.epoch, offset: here.offset };
    // What follows at once (a new epoch of the inner store, whole) is shown as the rest is.
    const shift = read.offset - here.offset;
    if (read.entries !== undefined) lost.entries = read.entries.map((entry) => ({ ...entry, offset: entry.offset - shift }));
    return lost;
  }

  /** A read from at or before a trim is told `trimmed`, with where the stream continues. */
  #trim(topic: string, offset: number, read: TopicRead): TopicRead {
    const trimmed = this.#trimmed.get(topic);
    if (!read.recovered || trimmed === undefined || trimmed.epoch !== read.epoch || offset >= trimmed.offset) return read;
    const last = read.entries.at(-1)?.offset ?? trimmed.offset;
    return { recovered: false, reason: 'trimmed', epoch: read.epoch, offset: last };
  }
}

/** A read of the epoch that follows a lost one, from its start, as the lost epoch's reader is told it (as MemoryTopicStore tells it). */
function changed(read: TopicRead): TopicRead {
  if (read.recovered) return { recovered: false, reason: 'epoch_changed', epoch: read.epoch, offset: 0, entries: read.entries };
  return { ...read, reason: 'epoch_changed' };
}

/** Shared session records that fail while the store is made unreachable. */
class UnreachableRecords implements SessionRecords {
  readonly #inner: SessionRecords;
  readonly #down: () => boolean;

  constructor(inner: SessionRecords, down: () => boolean) {
    this.#inner = inner;
    this.#down = down;
  }

  #check(what: string): Promise<never> | undefined {
    return this.#down() ? Promise.reject(new StoreUnavailableError(what)) : undefined;
  }

  create(token: string, userId: string | undefined, ttlMs: number): Promise<void> {
    return this.#check('session create') ?? this.#inner.create(token, userId, ttlMs);
  }

  get(token: string): Promise<SessionRecord | undefined> {
    return this.#check('session read') ?? this.#inner.get(token);
  }

  touch(tokens: readonly string[], ttlMs: number): Promise<void> {
    return this.#check('session touch') ?? this.#inner.touch(tokens, ttlMs);
  }

  acceptSend(token: string, client: string, id: number, attempt: string): Promise<SendVerdict> {
    return this.#check('send check') ?? this.#inner.acceptSend(token, client, id, attempt);
  }

  delivered(token: string, client: string, id: number, attempt: string): Promise<void> {
    return this.#check('send handed over') ?? this.#inner.delivered(token, client, id, attempt);
  }
}
