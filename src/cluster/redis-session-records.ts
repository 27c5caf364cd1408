/**
 * Session records in Redis (#12), shared by every node of a cluster so a
 * session resumes on any of them: who the session belongs to and which
 * client message ids were delivered.
 */
import type { SessionRecord, SessionRecords } from '../sessions/topic-store.js';
import { Scripts, hashReply } from './redis-reply.js';
import type { RedisCommander } from './redis-store.js';

const SCRIPTS = {
  /** KEYS: session. ARGV: client id. 1 when new (recorded), 0 when a resend. */
  clientId: `local last = tonumber(redis.call('HGET', KEYS[1], 'c') or '0')
if tonumber(ARGV[1]) <= last then return 0 end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'c', ARGV[1]) end
return 1`
} as const;

export class RedisSessionRecords implements SessionRecords {
  readonly #redis: RedisCommander;
  readonly #prefix: string;
  readonly #scripts: Scripts<typeof SCRIPTS>;

  constructor(redis: RedisCommander, prefix: string) {
    this.#redis = redis;
    this.#prefix = prefix;
    this.#scripts = new Scripts(redis, SCRIPTS);
  }

  async create(id: string, userId: string | undefined, ttlMs: number): Promise<void> {
    const key = this.#key(id);
    await this.#redis.sendCommand(['HSET', key, 'c', '0', ...(userId === undefined ? [] : ['u', userId])]);
    await this.#redis.sendCommand(['PEXPIRE', key, String(ttlMs)]);
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    const record = hashReply(await this.#redis.sendCommand(['HGETALL', this.#key(id)]));
    if (record.size === 0) return undefined;
    return { userId: record.get('u'), lastClientId: Number(record.get('c') ?? 0) };
  }

  async touch(ids: readonly string[], ttlMs: number): Promise<void> {
    await Promise.all(ids.map((id) => this.#redis.sendCommand(['PEXPIRE', this.#key(id), String(ttlMs)])));
  }

  async acceptClientId(sessionId: string, id: number): Promise<boolean> {
    return Number(await this.#scripts.run('clientId', [this.#key(sessionId)], [String(id)])) === 1;
  }

  #key(id: string): string {
    return `${this.#prefix}:s:${id}`;
  }
}
