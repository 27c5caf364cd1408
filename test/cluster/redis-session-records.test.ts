/**
 * src/cluster/redis-session-records.ts against a real Redis, under a key
 * prefix of this test's own, deleted afterwards: a record is made with its
 * expiry in one step, send ids are delivered once per (session, client
 * instance) whichever node checks them, a skip is refused, and the client
 * instances kept per session are bounded.
 */
import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PENDING_TAKEOVER_MS, RedisSessionRecords } from '../../src/cluster/redis-session-records.js';
import { RedisTopicStore, type RedisCommander } from '../../src/cluster/redis-store.js';
import { MAX_CLIENTS_PER_SESSION } from '../../src/sessions/client-sends.js';
import { MemoryTopicStore, type SessionRecords, type TopicStore } from '../../src/sessions/topic-store.js';
import { isWelcome, openSessionClient } from '../support/session-client.js';
import { startServer, waitFor } from '../support/server.js';
import { sharedRedis } from '../support/redis-servers.js';

const PREFIX = `wsl-test-${randomUUID().slice(0, 8)}`;
let attempts = 0;
let client: RedisCommander & { close(): Promise<unknown> };
let records: RedisSessionRecords;

beforeAll(async () => {
  const made = createClient({ url: sharedRedis().url });
  made.on('error', () => {});
  await made.connect();
  client = made;
  records = new RedisSessionRecords(client, PREFIX);
});

afterAll(async () => {
  await new RedisTopicStore(client, { prefix: PREFIX }).clear();
  await client.close();
});

/** A topic store of this process with the shared session records given. */
function storeWith(sessions: SessionRecords): TopicStore {
  const memory = new MemoryTopicStore();
  return {
    append: (t, p) => memory.append(t, p),
    position: (t) => memory.position(t),
    readAfter: (t, e, o) => memory.readAfter(t, e, o),
    forget: (t) => memory.forget(t),
    sessions
  };
}

/** A node checks a send and, when told to deliver, hands it over and says so: the common path. */
async function accept(token: string, tab: string, id: number, attempt: string): Promise<string> {
  const verdict = await records.acceptSend(token, tab, id, attempt);
  if (verdict === 'deliver') await records.delivered(token, tab, id, attempt);
  return verdict;
}

