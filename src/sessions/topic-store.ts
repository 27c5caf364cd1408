/**
 * Topic history behind an interface (#11): every message published to a
 * topic gets the next offset of that topic (1, 2, 3..., no gaps), and each
 * topic has an epoch that changes whenever its history was lost, so a
 * client resuming from (epoch, offset) either gets every message after it
 * or is told it cannot. `MemoryTopicStore` is the embedded default; a
 * shared store (Redis) implements the same interface.
 */
import { newId } from '../core/ids.js';
import type { SendVerdict } from './client-sends.js';

/** One stored message. */
export interface TopicEntry {
  offset: number;
  /** The message as it goes on the wire. */
  payload: string | Buffer;
  /** When it was appended, in milliseconds since the epoch. */
  at: number;
}

/** One message of a topic as it travels: where it stands in the topic, and its payload. */
export interface TopicMessage {
  topic: string;
  epoch: string;
  offset: number;
  payload: string | Buffer;
}

/** Where a topic stands: its epoch and the offset of its newest message (0 before the first). */
export interface TopicPosition {
  epoch: string;
  offset: number;
}

/**
 * What reading after a position gives: every later message, in order, or
 * why the history cannot cover the gap, with where the stream continues
 * (and, for a reader whose epoch is gone, what the store holds from there).
 */
export type TopicRead =
  | { recovered: true; epoch: string; entries: TopicEntry[] }
  | {
    recovered: false;
    reason: 'epoch_changed' | 'trimmed' | 'future_offset';
    epoch: string;
    offset: number;
    /** The messages after `offset` that the store holds, in order: they follow the recovery at once. */
    entries?: TopicEntry[];
  };

/**
 * Where topic history lives. Every method may answer at once (the
 * in-memory store) or with a promise (a shared store such as Redis); the
 * hub awaits either. A shared store must answer one caller's calls in the
 * order they were made.
 */
export interface TopicStore {
  /** Append one message; its offset is the topic's last plus one. A rejection means the message was not stored. */
  append(topic: string, payload: string | Buffer): TopicPosition | Promise<TopicPosition>;
  /** The topic's position (a new epoch at offset 0 for a topic never seen). */
  position(topic: string): TopicPosition | Promise<TopicPosition>;
  /**
   * Every message after `offset` in `epoch`, or why not, with where the
   * stream continues and what the store holds from there (`entries`): when
   * `epoch` is gone (`epoch_changed`), from the start of the new epoch
   * (`offset` 0) while the store still holds its offset 1; when what follows
   * the cursor was trimmed (or the new epoch's start was), from the oldest
   * message still held. What is kept is never skipped.
   */
  readAfter(topic: string, epoch: string, offset: number): TopicRead | Promise<TopicRead>;
  /**
   * No session here can resume the topic any more. A store of this process
   * drops its history (its next message starts a new epoch, so a cursor
   * from before is told `epoch_changed`); a shared store may keep it for
   * other processes and let it expire.
   */
  forget(topic: string): void | Promise<void>;
  /** Shared session state, in a store that several processes use. */
  readonly sessions?: SessionRecords;
}

/** A session as every process of a cluster sees it (#12). */
export interface SessionRecord {
  userId: string | undefined;
}

/**
 * Session state shared by the processes of a cluster, so a session resumes
 * on any of them. A store of one process has none: its sessions live in
 * the hub. Records are keyed by the session token.
 */
export interface SessionRecords {
  /** Record a new session; it expires after `ttlMs` unless touched. One atomic step: a record never lacks its expiry. */
  create(token: string, userId: string | undefined, ttlMs: number): Promise<void>;
  get(token: string): Promise<SessionRecord | undefined>;
  /** Keep these sessions for another `ttlMs` (attached somewhere, or just detached). */
  touch(tokens: readonly string[], ttlMs: number): Promise<void>;
  /**
   * What to do with send `id` of client instance `client`, whichever process
   * gets it (docs/protocol.md section 3.3): `deliver` the next id (recorded
   * with `attempt`; the first id of an instance not known), acknowledge a
   * `resend`, refuse a `skip`. An id already recorded with the same
   * `attempt` is `deliver` again: the process that asked lost the answer (a
   * cut) and asks again, and must still deliver it. An id recorded by
   * another attempt that has not been reported {@link delivered} is
   * `pending` (ask again) until it is, or until that process is presumed
   * gone, when this attempt takes it. `lost`: the session has no record.
   */
  acceptSend(token: string, client: string, id: number, attempt: string): Promise<SendVerdict>;
  /** The message `attempt` recorded for `id` was handed to the application: a resend of it elsewhere is a `resend` now. */
  delivered(token: string, client: string, id: number, attempt: string): Promise<void>;
}

/** Bounds of a {@link MemoryTopicStore}; what exceeds one is trimmed oldest first. */
export interface MemoryTopicStoreOptions {
  /** Messages kept per topic. Default 1,000. */
  maxEntriesPerTopic?: number;
  /** Payload bytes kept per topic. Default 1 MiB. */
  maxBytesPerTopic?: number;
  /** Payload bytes kept over all topics. Default 64 MiB. */
  maxBytes?: number;
  /** How long a message is kept. Default 2 minutes. */
  maxAgeMs?: number;
  /**
   * Topics kept; past it the one appended to longest ago is forgotten, and a
   * resume from it is then told `epoch_changed`. Default 100,000.
   */
  maxTopics?: number;
  /** The clock, injected in tests. Default `Date.now`. */
  now?: () => number;
}

