/**
 * src/cluster/redis-store.ts and src/cluster/redis-broker.ts against a real Redis on
 * 127.0.0.1:6379 (#12), under a key prefix of this test's own, deleted
 * afterwards: offsets without gaps under concurrent publishers on separate
 * connections, reads that recover or say why, binary payloads, a new
 * epoch when the history is gone, and a broker
 * that hears every message in offset order.
 */
import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBroker } from '../../src/cluster/redis-broker.js';
import { RedisTopicStore, type RedisCommander } from '../../src/cluster/redis-store.js';
import type { TopicMessage } from '../../src/sessions/topic-store.js';
import { waitFor } from '../support/server.js';

const PREFIX = `wsl-test-${randomUUID().slice(0, 8)}`;
const clients: Array<{ close(): Promise<unknown>; del(keys: string[]): Promise<unknown> }> = [];

async function connect(): Promise<RedisCommander & { del(keys: string[]): Promise<unknown> }> {
  const client = createClient({ url: 'redis://127.0.0.1:6379' });
  client.on('error', () => {});
  await client.connect();
  clients.push(client);
  return client;
}

let store: RedisTopicStore;

beforeAll(async () => {
  store = new RedisTopicStore(await connect(), { prefix: PREFIX, maxEntriesPerTopic: 5 });
});

afterAll(async () => {
  await store.clear();
  await Promise.all(clients.map((client) => client.close()));
});

describe('RedisTopicStore', () => {
  it('numbers a topic 1, 2, 3..., reads after a position, tells trimmed, epoch_changed and future_offset apart', async () => {
    const first = await store.position('a');
    expect(first.offset).toBe(0);
    for (let i = 1; i <= 7; i++) expect(await store.append('a', JSON.stringify({ i }))).toEqual({ epoch: first.epoch, offset: i });
    const read = await store.readAfter('a', first.epoch, 4);
    expect(read).toMatchObject({ recovered: true, epoch: first.epoch });
    expect(read.recovered && read.entries.map((e) => [e.offset, e.payload])).toEqual([[5, '{"i":5}'], [6, '{"i":6}'], [7, '{"i":7}']]);
    expect(await store.readAfter('a', first.epoch, 7)).toEqual({ recovered: true, epoch: first.epoch, entries: [] });
    // Five kept: 3..7. After 2, offset 3 is the first needed and is there; after 1, 2 is gone.
    expect(await store.readAfter('a', first.epoch, 2)).toMatchObject({ recovered: true });
    expect(await store.readAfter('a', first.epoch, 1)).toEqual({ recovered: false, reason: 'trimmed', epoch: first.epoch, offset: 7 });
    expect(await store.readAfter('a', first.epoch, 8)).toEqual({ recovered: false, reason: 'future_offset', epoch: first.epoch, offset: 7 });
    expect(await store.readAfter('a', 'another-epoch', 3)).toEqual({ recovered: false, reason: 'epoch_changed', epoch: first.epoch, offset: 7 });
  });

  it('keeps bytes as bytes and text as text', async () => {
    const bytes = Buffer.from([0, 0xff, 0x0a, 0x41]);
    const { epoch } = await store.append('bin', bytes);
    await store.append('bin', '"text\\nwith newline"');
    const read = await store.readAfter('bin', epoch, 0);
    expect(read.recovered && read.entries.map((e) => e.payload)).toEqual([bytes, '"text\\nwith newline"']);
  });

  it('gives concurrent publishers on separate connections distinct offsets with no gap', async () => {
    const other = new RedisTopicStore(await connect(), { prefix: PREFIX, maxEntriesPerTopic: 1_000 });
    const mine = new RedisTopicStore(clients[0] as unknown as RedisCommander, { prefix: PREFIX, maxEntriesPerTopic: 1_000 });
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? mine : other).append('shared', `"${i}"`)));
    expect(results.map((r) => r.offset).sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(new Set(results.map((r) => r.epoch)).size).toBe(1);
  });

  it('starts a new epoch when the history is gone (Redis restarted empty, or the topic expired)', async () => {
    const before = await store.append('gone', '"1"');
    const client = clients[0]!;
    await client.del([`${PREFIX}:t:{gone}:h`, `${PREFIX}:t:{gone}:s`]);
    expect(await store.readAfter('gone', before.epoch, 1)).toMatchObject({ recovered: false, reason: 'epoch_changed', offset: 0 });
    const after = await store.append('gone', '"2"');
    expect(after.offset).toBe(1);
    expect(after.epoch).not.toBe(before.epoch);
  });
});

describe('RedisBroker', () => {
  it('hands every node every message, in offset order per topic', async () => {
    const heard: TopicMessage[][] = [[], []];
    const brokers = await Promise.all(
      heard.map(async (list) => {
        const broker = new RedisBroker((await connect()) as never, PREFIX);
        broker.listen({ message: (message) => list.push(message), resync: () => {} });
        await broker.start();
        return broker;
      })
    );
    const publisher = new RedisTopicStore(await connect(), { prefix: PREFIX });
    await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? store : publisher).append('fan', i % 5 === 0 ? Buffer.from([i]) : `"${i}"`)));
    await waitFor(() => heard.every((list) => list.length === 50), 5_000, 'every message on both nodes');
    for (const list of heard) {
      expect(list.map((m) => m.offset)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      expect(list.every((m) => m.topic === 'fan')).toBe(true);
    }
    expect(heard[0]!.some((m) => Buffer.isBuffer(m.payload))).toBe(true);
    await Promise.all(brokers.map((broker) => broker.stop()));
  });
});
