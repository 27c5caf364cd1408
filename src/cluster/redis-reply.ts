/**
 * Reading Redis replies whatever shape the client gives them, and running
 * Lua scripts by their SHA: what the store, the session records and
 * presence share.
 */
import { createHash } from 'node:crypto';
import type { RedisCommander } from './redis-store.js';

/** A Redis reply as text (replies come as strings or, binary-safe, as Buffers). */
export function text(value: unknown): string {
  return Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
}

/**
 * An HGETALL reply as a Map, whichever shape the client gives it (a flat
 * array in RESP2, a map or an object in RESP3).
 */
export function hashReply(reply: unknown): Map<string, string> {
  const record = new Map<string, string>();
  if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) record.set(text(reply[i]), text(reply[i + 1]));
  } else if (reply instanceof Map) {
    for (const [key, value] of reply) record.set(text(key), text(value));
  } else if (typeof reply === 'object' && reply !== null) {
    for (const [key, value] of Object.entries(reply)) record.set(key, text(value));
  }
  return record;
}

/**
 * Runs the scripts by their SHA. A server that does not know one yet (a
 * restart, a failover, another shard of a Redis Cluster) is sent the
 * source with EVAL, which also caches it there: on a cluster a separate
 * SCRIPT LOAD could reach another shard than the keys' own.
 */
export class Scripts<S extends Readonly<Record<string, string>>> {
  readonly #redis: RedisCommander;
  readonly #sources: S;
  readonly #shas = new Map<keyof S, string>();

  constructor(redis: RedisCommander, sources: S) {
    this.#redis = redis;
    this.#sources = sources;
    for (const [name, source] of Object.entries(sources)) this.#shas.set(name, createHash('sha1').update(source).digest('hex'));
  }

  async run<T>(name: keyof S & string, keys: string[], args: Array<string | Buffer>, options?: object): Promise<T> {
    const tail = [String(keys.length), ...keys, ...args];
    try {
      return await this.#redis.sendCommand<T>(['EVALSHA', this.#shas.get(name)!, ...tail], options);
    } catch (error) {
      if (!String((error as Error).message).startsWith('NOSCRIPT')) throw error;
    }
    return this.#redis.sendCommand<T>(['EVAL', this.#sources[name]!, ...tail], options);
  }
}

/**
 * Lua that sets `replid` to the server's replication id, read where the
 * script runs (a promotion or a restart changes it): what any record that
 * must not silently continue across a lossy failover compares with.
 */
// Shared by the topic scripts (redis-store.ts) and the session records: kept here, apart from both, so neither
// module reads it from the other while the two load each other.
export const REPLICATION_ID = `local replid = string.match(redis.call('INFO', 'replication'), 'master_replid:(%w+)')
if not replid then return redis.error_reply('ERR ws-lifecycle: INFO replication has no master_replid, so a failover cannot be told from a whole history') end
`;