export const MEMORY_STORE_DEFAULTS = Object.freeze({
  maxEntriesPerTopic: 1_000,
  maxBytesPerTopic: 1024 * 1024,
  maxBytes: 64 * 1024 * 1024,
  maxAgeMs: 120_000,
  maxTopics: 100_000
});

interface TopicHistory {
  epoch: string;
  /** Offset of the newest message; 0 before the first. */
  last: number;
  entries: TopicEntry[];
  /** Index of the oldest kept entry in `entries` (trimmed ones are dropped in chunks). */
  head: number;
  bytes: number;
}

function sizeOf(payload: string | Buffer): number {
  return typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
}

/** Topic history in this process's memory, bounded per topic and in total. */
export class MemoryTopicStore implements TopicStore {
  readonly #topics = new Map<string, TopicHistory>();
  readonly #limits: Required<Omit<MemoryTopicStoreOptions, 'now'>>;
  readonly #now: () => number;
  #bytes = 0;

  /**
   * @param {MemoryTopicStoreOptions} [options] Bounds and clock
   * @throws {RangeError} If a bound is not a positive number
   */
  constructor(options: MemoryTopicStoreOptions = {}) {
    const limits = { ...MEMORY_STORE_DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([key, value]) => key !== 'now' && value !== undefined)) };
    for (const [name, value] of Object.entries(limits)) {
      if (typeof value !== 'number' || !(value > 0)) throw new RangeError(`Invalid option ${name}: ${String(value)} (expected a number > 0)`);
    }
    this.#limits = limits;
    this.#now = options.now ?? Date.now;
  }

  /** Payload bytes kept over all topics. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Topics with history. */
  get size(): number {
    return this.#topics.size;
  }

  append(topic: string, payload: string | Buffer): TopicPosition {
    const history = this.#history(topic);
    const entry: TopicEntry = { offset: ++history.last, payload, at: this.#now() };
    const bytes = sizeOf(payload);
    history.entries.push(entry);
    history.bytes += bytes;
    this.#bytes += bytes;
    this.#trim(history);
    // Over the total: the oldest messages of the topics appended to longest ago go first; never the newest.
    for (const other of this.#topics.values()) {
      if (this.#bytes <= this.#limits.maxBytes) break;
      if (other !== history) this.#dropOldest(other, Infinity);
    }
    while (this.#bytes > this.#limits.maxBytes && history.entries.length - history.head > 1) this.#dropOldest(history, 1);
    // The topic moves to the end: Map order is then least recently appended first.
    this.#topics.delete(topic);
    this.#topics.set(topic, history);
    return { epoch: history.epoch, offset: history.last };
  }

  position(topic: string): TopicPosition {
    const history = this.#history(topic);
    return { epoch: history.epoch, offset: history.last };
  }

  readAfter(topic: string, epoch: string, offset: number): TopicRead {
    const history = this.#history(topic);
    this.#trim(history);
    const here = { epoch: history.epoch, offset: history.last };
    const oldest = history.head < history.entries.length ? history.entries[history.head]!.offset : history.last + 1;
    // What is still held follows a loss at once: from the new epoch's start, or from the oldest message kept.
    const kept = { epoch: history.epoch, offset: oldest - 1, entries: history.entries.slice(history.head) };
    if (epoch !== history.epoch) return { recovered: false, reason: 'epoch_changed', ...kept };
    if (!Number.isInteger(offset) || offset < 0 || offset > history.last) return { recovered: false, reason: 'future_offset', ...here };
    // Messages after `offset` must all still be here: the first one needed is offset + 1.
    if (offset + 1 < oldest) return { recovered: false, reason: 'trimmed', ...kept };
    return { recovered: true, epoch: history.epoch, entries: history.entries.slice(history.head + (offset + 1 - oldest)) };
  }

  #history(topic: string): TopicHistory {
    let history = this.#topics.get(topic);
    if (history === undefined) {
      // A new epoch: whatever a client holds of a forgotten topic is told epoch_changed, never a silent gap.
      history = { epoch: newId(), last: 0, entries: [], head: 0, bytes: 0 };
      this.#topics.set(topic, history);
      if (this.#topics.size > this.#limits.maxTopics) this.forget(this.#topics.keys().next().value!);
    }
    return history;
  }

  forget(topic: string): void {
    const history = this.#topics.get(topic);
    if (history === undefined) return;
    this.#bytes -= history.bytes;
    this.#topics.delete(topic);
  }

  /** Drop what is over the topic's bounds or too old, oldest first; the newest message always stays. */
  #trim(history: TopicHistory): void {
    const { maxEntriesPerTopic, maxBytesPerTopic, maxAgeMs } = this.#limits;
    const oldestAllowed = this.#now() - maxAgeMs;
    while (history.entries.length - history.head > 1) {
      const oldest = history.entries[history.head]!;
      const kept = history.entries.length - history.head;
      if (kept <= maxEntriesPerTopic && history.bytes <= maxBytesPerTopic && oldest.at >= oldestAllowed) break;
      this.#dropOldest(history, 1);
    }
    this.#compact(history);
  }

  /** Drop up to `count` of a topic's oldest messages, keeping its newest. */
  #dropOldest(history: TopicHistory, count: number): void {
    for (let i = 0; i < count && history.entries.length - history.head > 1; i++) {
      const bytes = sizeOf(history.entries[history.head]!.payload);
      history.head++;
      history.bytes -= bytes;
      this.#bytes -= bytes;
    }
    this.#compact(history);
  }

  /** Release dropped entries in chunks, not one shift per message. */
  #compact(history: TopicHistory): void {
    if (history.head > 64 && history.head * 2 > history.entries.length) {
      history.entries = history.entries.slice(history.head);
      history.head = 0;
    }
  }
}
