/**
 * Session records in Redis (#12, #20), shared by every node of a cluster
 * so a session resumes on any of them: who the session belongs to, and the
 * highest client message id delivered per client instance. One hash per
 * session, `<prefix>:s:<token>`: `u` the user, `v` a marker (an anonymous
 * session has no `u`), `r` the replication id of the history that wrote
 * it, `n` how many client instances it holds, and per
 * client instance `c:<client>` its highest id delivered, `t:<client>` when
 * it was last heard of, and `a:<client>:<id>` which attempt recorded each of
 * its last {@link ATTEMPTS_KEPT} ids. Every command is
 * one key, so it runs on Redis Cluster as it is.
 */
import { MAX_CLIENTS_PER_SESSION, type SendVerdict } from '../sessions/client-sends.js';
import type { SessionRecord, SessionRecords } from '../sessions/topic-store.js';
import { REPLICATION_ID, Scripts, hashReply, text } from './redis-reply.js';
import type { RedisCommander } from './redis-store.js';

/**
 * Per client instance, the attempts of its last this many ids are kept: a
 * node whose answer was lost delivers its message once asked again, as long
 * as the client sent fewer newer messages meanwhile (a reconnect elsewhere).
 */
export const ATTEMPTS_KEPT = 256;

const SCRIPTS = {
  /** KEYS: session. ARGV: ttl, user or empty. The record remembers which replication history wrote it. */
  create: `${REPLICATION_ID}if ARGV[2] == '' then redis.call('HSET', KEYS[1], 'v', 1, 'r', replid) else redis.call('HSET', KEYS[1], 'v', 1, 'u', ARGV[2], 'r', replid) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])`,
  /**
   * KEYS: session. ARGV: client, id, max clients, now, attempt, attempts kept.
   * The verdict of client-sends.ts, and `deliver` again for the attempt that
   * recorded an id among the client's last `attempts kept` (its answer was
   * lost in a cut; the client may have gone on meanwhile). Past max clients
   * the one heard of longest ago is forgotten with its attempts. A session
   * whose record is gone delivers (nothing to compare with). A record another
   * replication history wrote (a failover to a replica that may have missed
   * the newest writes) may be behind what was delivered: an id past its last
   * is delivered, not refused as a skip, and the record follows this history.
   */
  send: `${REPLICATION_ID}if redis.call('EXISTS', KEYS[1]) == 0 then return 'deliver' end
local client, id, now, attempt = ARGV[1], tonumber(ARGV[2]), ARGV[4], ARGV[5]
local last = tonumber(redis.call('HGET', KEYS[1], 'c:' .. client) or '0')
local whole = redis.call('HGET', KEYS[1], 'r') == replid
if not whole and id > last + 1 then last = id - 1 end
redis.call('HSET', KEYS[1], 'r', replid)
if id > last + 1 then return 'skip' end
local known = redis.call('HEXISTS', KEYS[1], 't:' .. client) == 1
redis.call('HSET', KEYS[1], 't:' .. client, now)
if id <= last then
  if redis.call('HGET', KEYS[1], 'a:' .. client .. ':' .. id) == attempt then return 'deliver' end
  return 'resend'
end
redis.call('HSET', KEYS[1], 'c:' .. client, id, 'a:' .. client .. ':' .. id, attempt)
redis.call('HDEL', KEYS[1], 'a:' .. client .. ':' .. (id - tonumber(ARGV[6])))
if not known and redis.call('HINCRBY', KEYS[1], 'n', 1) > tonumber(ARGV[3]) then
  local fields = redis.call('HGETALL', KEYS[1])
  local oldest, at = nil, nil
  for i = 1, #fields, 2 do
    local name = fields[i]
    if string.sub(name, 1, 2) == 't:' and (at == nil or tonumber(fields[i + 1]) < at) then oldest = string.sub(name, 3); at = tonumber(fields[i + 1]) end
  end
  local drop = {'c:' .. oldest, 't:' .. oldest}
  local mine = 'a:' .. oldest .. ':'
  for i = 1, #fields, 2 do
    if string.sub(fields[i], 1, #mine) == mine then drop[#drop + 1] = fields[i] end
  end
  redis.call('HDEL', KEYS[1], unpack(drop))
  redis.call('HINCRBY', KEYS[1], 'n', -1)
end
return 'deliver'`
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
    const reply = await this.#scripts.run('send', [this.#key(token)], [client, String(id), String(MAX_CLIENTS_PER_SESSION), String(Date.now()), attempt, String(ATTEMPTS_KEPT)]);
    return text(reply) as SendVerdict;
  }

  #key(token: string): string {
    return `${this.#prefix}:s:${token}`;
  }
}
