/**
 * Topic history and session records in Redis (#12), shared by every node
 * of a cluster. Per topic: a hash with the epoch and the last offset, and
 * a stream whose entry ids are the offsets (`7-0` is offset 7), trimmed to
 * `maxEntriesPerTopic` with an exact MAXLEN so "trimmed" is told exactly.
 * Each append is one Lua script: the next offset, the stream entry, the
 * expiry and the PUBLISH that fans it out, so concurrent publishers on
 * different nodes get distinct, gapless offsets and every node hears them
 * in offset order. A topic missing its hash (Redis restarted empty, or it
 * expired) gets a new epoch: a cursor from before is told `epoch_changed`.
 *
 * Only types are imported from `redis`: the client is the caller's.
 */
import { randomUUID } from 'node:crypto';
import type { SessionRecords, TopicEntry, TopicPosition, TopicRead, TopicStore } from '../sessions/topic-store.js';
import { Scripts, text } from './redis-reply.js';
import { RedisSessionRecords } from './redis-session-records.js';


/** The part of a node-redis client the store and broker use. */
export interface RedisCommander {
  sendCommand<T = unknown>(args: ReadonlyArray<string | Buffer>, options?: object): Promise<T>;
}

export interface RedisTopicStoreOptions {
  /** Prefix of every key and channel; nothing else is touched. Default `wsl`. */
  prefix?: string;
  /** Messages kept per topic (exact MAXLEN). Default 1,000. */
  maxEntriesPerTopic?: number;
  /** A topic nobody appends to for this long expires with its history. Default 120,000 (the session TTL's default). */
  topicTtlMs?: number;
}

export const REDIS_STORE_DEFAULTS = Object.freeze({ prefix: 'wsl', maxEntriesPerTopic: 1_000, topicTtlMs: 120_000 });

/** Binary-safe replies: payloads come back as Buffers. */
const BUFFERS = { typeMapping: { 36: Buffer } };

// A new epoch starts with an empty stream: what a lost hash leaves behind is not history any more.
const START_EPOCH = `
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'e', epoch, 'o', 0)
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
`;

const SCRIPTS = {
  /** KEYS: hash, stream. ARGV: new epoch, ttl, kind, payload, maxlen, channel. */
  append: `${START_EPOCH}
local offset = redis.call('HINCRBY', KEYS[1], 'o', 1)
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[5], offset .. '-0', 'k', ARGV[3], 'p', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('PUBLISH', ARGV[6], epoch .. '\\n' .. offset .. '\\n' .. ARGV[3] .. ARGV[4])
return {epoch, offset}`,
  /** KEYS: hash, stream. ARGV: new epoch, ttl. */
  position: `${START_EPOCH}
return {epoch, tonumber(redis.call('HGET', KEYS[1], 'o'))}`,
  /** KEYS: hash, stream. ARGV: new epoch, ttl, epoch, offset, count. */
  read: `local known = redis.call('HGET', KEYS[1], 'e')
${START_EPOCH}
local last = tonumber(redis.call('HGET', KEYS[1], 'o'))
if not known or epoch ~= ARGV[3] then return {'epoch_changed', epoch, last} end
local offset = tonumber(ARGV[4])
if offset > last then return {'future_offset', epoch, last} end
if offset == last then return {'ok', epoch, last, {}} end
local oldest = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)[1]
local first = last + 1
if oldest then first = tonumber(string.match(oldest[1], '^(%d+)')) end
if offset + 1 < first then return {'trimmed', epoch, last} end
return {'ok', epoch, last, redis.call('XRANGE', KEYS[2], (offset + 1) .. '-0', '+', 'COUNT', ARGV[5])}`
} as const;

export class RedisTopicStore implements TopicStore {
  readonly prefix: string;
  readonly sessions: SessionRecords;
  readonly #redis: RedisCommander;
  readonly #scripts: Scripts<typeof SCRIPTS>;
  readonly #maxEntries: number;
  readonly #ttlMs: number;

