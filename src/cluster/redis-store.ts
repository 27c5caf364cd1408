/**
 * Topic history in Redis (#12, #23), shared by every node of a cluster.
 * Per topic: a hash with the epoch, the last offset and the replication
 * id the epoch holds under, and a stream whose entry ids are the offsets
 * (`7-0` is offset 7), trimmed to `maxEntriesPerTopic` with an exact MAXLEN
 * so "trimmed" is told exactly. Each append is one Lua script: the next
 * offset, the stream entry, the expiry and the publish that fans it out,
 * so concurrent publishers on different nodes get distinct, gapless
 * offsets and every node hears them in offset order.
 *
 * An epoch holds only while its history is whole. A topic missing its
 * hash (Redis restarted empty, or it expired) gets a new one; so does a
 * topic whose hash was written under another replication history than
 * the server's now (`master_replid`, read inside the script): Redis gives
 * a primary a new replication id when a replica is promoted or the
 * primary restarts, and a promoted replica may lack the newest appends.
 * Continuing the old epoch there would number new messages with offsets
 * that tabs already hold for other messages; a new epoch makes every
 * cursor from before `epoch_changed` instead (docs/cluster.md).
 *
 * Keys and the channel carry the topic's partition tag (redis-slots.ts),
 * so on Redis Cluster one script touches one slot. Only types are
 * imported from `redis`: the client is the caller's.
 */
import { randomUUID } from 'node:crypto';
import type { SessionRecords, TopicEntry, TopicPosition, TopicRead, TopicStore } from '../sessions/topic-store.js';
import { REPLICATION_ID, Scripts, text } from './redis-reply.js';
import { RedisSessionRecords } from './redis-session-records.js';
import { partitionOf, partitionTag } from './redis-slots.js';

/** The part of a node-redis client the store and broker use (on Redis Cluster, one that routes each command by its key). */
export interface RedisCommander {
  sendCommand<T = unknown>(args: ReadonlyArray<string | Buffer>, options?: object): Promise<T>;
}

/** A commander over several servers (Redis Cluster): its primaries one by one, for what is per server (SCAN). */
export interface RedisServers {
  primaries(): Promise<RedisCommander[]>;
}

export interface RedisTopicStoreOptions {
  /** Prefix of every key and channel; nothing else is touched. Default `wsl`. No braces: they would change the keys' hash slots. */
  prefix?: string;
  /** Messages kept per topic (exact MAXLEN). Default 1,000. */
  maxEntriesPerTopic?: number;
  /** A topic nobody appends to for this long expires with its history. Default 120,000 (the session TTL's default). */
  topicTtlMs?: number;
  /** Fan out with `SPUBLISH` on the partition's shard channel (Redis Cluster) instead of `PUBLISH`. Default false; `RedisCluster.connect` sets it for a Redis Cluster. */
  shardedPubSub?: boolean;
}

export const REDIS_STORE_DEFAULTS = Object.freeze({ prefix: 'wsl', maxEntriesPerTopic: 1_000, topicTtlMs: 120_000 });

/** Binary-safe replies: payloads come back as Buffers. */
const BUFFERS = { typeMapping: { 36: Buffer } };


// A new epoch starts with an empty stream: what a lost hash, or a history another replication id wrote, leaves behind is not history any more.
const START_EPOCH = `${REPLICATION_ID}local meta = redis.call('HMGET', KEYS[1], 'e', 'r')
local epoch = meta[1]
if not epoch or meta[2] ~= replid then
  epoch = ARGV[1]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'e', epoch, 'o', 0, 'r', replid)
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
`;

const SCRIPTS = {
  /** KEYS: hash, stream. ARGV: new epoch, ttl, kind, payload, maxlen, channel, publish command, message head. */
  append: `${START_EPOCH}
local offset = redis.call('HINCRBY', KEYS[1], 'o', 1)
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[5], offset .. '-0', 'k', ARGV[3], 'p', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call(ARGV[7], ARGV[6], ARGV[8] .. epoch .. '\\n' .. offset .. '\\n' .. ARGV[3] .. ARGV[4])
return {epoch, offset}`,
  /** KEYS: hash, stream. ARGV: new epoch, ttl. */
  position: `${START_EPOCH}
return {epoch, tonumber(redis.call('HGET', KEYS[1], 'o'))}`,
  /**
   * KEYS: hash, stream. ARGV: new epoch, ttl, epoch, offset, count. A status, the epoch, where the stream continues
   * for the reader (its offset when ok), and the entries after it. A reader whose epoch is gone reads the new one
   * from its start; one whose next message was trimmed (or whose new epoch was) continues at the oldest message
   * the stream still holds: what is kept is never skipped.
   */
  read: `${START_EPOCH}
local last = tonumber(redis.call('HGET', KEYS[1], 'o'))
local status, offset = 'ok', tonumber(ARGV[4])
if epoch ~= ARGV[3] then
  status, offset = 'epoch_changed', 0
elseif offset > last then return {'future_offset', epoch, last} end
if offset == last then return {status, epoch, offset, {}} end
local oldest = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)[1]
local first = last + 1
if oldest then first = tonumber(string.match(oldest[1], '^(%d+)')) end
if offset + 1 < first then
  if status == 'ok' then status = 'trimmed' end
  offset = first - 1
end
return {status, epoch, offset, redis.call('XRANGE', KEYS[2], (offset + 1) .. '-0', '+', 'COUNT', ARGV[5])}`,
  /** KEYS: any key of the slot to ask. The replication id the epochs hold under there. */
  replicationId: `${REPLICATION_ID}return replid`
} as const;