describe('RedisSessionRecords', () => {
  it('creates a record with its expiry in one step, and forgets it after the TTL unless touched', async () => {
    await records.create('s1', 'alice', 5_000);
    await records.create('anon', undefined, 5_000);
    expect(await records.get('s1')).toEqual({ userId: 'alice' });
    expect(await records.get('anon')).toEqual({ userId: undefined });
    const ttl = Number(await client.sendCommand(['PTTL', `${PREFIX}:s:s1`]));
    expect(ttl).toBeGreaterThan(4_000);
    await records.touch(['s1'], 30);
    let gone = false;
    const poll = setInterval(() => void records.get('s1').then((record) => (gone = record === undefined)), 10);
    await waitFor(() => gone, 2_000, 'the touched record to expire').finally(() => clearInterval(poll));
    expect(await records.get('never')).toBeUndefined();
  });

  it('delivers each send id once per client instance, acknowledges resends, refuses a skip', async () => {
    await records.create('s2', 'bob', 5_000);
    expect(await accept('s2', 'tab-a', 1, 'n1')).toBe('deliver');
    expect(await accept('s2', 'tab-a', 1, `attempt-${++attempts}`)).toBe('resend');
    // Another instance of the same session (a reload, a duplicated tab) numbers from 1 too.
    expect(await accept('s2', 'tab-b', 1, `attempt-${++attempts}`)).toBe('deliver');
    expect(await accept('s2', 'tab-a', 3, `attempt-${++attempts}`)).toBe('skip');
    expect(await accept('s2', 'tab-a', 2, `attempt-${++attempts}`)).toBe('deliver');
    expect(await accept('s2', 'tab-a', 3, `attempt-${++attempts}`)).toBe('deliver');
    expect(await accept('s2', 'tab-b', 1, `attempt-${++attempts}`)).toBe('resend');
  });

  it(`keeps at most ${MAX_CLIENTS_PER_SESSION} client instances per session, forgetting the one heard of longest ago`, async () => {
    await records.create('s3', 'carol', 5_000);
    expect(await accept('s3', 'first', 1, `attempt-${++attempts}`)).toBe('deliver');
    for (let i = 0; i < MAX_CLIENTS_PER_SESSION; i++) expect(await accept('s3', `tab-${i}`, 1, `attempt-${++attempts}`)).toBe('deliver');
    const fields = Number(await client.sendCommand(['HLEN', `${PREFIX}:s:s3`]));
    // v, u, r, n, the order they were heard in, and per instance its last id and the attempt of that id.
    expect(fields).toBe(5 + 2 * MAX_CLIENTS_PER_SESSION);
    // The oldest instance was forgotten: its next resend counts as new (bounded memory over perfect memory).
    expect(await accept('s3', 'first', 1, `attempt-${++attempts}`)).toBe('deliver');
    expect(await accept('s3', `tab-${MAX_CLIENTS_PER_SESSION - 1}`, 1, `attempt-${++attempts}`)).toBe('resend');
  });

  it('answers deliver again to the attempt that recorded an id: a node whose answer was lost in a cut asks again and still delivers', async () => {
    await records.create('s4', 'dave', 5_000);
    expect(await records.acceptSend('s4', 'tab', 1, 'node-a:1')).toBe('deliver');
    // The answer never reached node a; the client, reconnected to node b, resends id 1 meanwhile: it waits.
    expect(await records.acceptSend('s4', 'tab', 1, 'node-b:1')).toBe('pending');
    // Node a asks again with its attempt: it must deliver, or no one ever would; then it says it did.
    expect(await records.acceptSend('s4', 'tab', 1, 'node-a:1')).toBe('deliver');
    await records.delivered('s4', 'tab', 1, 'node-a:1');
    expect(await records.acceptSend('s4', 'tab', 1, 'node-b:1')).toBe('resend');
    // The client goes on elsewhere, which it can only once id 1 was settled: any attempt asking for it is a resend now.
    expect(await accept('s4', 'tab', 2, 'node-b:2')).toBe('deliver');
    expect(await accept('s4', 'tab', 3, 'node-b:3')).toBe('deliver');
    expect(await records.acceptSend('s4', 'tab', 1, 'node-a:1')).toBe('resend');
    expect(await records.acceptSend('s4', 'tab', 1, 'node-b:1')).toBe('resend');
    expect(await records.acceptSend('s4', 'tab', 2, 'node-a:2')).toBe('resend');
    expect(await records.acceptSend('s4', 'tab', 3, 'node-b:3')).toBe('deliver');
  });

  it('a node killed between the record and its application: a resend elsewhere waits while the record is fresh, then is delivered there, once', async () => {
    await records.create('s7', 'hal', 5_000);
    expect(await accept('s7', 'tab', 1, 'node-a:1')).toBe('deliver');
    // Node a records id 2 and dies before its application gets it: it never says it handed it over.
    expect(await records.acceptSend('s7', 'tab', 2, 'node-a:2')).toBe('deliver');
    expect(await records.acceptSend('s7', 'tab', 2, 'node-b:2')).toBe('pending');
    // As the record stands once PENDING_TAKEOVER_MS went by (Redis's clock, set back rather than waited for).
    await client.sendCommand(['HSET', `${PREFIX}:s:s7`, 'p:tab:2', String(Date.now() - PENDING_TAKEOVER_MS - 1_000)]);
    expect(await records.acceptSend('s7', 'tab', 2, 'node-b:2')).toBe('deliver');
    // Node b's take is pending in turn until it says it handed it over; a third attempt then gets a resend.
    expect(await records.acceptSend('s7', 'tab', 2, 'node-c:2')).toBe('pending');
    await records.delivered('s7', 'tab', 2, 'node-b:2');
    expect(await records.acceptSend('s7', 'tab', 2, 'node-c:2')).toBe('resend');
    // A late word from node a (it was not dead after all) changes nothing for the attempt that took it.
    await records.delivered('s7', 'tab', 2, 'node-a:2');
    expect(await records.acceptSend('s7', 'tab', 2, 'node-a:2')).toBe('resend');
  });

  it('a record that is gone says lost; an instance not known starts where its first id says', async () => {
    expect(await records.acceptSend('never-made', 'tab', 1, 'x')).toBe('lost');
    await records.create('s8', 'ida', 5_000);
    // A client whose old session was lost numbers on from 7 in this one: delivered, then checked from there.
    expect(await accept('s8', 'tab', 7, 'a7')).toBe('deliver');
    expect(await accept('s8', 'tab', 7, 'b7')).toBe('resend');
    expect(await accept('s8', 'tab', 9, 'a9')).toBe('skip');
    expect(await accept('s8', 'tab', 8, 'a8')).toBe('deliver');
    await client.sendCommand(['DEL', `${PREFIX}:s:s8`]);
    expect(await records.acceptSend('s8', 'tab', 9, 'a9')).toBe('lost');
  });

  it("keeps the attempt of a client's last id only, however many it sent", async () => {
    await records.create('s5', 'fay', 5_000);
    for (let id = 1; id <= 300; id++) expect(await accept('s5', 'tab', id, `a-${id}`)).toBe('deliver');
    const fields = Number(await client.sendCommand(['HLEN', `${PREFIX}:s:s5`]));
    // v, u, r, n, o, c:tab, a:tab:300.
    expect(fields).toBe(7);
    expect(await accept('s5', 'tab', 10, 'a-10')).toBe('resend');
    expect(await accept('s5', 'tab', 299, 'a-299')).toBe('resend');
    expect(await records.acceptSend('s5', 'tab', 300, 'a-300')).toBe('deliver');
    expect(await records.acceptSend('s5', 'tab', 300, 'b-300')).toBe('resend');
  });

  it('a send whose answer was lost in a cut is checked again and delivered once, while a resend elsewhere meanwhile is only acknowledged', async () => {
    const memory = new MemoryTopicStore();
    let cuts = 1;
    const cut: SessionRecords = {
      create: (...args) => records.create(...args),
      get: (token) => records.get(token),
      touch: (...args) => records.touch(...args),
      // The first check runs in Redis and its answer is lost.
      acceptSend: async (...args) => {
        const verdict = await records.acceptSend(...args);
        if (cuts-- > 0) throw new Error('connection lost before the reply');
        return verdict;
      },
      delivered: (...args) => records.delivered(...args)
    };
    const store: TopicStore = {
      append: (t, p) => memory.append(t, p),
      position: (t) => memory.position(t),
      readAfter: (t, e, o) => memory.readAfter(t, e, o),
      forget: (t) => memory.forget(t),
      sessions: cut
    };
    const server = await startServer({ heartbeatIntervalMs: 0, sessions: { ttlMs: 5_000, store } });
    try {
      const delivered: unknown[] = [];
      server.manager.on('sessionMessage', (_connection, data) => delivered.push(data));
      const tab = await openSessionClient(server.port, 'erin');
      tab.hello(undefined, undefined, 'tab');
      const { session } = await tab.next(isWelcome, 'welcome');
      tab.ws.send(JSON.stringify({ type: 'send', id: 1, data: 'once' }));
      await tab.next((frame): frame is { type: 'ack'; id: number } => frame.type === 'ack', 'the ack after the check was asked again');
      // The client, not knowing, resends it on a new connection: acknowledged, not delivered again.
      const again = await openSessionClient(server.port, 'erin');
      again.hello(session, undefined, 'tab');
      again.ws.send(JSON.stringify({ type: 'send', id: 1, data: 'once' }));
      await again.next((frame): frame is { type: 'ack'; id: number } => frame.type === 'ack', 'the resend acknowledged');
      expect(delivered).toEqual(['once']);
    } finally {
      await server.stop();
    }
  });

  it('a node that recorded a send and died before its application got it: the resend on another node is delivered there, once (not only acknowledged)', async () => {
    // Node a records the send in Redis and never answers (killed in between); node b is healthy.
    const dying: SessionRecords = {
      create: (...args) => records.create(...args),
      get: (token) => records.get(token),
      touch: (...args) => records.touch(...args),
      acceptSend: async (...args) => {
        await records.acceptSend(...args);
        return new Promise<never>(() => {});
      },
      delivered: (...args) => records.delivered(...args)
    };
    const a = await startServer({ heartbeatIntervalMs: 0, sessions: { ttlMs: 10_000, store: storeWith(dying) } });
    const b = await startServer({ heartbeatIntervalMs: 0, sessions: { ttlMs: 10_000, store: storeWith(records) } });
    try {
      const delivered: unknown[] = [];
      a.manager.on('sessionMessage', (_connection, data) => delivered.push(['a', data]));
      b.manager.on('sessionMessage', (_connection, data) => delivered.push(['b', data]));
      const tab = await openSessionClient(a.port, 'jo');
      tab.hello(undefined, undefined, 'tab');
      const { session } = await tab.next(isWelcome, 'welcome');
      tab.ws.send(JSON.stringify({ type: 'send', id: 1, data: 'important' }));
      for (let polls = 0; (await client.sendCommand(['HGET', `${PREFIX}:s:${session}`, 'c:tab'])) !== '1'; polls++) {
        if (polls > 200) throw new Error('node a never recorded the send');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      tab.ws.terminate();
      const again = await openSessionClient(b.port, 'jo');
      again.hello(session, undefined, 'tab');
      again.ws.send(JSON.stringify({ type: 'send', id: 1, data: 'important' }));
      await again.next((frame): frame is { type: 'ack'; id: number } => frame.type === 'ack', 'the resend acknowledged (within 5 s: the takeover is due after PENDING_TAKEOVER_MS)');
      expect(delivered).toEqual([['b', 'important']]);
      // And node b said so: a resend on yet another connection is only acknowledged.
      expect(await records.acceptSend(session, 'tab', 1, 'late')).toBe('resend');
      again.ws.close();
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it('a session whose record the store lost ends: its connection is closed with 1013 and the resume is a new session, told (resumed: false)', async () => {
    const server = await startServer({ heartbeatIntervalMs: 0, sessions: { ttlMs: 10_000, store: storeWith(records) } });
    try {
      const delivered: unknown[] = [];
      server.manager.on('sessionMessage', (_connection, data) => delivered.push(data));
      const tab = await openSessionClient(server.port, 'kim');
      tab.hello(undefined, undefined, 'tab');
      const { session } = await tab.next(isWelcome, 'welcome');
      tab.ws.send(JSON.stringify({ type: 'send', id: 1, data: 'one' }));
      await tab.next((frame): frame is { type: 'ack'; id: number } => frame.type === 'ack', 'the first ack');
      // Redis restarted empty, or the key was evicted.
      await client.sendCommand(['DEL', `${PREFIX}:s:${session}`]);
      tab.ws.send(JSON.stringify({ type: 'send', id: 2, data: 'two' }));
      expect(await tab.closed).toEqual({ code: 1013, reason: 'session record lost, resume' });
      const again = await openSessionClient(server.port, 'kim');
      again.hello(session, undefined, 'tab');
      const welcome = await again.next(isWelcome, 'the welcome of the resume');
      expect(welcome.resumed).toBe(false);
      expect(welcome.session).not.toBe(session);
      // 2 was not delivered by the lost session: nothing said which ids it had.
      expect(delivered).toEqual(['one']);
      again.ws.close();
    } finally {
      await server.stop();
    }
  });

  it('holds a record of bounded size whatever a session\'s clients send: per client instance its last id and that id\'s attempt', async () => {
    await records.create('s9', 'max', 60_000);
    // Client ids of the longest kind (64 characters), ids of the longest (16 digits), attempts as long as the hub's.
    const tabs = Array.from({ length: MAX_CLIENTS_PER_SESSION + 8 }, (_, i) => `${'t'.repeat(60)}${String(i).padStart(4, '0')}`);
    const from = 2 ** 52;
    const sends = 40;
    await Promise.all(tabs.map(async (tab) => {
      for (let id = from; id < from + sends; id++) expect(await accept('s9', tab, id, `${randomUUID()}:${id}`)).toBe('deliver');
      // The last one recorded and not yet said handed over: its pending mark is held too.
      expect(await records.acceptSend('s9', tab, from + sends, `${randomUUID()}:${from + sends}`)).toBe('deliver');
    }));
    const key = `${PREFIX}:s:s9`;
    const fields = Number(await client.sendCommand(['HLEN', key]));
    const bytes = Number(await client.sendCommand(['MEMORY', 'USAGE', key, 'SAMPLES', '0']));
    // v, u, r, n, the order instances were heard in, and per instance its last id, that id's attempt and pending mark.
    expect(fields).toBeLessThanOrEqual(5 + 3 * MAX_CLIENTS_PER_SESSION);
    // About 35 KB here (Redis 7, a hash table of 197 fields): the most any session's clients can make it hold.
    expect(bytes).toBeLessThan(48_000);
    // The 8 heard of longest ago were forgotten; the others still know their ids.
    expect(await records.acceptSend('s9', tabs.at(-1)!, from + sends, 'late')).toBe('pending');
    expect(await records.acceptSend('s9', tabs.at(-1)!, from + 1, 'late')).toBe('resend');
  });

  it('forgets the client instance heard of longest ago, counting resends as heard', async () => {
    await records.create('s10', 'ned', 5_000);
    expect(await accept('s10', 'old', 1, 'o1')).toBe('deliver');
    expect(await accept('s10', 'kept', 1, 'k1')).toBe('deliver');
    for (let i = 0; i < MAX_CLIENTS_PER_SESSION - 2; i++) expect(await accept('s10', `tab-${i}`, 1, `t${i}`)).toBe('deliver');
    // 64 known; `old` is heard again (a resend), so `kept` is now the one heard of longest ago.
    expect(await accept('s10', 'old', 1, 'o1-again')).toBe('resend');
    expect(await accept('s10', 'new', 1, 'n1')).toBe('deliver');
    expect(await accept('s10', 'old', 1, 'o1-third')).toBe('resend');
    expect(await accept('s10', 'kept', 1, 'k1-again')).toBe('deliver');
  });

  it('send ids of 10^14 and more, up to 2^53 - 1, are told apart: a resend is a resend, the next id is new, delivered() clears the pending mark', async () => {
    // Lua prints numbers of 15 digits and more short (1e+14): every field named by an id must use its exact decimal text.
    await records.create('big', 'lou', 5_000);
    const big = 100_000_000_000_001;
    expect(await accept('big', 'tab', big, 'x1')).toBe('deliver');
    expect(await records.acceptSend('big', 'tab', big, 'y1')).toBe('resend');
    expect(await records.acceptSend('big', 'tab', big + 1, 'x2')).toBe('deliver');
    // Recorded and not yet handed over: a resend elsewhere waits; once the recorder says it did, it is a resend.
    expect(await records.acceptSend('big', 'tab', big + 1, 'y2')).toBe('pending');
    await records.delivered('big', 'tab', big + 1, 'x2');
    expect(await records.acceptSend('big', 'tab', big + 1, 'y2')).toBe('resend');
    expect(await records.acceptSend('big', 'tab', big, 'y1')).toBe('resend');
    const top = Number.MAX_SAFE_INTEGER;
    expect(await accept('big', 'top', top - 1, 'x3')).toBe('deliver');
    expect(await records.acceptSend('big', 'top', top, 'x4')).toBe('deliver');
    expect(await records.acceptSend('big', 'top', top, 'y4')).toBe('pending');
    await records.delivered('big', 'top', top, 'x4');
    expect(await records.acceptSend('big', 'top', top, 'y4')).toBe('resend');
    expect(await records.acceptSend('big', 'top', top - 1, 'y3')).toBe('resend');
    expect(await client.sendCommand(['HGET', `${PREFIX}:s:big`, 'c:top'])).toBe(String(top));
  });

  it("records a user id of '' as that user, not as an anonymous session", async () => {
    await records.create('empty-user', '', 5_000);
    await records.create('no-user', undefined, 5_000);
    expect(await records.get('empty-user')).toEqual({ userId: '' });
    expect(await records.get('no-user')).toEqual({ userId: undefined });
  });

  it('a session whose record could not be made (a Redis blip at its hello) gets it made by its first send: delivered once, and resumable on another node', async () => {
    let refusing = false;
    const flaky: RedisCommander = {
      sendCommand: <T>(args: ReadonlyArray<string | Buffer>, options?: object) =>
        refusing ? Promise.reject(new Error('OOM command not allowed when used memory > maxmemory')) : client.sendCommand<T>(args, options)
    };
    const a = await startServer({ heartbeatIntervalMs: 0, sessions: { ttlMs: 10_000, store: storeWith(new RedisSessionRecords(flaky, PREFIX)) } });
    const b = await startServer({ heartbeatIntervalMs: 0, sessions: { ttlMs: 10_000, store: storeWith(records) } });
    try {
      const delivered: unknown[] = [];
      a.manager.on('sessionMessage', (_connection, data) => delivered.push(['a', data]));
      b.manager.on('sessionMessage', (_connection, data) => delivered.push(['b', data]));
      const tab = await openSessionClient(a.port, 'lee');
      refusing = true;
      tab.hello(undefined, undefined, 'tab');
      const { session } = await tab.next(isWelcome, 'welcome');
      refusing = false;
      expect(await records.get(session)).toBeUndefined();
      tab.ws.send(JSON.stringify({ type: 'send', id: 1, data: 'first' }));
      await tab.next((frame): frame is { type: 'ack'; id: number } => frame.type === 'ack', 'the ack of the first send');
      expect(delivered).toEqual([['a', 'first']]);
      expect(await records.get(session)).toEqual({ userId: 'lee' });
      tab.ws.terminate();
      const again = await openSessionClient(b.port, 'lee');
      again.hello(session, undefined, 'tab');
      const welcome = await again.next(isWelcome, 'the welcome on node b');
      expect([welcome.resumed, welcome.session]).toEqual([true, session]);
      again.ws.send(JSON.stringify({ type: 'send', id: 1, data: 'first' }));
      again.ws.send(JSON.stringify({ type: 'send', id: 2, data: 'second' }));
      await again.next((frame): frame is { type: 'ack'; id: number } => frame.type === 'ack' && frame.id === 2, 'the ack of the second send');
      expect(delivered).toEqual([['a', 'first'], ['b', 'second']]);
      again.ws.close();
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it('a record whose making failed is made by the next refresh; once this process saw it, its absence is a lost record again', async () => {
    let refusing = true;
    let lostAnswers = 0;
    const flaky: RedisCommander = {
      sendCommand: async <T>(args: ReadonlyArray<string | Buffer>, options?: object) => {
        if (refusing) throw new Error('connection reset');
        const reply = await client.sendCommand<T>(args, options);
        if (lostAnswers-- > 0) throw new Error('connection reset before the reply');
        return reply;
      }
    };
    const here = new RedisSessionRecords(flaky, PREFIX);
    await expect(here.create('f1', '', 5_000)).rejects.toThrow('connection reset');
    refusing = false;
    await here.touch(['f1'], 5_000);
    expect(await records.get('f1')).toEqual({ userId: '' });
    expect(Number(await client.sendCommand(['PTTL', `${PREFIX}:s:f1`]))).toBeGreaterThan(4_000);
    // Made, but its answer lost: seen by the first send, after which a record gone is lost.
    lostAnswers = 1;
    await expect(here.create('f2', undefined, 5_000)).rejects.toThrow('before the reply');
    expect(await here.acceptSend('f2', 'tab', 1, 'x1')).toBe('deliver');
    await client.sendCommand(['DEL', `${PREFIX}:s:f2`]);
    expect(await here.acceptSend('f2', 'tab', 2, 'x2')).toBe('lost');
    // A record another process made is never made here: its absence is lost.
    expect(await here.acceptSend('elsewhere', 'tab', 1, 'y1')).toBe('lost');
  });

  it('a record another replication history wrote (a lossy failover) delivers the client\'s next id instead of refusing a skip', async () => {
    await records.create('s6', 'gus', 5_000);
    expect(await accept('s6', 'tab', 1, 'x1')).toBe('deliver');
    expect(await accept('s6', 'tab', 2, 'x2')).toBe('deliver');
    // As a promoted replica that missed ids 3 and 4 would hold it: the record of another history, at 2.
    await client.sendCommand(['HSET', `${PREFIX}:s:s6`, 'r', 'a-replication-id-of-the-lost-primary']);
    expect(await accept('s6', 'tab', 5, 'x5')).toBe('deliver');
    expect(await accept('s6', 'tab', 5, 'y5')).toBe('resend');
    // From here the record follows this history: a skip is refused again.
    expect(await accept('s6', 'tab', 7, 'x7')).toBe('skip');
  });
});