  /**
   * @param {RedisCommander} redis A connected node-redis client (not one in subscriber mode)
   * @param {RedisTopicStoreOptions} [options] Prefix and bounds
   * @throws {RangeError} If a bound is not a positive integer or the prefix is empty
   */
  constructor(redis: RedisCommander, options: RedisTopicStoreOptions = {}) {
    this.#redis = redis;
    this.#scripts = new Scripts(redis, SCRIPTS);
    this.prefix = options.prefix ?? REDIS_STORE_DEFAULTS.prefix;
    this.#maxEntries = options.maxEntriesPerTopic ?? REDIS_STORE_DEFAULTS.maxEntriesPerTopic;
    this.#ttlMs = options.topicTtlMs ?? REDIS_STORE_DEFAULTS.topicTtlMs;
    if (typeof this.prefix !== 'string' || this.prefix === '') throw new RangeError(`Invalid option prefix: ${JSON.stringify(this.prefix)} (expected a non-empty string)`);
    for (const [name, value] of [['maxEntriesPerTopic', this.#maxEntries], ['topicTtlMs', this.#ttlMs]] as const) {
      if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`Invalid option ${name}: ${String(value)} (expected an integer >= 1)`);
    }
    this.sessions = new RedisSessionRecords(redis, this.prefix);
  }

  /** The channel a topic's messages are published on. */
  channel(topic: string): string {
    return `${this.prefix}:c:${topic}`;
  }

  async append(topic: string, payload: string | Buffer): Promise<TopicPosition> {
    const kind = typeof payload === 'string' ? 's' : 'b';
    const [epoch, offset] = await this.#scripts.run<[unknown, number]>('append', this.#keys(topic), [
      randomUUID(),
      String(this.#ttlMs),
      kind,
      payload,
      String(this.#maxEntries),
      this.channel(topic)
    ]);
    return { epoch: text(epoch), offset: Number(offset) };
  }

  async position(topic: string): Promise<TopicPosition> {
    const [epoch, offset] = await this.#scripts.run<[unknown, number]>('position', this.#keys(topic), [randomUUID(), String(this.#ttlMs)]);
    return { epoch: text(epoch), offset: Number(offset) };
  }

  async readAfter(topic: string, epoch: string, offset: number): Promise<TopicRead> {
    const valid = Number.isSafeInteger(offset) && offset >= 0;
    const reply = await this.#scripts.run<[Buffer, Buffer, number, Array<[Buffer, Buffer[]]>?]>(
      'read',
      this.#keys(topic),
      [randomUUID(), String(this.#ttlMs), epoch, String(valid ? offset : Number.MAX_SAFE_INTEGER), String(this.#maxEntries)],
      BUFFERS
    );
    const [status, current, last] = [text(reply[0]), text(reply[1]), Number(reply[2])];
    if (status !== 'ok') return { recovered: false, reason: status as 'epoch_changed' | 'trimmed' | 'future_offset', epoch: current, offset: last };
    const entries: TopicEntry[] = (reply[3] ?? []).map(([id, fields]) => {
      const kind = text(fields[1]);
      const payload = fields[3]!;
      return { offset: Number.parseInt(text(id), 10), payload: kind === 's' ? payload.toString('utf8') : payload, at: 0 };
    });
    return { recovered: true, epoch: current, entries };
  }

  /** Kept for the other nodes: a topic's history expires by itself after `topicTtlMs` without appends. */
  forget(): void {}

  /** Delete every key under the prefix (tests, a fresh start). */
  async clear(): Promise<void> {
    let cursor = '0';
    do {
      const [next, keys] = await this.#redis.sendCommand<[unknown, unknown[]]>(['SCAN', cursor, 'MATCH', `${this.prefix}:*`, 'COUNT', '500']);
      cursor = text(next);
      if (keys.length > 0) await this.#redis.sendCommand(['DEL', ...keys.map(text)]);
    } while (cursor !== '0');
  }

  #keys(topic: string): string[] {
    // One hash tag per topic: both keys in one slot, so the scripts also run on Redis Cluster.
    return [`${this.prefix}:t:{${topic}}:h`, `${this.prefix}:t:{${topic}}:s`];
  }
}
