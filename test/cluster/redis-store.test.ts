/**
 * src/cluster/redis-store.ts and src/cluster/redis-broker.ts against the
 * suite's Redis (#12, #23), under a key prefix of this test's own, deleted
 * afterwards: offsets without gaps under concurrent publishers on separate
 * connections, reads that recover or say why, binary payloads, a new
 * epoch when the history is gone or was written under another replication
 * id, and a broker that hears every message in offset order, and its
 * probes, and nothing malformed.
 */
import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBroker, parseBrokerMessage } from '../../src/cluster/redis-broker.js';
import { partitionOf, partitionTag } from '../../src/cluster/redis-slots.js';
import { RedisTopicStore, type RedisCommander, type RedisServers } from '../../src/cluster/redis-store.js';
import type { TopicMessage } from '../../src/sessions/topic-store.js';
import { sharedRedis } from '../support/redis-servers.js';
import { waitFor } from '../support/server.js';

const PREFIX = `wsl-test-${randomUUID().slice(0, 8)}`;
const clients: Array<RedisCommander & { close(): Promise<unknown>; del(keys: string[]): Promise<unknown> }> = [];

/** The keys of `topic` under the test's prefix: hash and stream. */
function keys(topic: string): [string, string] {
  const base = `${PREFIX}:t:${partitionTag(partitionOf(topic))}:${topic}`;
  return [`${base}:h`, `${base}:s`];
}

