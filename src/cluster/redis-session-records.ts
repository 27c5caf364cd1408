/**
 * Session records in Redis (#12, #20), shared by every node of a cluster
 * so a session resumes on any of them: who the session belongs to, and the
 * highest client message id delivered per client instance. One hash per
 * session, `<prefix>:s:<token>`: `u` the user, `v` a marker (an anonymous
 * session has no `u`), and per client instance `c:<client>` its highest id
 * delivered, `a:<client>` the attempt that recorded it, and `t:<client>`
 * when it was last heard of. Every command is
 * one key, so it runs on Redis Cluster as it is.
 */
import { MAX_CLIENTS_PER_SESSION, type SendVerdict } from '../sessions/client-sends.js';
import type { SessionRecord, SessionRecords } from '../sessions/topic-store.js';
import { Scripts, hashReply, text } from './redis-reply.js';
import type { RedisCommander } from './redis-store.js';

const SCRIPTS = {
  /** KEYS: session. ARGV: ttl, user or empty. */
  create: `if ARGV[2] == '' then redis.call('HSET', KEYS[1], 'v', 1) else redis.call('HSET', KEYS[1], 'v', 1, 'u', ARGV[2]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])`,
  /**
   * KEYS: session. ARGV: client, id, max clients, now, attempt. The verdict
   * of client-sends.ts, and `deliver` again for the attempt that recorded the
   * id (its answer was lost); past max clients the one heard of longest ago
   * is forgotten. A session whose record is gone delivers (nothing to compare with).
   */
  send: `if redis.call('EXISTS', KEYS[1]) == 0 then return 'deliver' end
local last = tonumber(redis.call('HGET', KEYS[1], 'c:' .. ARGV[1]) or '0')
local id = tonumber(ARGV[2])
if id > last + 1 then return 'skip' end
if id == last and redis.call('HGET', KEYS[1], 'a:' .. ARGV[1]) == ARGV[5] then return 'deliver' end
local verdict = 'resend'
if id == last + 1 then
  verdict = 'deliver'
  last = id
  redis.call('HSET', KEYS[1], 'a:' .. ARGV[1], ARGV[5])
end
redis.call('HSET', KEYS[1], 'c:' .. ARGV[1], last, 't:' .. ARGV[1], ARGV[4])
if redis.call('HLEN', KEYS[1]) > 3 * tonumber(ARGV[3]) + 2 then
  local fields = redis.call('HGETALL', KEYS[1])
  local oldest, at = nil, nil
  for i = 1, #fields, 2 do
    local name = fields[i]
    if string.sub(name, 1, 2) == 't:' and (at == nil or tonumber(fields[i + 1]) < at) then oldest = string.sub(name, 3); at = tonumber(fields[i + 1]) end
  end
  if oldest then redis.call('HDEL', KEYS[1], 'c:' .. oldest, 't:' .. oldest, 'a:' .. oldest) end
end
return verdict`
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

  async create(token: string, userId: string | undefined, ttlMs: number): Promise<void> {
    await this.#scripts.run('create', [this.#key(token)], [String(ttlMs), userId ?? '']);
  }

  async get(token: string): Promise<SessionRecord | undefined> {
    const record = hashReply(await this.#redis.sendCommand(['HGETALL', this.#key(token)]));
    if (record.size === 0) return undefined;
    return { userId: record.get('u') };
  }

  async touch(tokens: readonly string[], ttlMs: number): Promise<void> {
    await Promise.all(tokens.map((token) => this.#redis.sendCommand(['PEXPIRE', this.#key(token), String(ttlMs)])));
  }

  async acceptSend(token: string, client: string, id: number, attempt: string): Promise<SendVerdict> {
    const reply = await this.#scripts.run('send', [this.#key(token)], [client, String(id), String(MAX_CLIENTS_PER_SESSION), String(Date.now()), attempt]);
    return text(reply) as SendVerdict;
  }

  #key(token: string): string {
    return `${this.#prefix}:s:${token}`;
  }
}
