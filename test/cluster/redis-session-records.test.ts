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
import { ATTEMPTS_KEPT, RedisSessionRecords } from '../../src/cluster/redis-session-records.js';
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
    expect(await records.acceptSend('s2', 'tab-a', 1, 'n1')).toBe('deliver');
    expect(await records.acceptSend('s2', 'tab-a', 1, `attempt-${++attempts}`)).toBe('resend');
    // Another instance of the same session (a reload, a duplicated tab) numbers from 1 too.
    expect(await records.acceptSend('s2', 'tab-b', 1, `attempt-${++attempts}`)).toBe('deliver');
    expect(await records.acceptSend('s2', 'tab-a', 3, `attempt-${++attempts}`)).toBe('skip');
    expect(await records.acceptSend('s2', 'tab-a', 2, `attempt-${++attempts}`)).toBe('deliver');
    expect(await records.acceptSend('s2', 'tab-a', 3, `attempt-${++attempts}`)).toBe('deliver');
    expect(await records.acceptSend('s2', 'tab-b', 1, `attempt-${++attempts}`)).toBe('resend');
  });

  it(`keeps at most ${MAX_CLIENTS_PER_SESSION} client instances per session, forgetting the one heard of longest ago`, async () => {
    await records.create('s3', 'carol', 5_000);
    expect(await records.acceptSend('s3', 'first', 1, `attempt-${++attempts}`)).toBe('deliver');
    for (let i = 0; i < MAX_CLIENTS_PER_SESSION; i++) expect(await records.acceptSend('s3', `tab-${i}`, 1, `attempt-${++attempts}`)).toBe('deliver');
    const fields = Number(await client.sendCommand(['HLEN', `${PREFIX}:s:s3`]));
    // v, u, r, n, and per instance its last id, when it was heard of, and the attempt of its one id.
    expect(fields).toBe(4 + 3 * MAX_CLIENTS_PER_SESSION);
    // The oldest instance was forgotten: its next resend counts as new (bounded memory over perfect memory).
    expect(await records.acceptSend('s3', 'first', 1, `attempt-${++attempts}`)).toBe('deliver');
    expect(await records.acceptSend('s3', `tab-${MAX_CLIENTS_PER_SESSION - 1}`, 1, `attempt-${++attempts}`)).toBe('resend');
  });

  it('answers deliver again to the attempt that recorded an id: a node whose answer was lost in a cut asks again and still delivers', async () => {
    await records.create('s4', 'dave', 5_000);
    expect(await records.acceptSend('s4', 'tab', 1, 'node-a:1')).toBe('deliver');
    // The answer never reached node a; the client, reconnected to node b, resends id 1 meanwhile.
    expect(await records.acceptSend('s4', 'tab', 1, 'node-b:1')).toBe('resend');
    // Node a asks again with its attempt: it must deliver, or no one ever would.
    expect(await records.acceptSend('s4', 'tab', 1, 'node-a:1')).toBe('deliver');
    // The client goes on elsewhere: node a, asking again later, still delivers its own (and only its own).
    expect(await records.acceptSend('s4', 'tab', 2, 'node-b:2')).toBe('deliver');
    expect(await records.acceptSend('s4', 'tab', 3, 'node-b:3')).toBe('deliver');
    expect(await records.acceptSend('s4', 'tab', 1, 'node-a:1')).toBe('deliver');
    expect(await records.acceptSend('s4', 'tab', 1, 'node-b:1')).toBe('resend');
    expect(await records.acceptSend('s4', 'tab', 2, 'node-a:2')).toBe('resend');
  });

  it(`keeps the attempts of a client's last ${ATTEMPTS_KEPT} ids, not more`, async () => {
    await records.create('s5', 'fay', 5_000);
    for (let id = 1; id <= ATTEMPTS_KEPT + 10; id++) expect(await records.acceptSend('s5', 'tab', id, `a-${id}`)).toBe('deliver');
    const fields = Number(await client.sendCommand(['HLEN', `${PREFIX}:s:s5`]));
    expect(fields).toBe(4 + 2 + ATTEMPTS_KEPT);
    expect(await records.acceptSend('s5', 'tab', 10, 'a-10')).toBe('resend');
    expect(await records.acceptSend('s5', 'tab', ATTEMPTS_KEPT + 5, `a-${ATTEMPTS_KEPT + 5}`)).toBe('deliver');
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
      }
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

  it('a record another replication history wrote (a lossy failover) delivers the client\'s next id instead of refusing a skip', async () => {
    await records.create('s6', 'gus', 5_000);
    expect(await records.acceptSend('s6', 'tab', 1, 'x1')).toBe('deliver');
    expect(await records.acceptSend('s6', 'tab', 2, 'x2')).toBe('deliver');
    // As a promoted replica that missed ids 3 and 4 would hold it: the record of another history, at 2.
    await client.sendCommand(['HSET', `${PREFIX}:s:s6`, 'r', 'a-replication-id-of-the-lost-primary']);
    expect(await records.acceptSend('s6', 'tab', 5, 'x5')).toBe('deliver');
    expect(await records.acceptSend('s6', 'tab', 5, 'y5')).toBe('resend');
    // From here the record follows this history: a skip is refused again.
    expect(await records.acceptSend('s6', 'tab', 7, 'x7')).toBe('skip');
  });
});
