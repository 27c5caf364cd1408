/**
 * Session records in Redis (#12, #20), shared by every node of a cluster
 * so a session resumes on any of them: who the session belongs to, and the
 * highest client message id delivered per client instance. One hash per
 * session, `<prefix>:s:<token>`: `u` the user, `v` a marker (an anonymous
 * session has no `u`), `r` the replication id of the history that wrote
 * it, `n` how many client instances it holds, `o` their ids in the order
 * they were last heard of, and per client instance `c:<client>` its highest
 * id delivered, `a:<client>:<id>` the attempt that recorded that id, and
 * `p:<client>:<id>` when (Redis's clock) it did, while it has not yet said
 * it handed the message to its application. So a record holds at most
 * 5 + 3 x {@link MAX_CLIENTS_PER_SESSION} fields of bounded size (client
 * ids of at most 64 characters, ids of at most 16 digits), whatever the
 * clients send. Ids name fields by their decimal text as sent, never as
 * Lua prints a number (1e+14). Every command is one key, so it runs on
 * Redis Cluster as it is.
 */
import { MAX_CLIENTS_PER_SESSION, type SendVerdict } from '../sessions/client-sends.js';
import type { SessionRecord, SessionRecords } from '../sessions/topic-store.js';
import { REPLICATION_ID, Scripts, hashReply, text } from './redis-reply.js';
import type { RedisCommander } from './redis-store.js';

/**
 * An id recorded this long ago by a process that never said it handed the
 * message over is taken by the next attempt: that process is presumed gone
 * (killed between the record and its application). The cluster's own node
 * timeout (3 heartbeats of 1 s) by default.
 */
export const PENDING_TAKEOVER_MS = 3_000;

/**
 * Lua that makes the session's record where there is none, and gives it its
 * expiry: ARGV[at] the ttl, ARGV[at + 1] `u` and ARGV[at + 2] the user, or
 * `a` (anonymous: no `u`, so a user id of '' is told from none). The record
 * remembers which replication history wrote it.
 */
function make(at: number): string {
  return `if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'v', 1, 'r', replid)
  if ARGV[${at + 1}] == 'u' then redis.call('HSET', KEYS[1], 'u', ARGV[${at + 2}]) end
end
redis.call('PEXPIRE', KEYS[1], ARGV[${at}])
`;
}

const SCRIPTS = {
  /** KEYS: session. ARGV: ttl, `u` and the user or `a`. A record already there keeps what it holds and gets the expiry. */
  create: `${REPLICATION_ID}${make(1)}`,
  /**
   * KEYS: session. ARGV: client, id, max clients, attempt, PENDING_TAKEOVER_MS,
   * and for a session this process made and whose record it has not seen
   * yet, what {@link make} takes: the record is made if it is not there.
   * The verdict of client-sends.ts, and `deliver` again for the attempt that
   * recorded the client's last id (its answer was lost in a cut). That id,
   * recorded by another attempt that has not said it handed it over, is
   * `pending` until it does (then `resend`) or for PENDING_TAKEOVER_MS, after
   * which this attempt takes it (`deliver`): the process that recorded it
   * died before its application got the message. An id below the last is a
   * `resend`, whoever asks: the next id was recorded only once this one was
   * settled (a process checks a session's sends in order, and a pending one
   * holds the next back). The first id of a client instance not known is
   * where its numbering stands. Past max clients the one heard of longest
   * ago (the first in `o`, whose entries are the client ids with `%` and
   * white space escaped, each between spaces) is forgotten. A session whose
   * record is gone is `lost`: nothing says what was delivered. A record
   * another replication history wrote (a failover to a replica that may have
   * missed the newest writes) may be behind what was delivered: an id past
   * its last is delivered, not refused as a skip, and the record follows
   * this history.
   */
  send: `${REPLICATION_ID}if ARGV[6] then ${make(6)}end
local key, client, idtext, attempt = KEYS[1], ARGV[1], ARGV[2], ARGV[4]
if redis.call('EXISTS', key) == 0 then return 'lost' end
local id = tonumber(idtext)
local time = redis.call('TIME')
local clock = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local stored = redis.call('HGET', key, 'c:' .. client)
local last = id - 1
if stored then last = tonumber(stored) end
local whole = redis.call('HGET', key, 'r') == replid
if not whole and id > last + 1 then last = id - 1 end
redis.call('HSET', key, 'r', replid)
if id > last + 1 then return 'skip' end
local entry = ' ' .. (string.gsub(client, '[%%%s]', function(c) return string.format('%%%02X', string.byte(c)) end)) .. ' '
local order = redis.call('HGET', key, 'o') or ' '
if string.sub(order, -#entry) ~= entry then
  local at = string.find(order, entry, 1, true)
  if at then order = string.sub(order, 1, at) .. string.sub(order, at + #entry) end
  order = order .. string.sub(entry, 2)
  redis.call('HSET', key, 'o', order)
end
local tag = client .. ':' .. idtext
if id <= last then
  if id < last then return 'resend' end
  if redis.call('HGET', key, 'a:' .. tag) == attempt then return 'deliver' end
  local since = redis.call('HGET', key, 'p:' .. tag)
  if not since then return 'resend' end
  if clock - tonumber(since) < tonumber(ARGV[5]) then return 'pending' end
  redis.call('HSET', key, 'a:' .. tag, attempt, 'p:' .. tag, string.format('%d', clock))
  return 'deliver'
end
if stored then redis.call('HDEL', key, 'a:' .. client .. ':' .. stored, 'p:' .. client .. ':' .. stored) end
redis.call('HSET', key, 'c:' .. client, idtext, 'a:' .. tag, attempt, 'p:' .. tag, string.format('%d', clock))
if not stored and redis.call('HINCRBY', key, 'n', 1) > tonumber(ARGV[3]) then
  local oldest = string.match(order, '^ (%S+) ')
  if oldest and ' ' .. oldest .. ' ' ~= entry then
    redis.call('HSET', key, 'o', string.sub(order, #oldest + 2))
    oldest = string.gsub(oldest, '%%(%x%x)', function(h) return string.char(tonumber(h, 16)) end)
    local its = redis.call('HGET', key, 'c:' .. oldest)
    local drop = {'c:' .. oldest, 't:' .. oldest}
    if its then drop[3] = 'a:' .. oldest .. ':' .. its; drop[4] = 'p:' .. oldest .. ':' .. its end
    redis.call('HDEL', key, unpack(drop))
    redis.call('HINCRBY', key, 'n', -1)
  end
end
return 'deliver'`,
  /** KEYS: session. ARGV: client, id, attempt. The attempt that recorded the id handed it over: a resend elsewhere is `resend` now. */
  delivered: `local tag = ARGV[1] .. ':' .. ARGV[2]
if redis.call('HGET', KEYS[1], 'a:' .. tag) == ARGV[3] then redis.call('HDEL', KEYS[1], 'p:' .. tag) end`
} as const;

