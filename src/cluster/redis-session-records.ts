/**
 * Session records in Redis (#12, #20), shared by every node of a cluster
 * so a session resumes on any of them: who the session belongs to, and the
 * highest client message id delivered per client instance. One hash per
 * session, `<prefix>:s:<token>`: `u` the user, `v` a marker (an anonymous
 * session has no `u`), `r` the replication id of the history that wrote
 * it, `n` how many client instances it holds, and per
 * client instance `c:<client>` its highest id delivered, `t:<client>` when
 * it was last heard of, `a:<client>:<id>` which attempt recorded each of
 * its last {@link ATTEMPTS_KEPT} ids, and `p:<client>:<id>` when (Redis's
 * clock) an id was recorded by a process that has not yet said it handed
 * the message to its application. Every command is one key, so it runs on
 * Redis Cluster as it is.
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

/**
 * An id recorded this long ago by a process that never said it handed the
 * message over is taken by the next attempt: that process is presumed gone
 * (killed between the record and its application). The cluster's own node
 * timeout (3 heartbeats of 1 s) by default.
 */
export const PENDING_TAKEOVER_MS = 3_000;

const SCRIPTS = {
  /**
   * KEYS: session. ARGV: ttl, `u` and the user or `a` (anonymous: no `u`, so a user id of '' is told from none). The
   * record remembers which replication history wrote it.
   */
  create: `${REPLICATION_ID}if ARGV[2] == 'a' then redis.call('HSET', KEYS[1], 'v', 1, 'r', replid) else redis.call('HSET', KEYS[1], 'v', 1, 'u', ARGV[3], 'r', replid) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])`,
  /**
   * KEYS: session. ARGV: client, id, max clients, now, attempt, attempts kept.
   * The verdict of client-sends.ts, and `deliver` again for the attempt that
   * recorded an id among the client's last `attempts kept` (its answer was
   * lost in a cut; the client may have gone on meanwhile). An id recorded
   * by another attempt that has not said it handed it over is `pending`
   * until it does (then `resend`) or for PENDING_TAKEOVER_MS (ARGV 7), after
   * which this attempt takes it (`deliver`): the process that recorded it
   * died before its application got the message. The first id of a client
   * instance not known is where its numbering stands. Past max clients
   * the one heard of longest ago is forgotten with its attempts. A session
   * whose record is gone is `lost`: nothing says what was delivered. A record another
   * replication history wrote (a failover to a replica that may have missed
   * the newest writes) may be behind what was delivered: an id past its last
   * is delivered, not refused as a skip, and the record follows this history.
   */
  send: `${REPLICATION_ID}if redis.call('EXISTS', KEYS[1]) == 0 then return 'lost' end
local client, id, now, attempt = ARGV[1], tonumber(ARGV[2]), ARGV[4], ARGV[5]
local time = redis.call('TIME')
local clock = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local stored = redis.call('HGET', KEYS[1], 'c:' .. client)
local last = id - 1
if stored then last = tonumber(stored) end
local whole = redis.call('HGET', KEYS[1], 'r') == replid
if not whole and id > last + 1 then last = id - 1 end
redis.call('HSET', KEYS[1], 'r', replid)
if id > last + 1 then return 'skip' end
local known = redis.call('HEXISTS', KEYS[1], 't:' .. client) == 1
redis.call('HSET', KEYS[1], 't:' .. client, now)
local tag = client .. ':' .. ARGV[2]
if id <= last then
  if redis.call('HGET', KEYS[1], 'a:' .. tag) == attempt then return 'deliver' end
  local since = redis.call('HGET', KEYS[1], 'p:' .. tag)
  if not since then return 'resend' end
  if clock - tonumber(since) < tonumber(ARGV[7]) then return 'pending' end
  redis.call('HSET', KEYS[1], 'a:' .. tag, attempt, 'p:' .. tag, string.format('%d', clock))
  return 'deliver'
end
redis.call('HSET', KEYS[1], 'c:' .. client, ARGV[2], 'a:' .. tag, attempt, 'p:' .. tag, string.format('%d', clock))
local old = client .. ':' .. string.format('%d', id - tonumber(ARGV[6]))
redis.call('HDEL', KEYS[1], 'a:' .. old, 'p:' .. old)
if not known and redis.call('HINCRBY', KEYS[1], 'n', 1) > tonumber(ARGV[3]) then
  local fields = redis.call('HGETALL', KEYS[1])
  local oldest, at = nil, nil
  for i = 1, #fields, 2 do
    local name = fields[i]
    if string.sub(name, 1, 2) == 't:' and (at == nil or tonumber(fields[i + 1]) < at) then oldest = string.sub(name, 3); at = tonumber(fields[i + 1]) end
  end
  local drop = {'c:' .. oldest, 't:' .. oldest}
  local mine, waiting = 'a:' .. oldest .. ':', 'p:' .. oldest .. ':'
  for i = 1, #fields, 2 do
    local prefix = string.sub(fields[i], 1, #mine)
    if prefix == mine or prefix == waiting then drop[#drop + 1] = fields[i] end
  end
  redis.call('HDEL', KEYS[1], unpack(drop))
  redis.call('HINCRBY', KEYS[1], 'n', -1)
end
return 'deliver'`,
  /** KEYS: session. ARGV: client, id, attempt. The attempt that recorded the id handed it over: a resend elsewhere is `resend` now. */
  delivered: `local tag = ARGV[1] .. ':' .. ARGV[2]
if redis.call('HGET', KEYS[1], 'a:' .. tag) == ARGV[3] then redis.call('HDEL', KEYS[1], 'p:' .. tag) end`
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
    await this.#scripts.run('create', [this.#key(token)], [String(ttlMs), ...(userId === undefined ? ['a'] : ['u', userId])]);
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
    const reply = await this.#scripts.run('send', [this.#key(token)], [
      client,
      String(id),
      String(MAX_CLIENTS_PER_SESSION),
      String(Date.now()),
      attempt,
      String(ATTEMPTS_KEPT),
      String(PENDING_TAKEOVER_MS)
    ]);
    return text(reply) as SendVerdict;
  }

  async delivered(token: string, client: string, id: number, attempt: string): Promise<void> {
    await this.#scripts.run('delivered', [this.#key(token)], [client, String(id), attempt]);
  }

  #key(token: string): string {
    return `${this.#prefix}:s:${token}`;
  }
}