async function connect(): Promise<RedisCommander & { del(keys: string[]): Promise<unknown> }> {
  const client = createClient({ url: sharedRedis().url });
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
    // What is kept is never skipped: a trimmed cursor (or a lost epoch's, into a trimmed one) continues after 2, with 3..7.
    const kept = [3, 4, 5, 6, 7].map((i) => [i, JSON.stringify({ i })]);
    const trimmed = await store.readAfter('a', first.epoch, 1);
    expect(trimmed).toMatchObject({ recovered: false, reason: 'trimmed', epoch: first.epoch, offset: 2 });
    expect(!trimmed.recovered && trimmed.entries?.map((e) => [e.offset, e.payload])).toEqual(kept);
    expect(await store.readAfter('a', first.epoch, 8)).toEqual({ recovered: false, reason: 'future_offset', epoch: first.epoch, offset: 7 });
    const lost = await store.readAfter('a', 'another-epoch', 3);
    expect(lost).toMatchObject({ recovered: false, reason: 'epoch_changed', epoch: first.epoch, offset: 2 });
    expect(!lost.recovered && lost.entries?.map((e) => [e.offset, e.payload])).toEqual(kept);
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
    await client.del(keys('gone'));
    expect(await store.readAfter('gone', before.epoch, 1)).toMatchObject({ recovered: false, reason: 'epoch_changed', offset: 0 });
    const after = await store.append('gone', '"2"');
    expect(after.offset).toBe(1);
    expect(after.epoch).not.toBe(before.epoch);
    // A cursor from before reads the new epoch from its start while the stream holds all of it.
    await store.append('gone', '"3"');
    const read = await store.readAfter('gone', before.epoch, 1);
    expect(read).toMatchObject({ recovered: false, reason: 'epoch_changed', epoch: after.epoch, offset: 0 });
    expect(!read.recovered && read.entries?.map((e) => [e.offset, e.payload])).toEqual([[1, '"2"'], [2, '"3"']]);
  });

  it('starts a new epoch, with an empty stream, for a topic written under another replication id (a promoted replica, a restart)', async () => {
    const client = clients[0]!;
    const replid = await store.replicationId();
    expect(replid).toBe(/master_replid:(\w+)/.exec(String(await client.sendCommand(['INFO', 'replication'])))![1]);
    const before = await store.append('fenced', '"1"');
    await store.append('fenced', '"2"');
    expect(String(await client.sendCommand(['HGET', keys('fenced')[0], 'r']))).toBe(replid);
    // What a promoted replica holds: the hash as the old primary wrote it, under the old primary's replication id.
    await client.sendCommand(['HSET', keys('fenced')[0], 'r', 'f'.repeat(40)]);
    expect(await store.readAfter('fenced', before.epoch, 1)).toMatchObject({ recovered: false, reason: 'epoch_changed', offset: 0 });
    const after = await store.append('fenced', '"3"');
    expect(after.epoch).not.toBe(before.epoch);
    expect(after.offset).toBe(1);
    const read = await store.readAfter('fenced', after.epoch, 0);
    expect(read.recovered && read.entries.map((e) => [e.offset, e.payload])).toEqual([[1, '"3"']]);
    // Under the server's own id again, the new epoch holds.
    expect(await store.append('fenced', '"4"')).toEqual({ epoch: after.epoch, offset: 2 });
  });

  it('refuses a prefix with a brace (it would move the keys off their partition slot)', () => {
    expect(() => new RedisTopicStore(clients[0]!, { prefix: 'a{b}' })).toThrow('Invalid option prefix: "a{b}"');
  });

  it('refuses an empty prefix, one that is not a string, and bounds that are not integers >= 1; takes the defaults', () => {
    const client = clients[0]!;
    for (const prefix of ['', 'a}', 5 as unknown as string]) expect(() => new RedisTopicStore(client, { prefix }), String(prefix)).toThrow(`Invalid option prefix: ${JSON.stringify(prefix)}`);
    for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 53]) {
      expect(() => new RedisTopicStore(client, { maxEntriesPerTopic: bad })).toThrow(`Invalid option maxEntriesPerTopic: ${bad}`);
      expect(() => new RedisTopicStore(client, { topicTtlMs: bad })).toThrow(`Invalid option topicTtlMs: ${bad}`);
    }
    expect(new RedisTopicStore(client, { maxEntriesPerTopic: 1, topicTtlMs: 1 }).prefix).toBe('wsl');
    expect(new RedisTopicStore(client, { prefix: undefined }).channel(0)).toBe(`wsl:c:${partitionTag(0)}`);
  });

  it('keeps each topic in keys of its own, which expire topicTtlMs after the last append', async () => {
    const short = new RedisTopicStore(clients[0]!, { prefix: PREFIX, topicTtlMs: 60_000 });
    const x = await short.append('x', '"x1"');
    const y = await short.append('y', '"y1"');
    await short.append('x', '"x2"');
    const readX = await short.readAfter('x', x.epoch, 0);
    const readY = await short.readAfter('y', y.epoch, 0);
    expect(readX.recovered && readX.entries.map((e) => e.payload)).toEqual(['"x1"', '"x2"']);
    expect(readY.recovered && readY.entries.map((e) => e.payload)).toEqual(['"y1"']);
    for (const key of keys('x')) {
      const ttl = Number(await clients[0]!.sendCommand(['PTTL', key]));
      expect(ttl, key).toBeGreaterThan(50_000);
      expect(ttl, key).toBeLessThanOrEqual(60_000);
    }
  });

  it('reads an offset below 0 or not an integer as future_offset', async () => {
    const { epoch } = await store.append('odd', '"1"');
    await store.append('odd', '"2"');
    for (const offset of [-1, 0.5, Number.NaN, 2 ** 53]) {
      expect(await store.readAfter('odd', epoch, offset), String(offset)).toEqual({ recovered: false, reason: 'future_offset', epoch, offset: 2 });
    }
  });

  it('fans out with PUBLISH, or SPUBLISH on the shard channel when told (Redis Cluster)', async () => {
    for (const shardedPubSub of [false, true]) {
      const subscriber = createClient({ url: sharedRedis().url });
      subscriber.on('error', () => {});
      await subscriber.connect();
      const heard: string[] = [];
      const channel = store.channel(partitionOf('fan-mode'));
      await subscriber.subscribe(channel, () => heard.push('publish'));
      await subscriber.sSubscribe(channel, () => heard.push('spublish'));
      const publisher = new RedisTopicStore(clients[0]!, { prefix: PREFIX, shardedPubSub });
      await publisher.append('fan-mode', '"m"');
      await waitFor(() => heard.length > 0, 2_000, 'the message on its channel');
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(heard).toEqual([shardedPubSub ? 'spublish' : 'publish']);
      await subscriber.close();
    }
  });

  it('clear deletes every key under its prefix, past one SCAN page, and nothing else', async () => {
    const prefix = `${PREFIX}-clear`;
    const client = clients[0]!;
    const own = new RedisTopicStore(client, { prefix });
    await Promise.all(Array.from({ length: 400 }, (_, i) => own.append(`t${i}`, '"1"')));
    await client.sendCommand(['SET', `${PREFIX}-clearx`, '1']);
    const count = async (): Promise<number> => {
      let cursor = '0';
      let found = 0;
      do {
        const [next, page] = await client.sendCommand<[string, string[]]>(['SCAN', cursor, 'MATCH', `${prefix}:*`, 'COUNT', '1000']);
        cursor = next;
        found += page.length;
      } while (cursor !== '0');
      return found;
    };
    expect(await count()).toBe(800);
    await own.clear();
    expect(await count()).toBe(0);
    expect(String(await client.sendCommand(['GET', `${PREFIX}-clearx`]))).toBe('1');
    await client.del([`${PREFIX}-clearx`]);
    // A commander over several servers: each of its primaries.
    await own.append('again', '"1"');
    const asked: number[] = [];
    const servers = Object.assign(Object.create(null) as object, {
      sendCommand: client.sendCommand.bind(client),
      primaries: () => {
        asked.push(1);
        return Promise.resolve([client]);
      }
    }) as RedisCommander & RedisServers;
    await new RedisTopicStore(servers, { prefix }).clear();
    expect(asked).toEqual([1]);
    expect(await count()).toBe(0);
  });
});

