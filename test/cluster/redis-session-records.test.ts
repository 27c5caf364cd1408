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
import { RedisSessionRecords } from '../../src/cluster/redis-session-records.js';
import { RedisTopicStore, type RedisCommander } from '../../src/cluster/redis-store.js';
import { MAX_CLIENTS_PER_SESSION } from '../../src/sessions/client-sends.js';
import { waitFor } from '../support/server.js';

const PREFIX = `wsl-test-${randomUUID().slice(0, 8)}`;
const REDIS_URL = process.env.WSL_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
let client: RedisCommander & { close(): Promise<unknown> };
let records: RedisSessionRecords;

beforeAll(async () => {
  const made = createClient({ url: REDIS_URL });
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
    expect(await records.acceptSend('s2', 'tab-a', 1)).toBe('deliver');
    expect(await records.acceptSend('s2', 'tab-a', 1)).toBe('resend');
    // Another instance of the same session (a reload, a duplicated tab) numbers from 1 too.
    expect(await records.acceptSend('s2', 'tab-b', 1)).toBe('deliver');
    expect(await records.acceptSend('s2', 'tab-a', 3)).toBe('skip');
    expect(await records.acceptSend('s2', 'tab-a', 2)).toBe('deliver');
    expect(await records.acceptSend('s2', 'tab-a', 3)).toBe('deliver');
    expect(await records.acceptSend('s2', 'tab-b', 1)).toBe('resend');
  });

  it(`keeps at most ${MAX_CLIENTS_PER_SESSION} client instances per session, forgetting the one heard of longest ago`, async () => {
    await records.create('s3', 'carol', 5_000);
    expect(await records.acceptSend('s3', 'first', 1)).toBe('deliver');
    for (let i = 0; i < MAX_CLIENTS_PER_SESSION; i++) expect(await records.acceptSend('s3', `tab-${i}`, 1)).toBe('deliver');
    const fields = Number(await client.sendCommand(['HLEN', `${PREFIX}:s:s3`]));
    expect(fields).toBe(2 + 2 * MAX_CLIENTS_PER_SESSION);
    // The oldest instance was forgotten: its next resend counts as new (bounded memory over perfect memory).
    expect(await records.acceptSend('s3', 'first', 1)).toBe('deliver');
    expect(await records.acceptSend('s3', `tab-${MAX_CLIENTS_PER_SESSION - 1}`, 1)).toBe('resend');
  });
});