/** A session this process made whose record it has not seen in Redis yet: what makes it, and until when to keep trying. */
interface Unseen {
  readonly make: readonly string[];
  until: number;
}

export class RedisSessionRecords implements SessionRecords {
  readonly #redis: RedisCommander;
  readonly #prefix: string;
  readonly #scripts: Scripts<typeof SCRIPTS>;
  /**
   * Sessions made here whose record was not seen made (its create failed,
   * or has not answered yet), oldest first: their next send or refresh makes
   * it where it is not, rather than reading its absence as a lost record
   * (the session is live here, and no other process can have recorded a
   * send to it before its record existed). The first answer that shows the
   * record there removes the entry: from then on its absence is a loss. An
   * entry not refreshed within its TTL (the session ended here) is dropped.
   */
  readonly #unseen = new Map<string, Unseen>();

  constructor(redis: RedisCommander, prefix: string) {
    this.#redis = redis;
    this.#prefix = prefix;
    this.#scripts = new Scripts(redis, SCRIPTS);
  }

  async create(token: string, userId: string | undefined, ttlMs: number): Promise<void> {
    const now = Date.now();
    for (const [old, entry] of this.#unseen) {
      if (entry.until > now) break;
      this.#unseen.delete(old);
    }
    const unseen: Unseen = { make: [String(ttlMs), ...(userId === undefined ? ['a'] : ['u', userId])], until: now + ttlMs };
    this.#unseen.set(token, unseen);
    await this.#scripts.run('create', [this.#key(token)], [...unseen.make]);
    this.#seen(token, unseen);
  }

  async get(token: string): Promise<SessionRecord | undefined> {
    const record = hashReply(await this.#redis.sendCommand(['HGETALL', this.#key(token)]));
    if (record.size === 0) return undefined;
    return { userId: record.get('u') };
  }

  async touch(tokens: readonly string[], ttlMs: number): Promise<void> {
    await Promise.all(
      tokens.map(async (token) => {
        const unseen = this.#unseen.get(token);
        if (unseen === undefined) return this.#redis.sendCommand(['PEXPIRE', this.#key(token), String(ttlMs)]);
        // Refreshed here: still live, so kept another TTL (moved last, the order the map is dropped in).
        this.#unseen.delete(token);
        unseen.until = Date.now() + ttlMs;
        this.#unseen.set(token, unseen);
        await this.#scripts.run('create', [this.#key(token)], [String(ttlMs), ...unseen.make.slice(1)]);
        this.#seen(token, unseen);
      })
    );
  }

  async acceptSend(token: string, client: string, id: number, attempt: string): Promise<SendVerdict> {
    const unseen = this.#unseen.get(token);
    const reply = await this.#scripts.run('send', [this.#key(token)], [
      client,
      String(id),
      String(MAX_CLIENTS_PER_SESSION),
      attempt,
      String(PENDING_TAKEOVER_MS),
      ...(unseen?.make ?? [])
    ]);
    if (unseen !== undefined) this.#seen(token, unseen);
    return text(reply) as SendVerdict;
  }

  async delivered(token: string, client: string, id: number, attempt: string): Promise<void> {
    await this.#scripts.run('delivered', [this.#key(token)], [client, String(id), attempt]);
  }

  /** Redis answered a script that makes the record where it is not: it is there now. */
  #seen(token: string, unseen: Unseen): void {
    if (this.#unseen.get(token) === unseen) this.#unseen.delete(token);
  }

  #key(token: string): string {
    return `${this.#prefix}:s:${token}`;
  }
}