describe('RedisBroker', () => {
  it('hands every node every message, in offset order per topic', async () => {
    const heard: TopicMessage[][] = [[], []];
    const brokers = await Promise.all(
      heard.map(async (list) => {
        const broker = new RedisBroker((await connect()) as never, { prefix: PREFIX });
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

  it('resyncs once a probe came back through its subscription', async () => {
    const resyncs: number[] = [];
    const subscriber = await connect();
    const broker = new RedisBroker(subscriber as never, { prefix: PREFIX, publisher: clients[0]! });
    broker.listen({ message: () => {}, resync: () => resyncs.push(Date.now()) });
    // Not subscribed yet: nothing can come back, so nothing is resynced.
    await broker.resync();
    expect(resyncs).toHaveLength(0);
    await broker.start();
    const started = Date.now();
    await broker.resync();
    expect(resyncs).toHaveLength(1);
    // Heard back well within the probe's wait of a second.
    expect(resyncs[0]! - started).toBeLessThan(900);
    await broker.stop();
  });

  it('reads a topic (any characters), a probe, and nothing malformed from a partition channel', () => {
    const channel = Buffer.from(`${PREFIX}:c:{x}`);
    const topic = 'room:a\nb:c';
    const body = Buffer.concat([Buffer.from(`${Buffer.byteLength(topic)}:${topic}e1\n7\ns`), Buffer.from('"hi"')]);
    expect(parseBrokerMessage(PREFIX, channel, body)).toEqual({ kind: 'message', message: { topic, epoch: 'e1', offset: 7, payload: '"hi"' } });
    expect(parseBrokerMessage(PREFIX, channel, Buffer.from('0:token'))).toEqual({ kind: 'probe', token: 'token' });
    for (const bad of ['', 'x:', '5:ab', '99999999999:a', '1:ae1\n0\ns1', '1:ae1\n7', '-1:a']) expect(parseBrokerMessage(PREFIX, channel, Buffer.from(bad)), bad).toBeUndefined();
    expect(parseBrokerMessage(PREFIX, Buffer.from('other:c:{x}'), body)).toBeUndefined();
  });
});