/**
 * The head of a message on a partition channel: the topic, length first
 * (a topic may hold any character). A probe has an empty topic.
 */
export function messageHead(topic: string): string {
  return `${Buffer.byteLength(topic)}:${topic}`;
}

export class RedisTopicStore implements TopicStore {
  readonly prefix: string;
  readonly sessions: SessionRecords;
  readonly #redis: RedisCommander & Partial<RedisServers>;
  readonly #scripts: Scripts<typeof SCRIPTS>;
  readonly #maxEntries: number;
  readonly #ttlMs: number;
  readonly #publish: 'PUBLISH' | 'SPUBLISH';

  /**
   * @param {RedisCommander} redis A connected node-redis client (not one in subscriber mode), or one that routes by key
   * @param {RedisTopicStoreOptions} [options] Prefix, bounds, fan-out
   * @throws {RangeError} If a bound is not a positive integer or the prefix is empty or has a brace
   */
  constructor(redis: RedisCommander & Partial<RedisServers>, options: RedisTopicStoreOptions = {}) {
    this.#redis = redis;
    this.#scripts = new Scripts(redis, SCRIPTS);
    this.prefix = options.prefix ?? REDIS_STORE_DEFAULTS.prefix;
    this.#maxEntries = options.maxEntriesPerTopic ?? REDIS_STORE_DEFAULTS.maxEntriesPerTopic;
    this.#ttlMs = options.topicTtlMs ?? REDIS_STORE_DEFAULTS.topicTtlMs;
    this.#publish = options.shardedPubSub === true ? 'SPUBLISH' : 'PUBLISH';
    if (typeof this.prefix !== 'string' || this.prefix === '' || /[{}]/.test(this.prefix)) {
      throw new RangeError(`Invalid option prefix: ${JSON.stringify(this.prefix)} (expected a non-empty string without braces)`);
    }
    for (const [name, value] of [['maxEntriesPerTopic', this.#maxEntries], ['topicTtlMs', this.#ttlMs]] as const) {
      if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`Invalid option ${name}: ${String(value)} (expected an integer >= 1)`);
    }
    this.sessions = new RedisSessionRecords(redis, this.prefix);
  }

  /** The channel of a partition: every topic of the partition is published on it. */
  channel(partition: number): string {
    return `${this.prefix}:c:${partitionTag(partition)}`;
  }

  async append(topic: string, payload: string | Buffer): Promise<TopicPosition> {
    const kind = typeof payload === 'string' ? 's' : 'b';
    const [epoch, offset] = await this.#scripts.run<[unknown, number]>('append', this.#keys(topic), [
      randomUUID(),
      String(this.#ttlMs),
      kind,
      payload,
      String(this.#maxEntries),
      this.channel(partitionOf(topic)),
      this.#publish,
      messageHead(topic)
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
    const [status, current, continues] = [text(reply[0]), text(reply[1]), Number(reply[2])];
    const entries: TopicEntry[] = (reply[3] ?? []).map(([id, fields]) => {
      const kind = text(fields[1]);
      const payload = fields[3]!;
      return { offset: Number.parseInt(text(id), 10), payload: kind === 's' ? payload.toString('utf8') : payload, at: 0 };
    });
    if (status === 'ok') return { recovered: true, epoch: current, entries };
    const lost: TopicRead = { recovered: false, reason: status as 'epoch_changed' | 'trimmed' | 'future_offset', epoch: current, offset: continues };
    // A new epoch read from its start: its messages follow the recovery.
    if (reply[3] !== undefined) lost.entries = entries;
    return lost;
  }

  /** Kept for the other nodes: a topic's history expires by itself after `topicTtlMs` without appends. */
  forget(): void {}

  /**
   * The replication id epochs hold under on the server of `partition`
   * (default 0). Rejects with Redis's words where a script cannot read it
   * (INFO renamed or refused), which would leave failovers unfenced.
   */
  async replicationId(partition = 0): Promise<string> {
    return text(await this.#scripts.run('replicationId', [`${this.prefix}:t:${partitionTag(partition)}:`], []));
  }

  /** Delete every key under the prefix (tests, a fresh start), on every primary. */
  async clear(): Promise<void> {
    const servers = this.#redis.primaries === undefined ? [this.#redis] : await this.#redis.primaries();
    for (const server of servers) {
      let cursor = '0';
      do {
        const [next, keys] = await server.sendCommand<[unknown, unknown[]]>(['SCAN', cursor, 'MATCH', `${this.prefix}:*`, 'COUNT', '500']);
        cursor = text(next);
        // One key per DEL: on a cluster node the keys of one SCAN page span slots.
        await Promise.all(keys.map((key) => server.sendCommand(['DEL', text(key)])));
      } while (cursor !== '0');
    }
  }

  #keys(topic: string): string[] {
    // The partition's hash tag first: both keys and the channel in one slot, so the scripts run on Redis Cluster.
    const base = `${this.prefix}:t:${partitionTag(partitionOf(topic))}:${topic}`;
    return [`${base}:h`, `${base}:s`];
  }
}
