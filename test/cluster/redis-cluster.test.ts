/**
 * Nodes on a Redis Cluster (#23): three primaries of this test's own on
 * loopback ports, three nodes of ours. Topics on every shard, delivered
 * across nodes and resumed on another node; session records and presence
 * spread over the slots; a topic's slot moved to another shard while tabs
 * follow it and a publisher keeps publishing (`CLUSTER SETSLOT` and
 * `MIGRATE`, key by key); a shard's primary lost and back empty. Every
 * tab is counted from the raw frames its sockets received: every
 * acknowledged message once, or told.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hashSlot, moveSlot, until, type RedisClusterProcesses, type RedisProcess } from '../../examples/cluster/redis-processes.js';
import { tallyFrames, type Acknowledged, type EndPosition, type FrameTally } from '../../examples/cluster/tab-frames.js';
import { SessionClient, type ClientSocketConstructor } from '../../src/client/session-client.js';
import { RedisCluster } from '../../src/cluster/redis.js';
import { partitionOf, partitionTag } from '../../src/cluster/redis-slots.js';
import { userTopic } from '../../src/sessions/session-hub.js';
import type { ConnectionRecord } from '../../src/tools/conformance/records.js';
import { recordingWebSocket } from '../../src/tools/conformance/recording-socket.js';
import { ownRedisCluster, stopOwnRedis } from '../support/redis-servers.js';
import { silentLogger, startServer, waitFor, type TestServer } from '../support/server.js';

let redis: RedisClusterProcesses;
const cleanups: Array<() => unknown> = [];

beforeAll(async () => {
  redis = await ownRedisCluster(3);
}, 30_000);

afterAll(async () => {
  await stopOwnRedis();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Node {
  server: TestServer;
  cluster: RedisCluster;
}

/** Three nodes of ours on the cluster, under `prefix`. */
async function nodes(prefix: string): Promise<[Node, Node, Node]> {
  const [a, b, c] = await Promise.all(
    Array.from({ length: 3 }, async (_, i) => {
      const cluster = await RedisCluster.connect({ clusterNodes: redis.seeds, prefix, nodeId: `node-${i + 1}`, heartbeatMs: 50, logger: silentLogger(), maxReconnectDelayMs: 100 });
      const server = await startServer({ heartbeatIntervalMs: 0, cluster, sessions: { ttlMs: 30_000 } });
      cleanups.push(async () => {
        await server.stop();
        await cluster.close();
      });
      return { server, cluster };
    })
  );
  return [a!, b!, c!];
}

interface Tab {
  user: string;
  records: ConnectionRecord[];
  client: SessionClient;
}

function tab(user: string, port: number, records: ConnectionRecord[] = [], resume?: SessionClient): Tab {
  const client = new SessionClient({
    url: `ws://127.0.0.1:${port}/?user=${user}`,
    WebSocket: recordingWebSocket({ name: user, user, records }) as unknown as ClientSocketConstructor,
    minDelayMs: 10,
    maxDelayMs: 50,
    resume: resume && { session: resume.session!, cursors: resume.cursors }
  });
  client.start();
  cleanups.push(() => client.close());
  return { user, records, client };
}

/** The slot a topic's keys and channel live in. */
function slotOf(topic: string): number {
  return hashSlot(partitionTag(partitionOf(topic)));
}

/** One user per primary: the first `user-<n>` whose topic lives there. */
async function usersOnEveryShard(): Promise<Map<RedisProcess, string>> {
  const found = new Map<RedisProcess, string>();
  for (let n = 0; found.size < redis.primaries.length && n < 10_000; n++) {
    const owner = await redis.owner(slotOf(userTopic(`user-${n}`)));
    if (!found.has(owner)) found.set(owner, `user-${n}`);
  }
  return found;
}

const idOf = (data: unknown): string | undefined => (data as { id?: string } | null)?.id;

/** A tab's tally of `topic`, from every frame its sockets received. */
function tally(t: Tab, topic: string, acknowledged: readonly Acknowledged[], end: EndPosition): FrameTally {
  return tallyFrames(t.records.flatMap((r) => r.received), topic, acknowledged, end, idOf);
}

function messages(t: Tab, topic: string): number {
  return t.records.flatMap((r) => r.received).filter((f) => typeof f === 'string' && f.startsWith('{"type":"message"') && f.includes(`"topic":${JSON.stringify(topic)}`)).length;
}

describe('nodes on a Redis Cluster of three primaries', () => {
  it('puts a topic\'s keys and channel in the slot Redis Cluster computes for them', async () => {
    const node = redis.primaries[0]!;
    for (const key of ['user:alice', 'room:ä €', 'a{b}c', '{}x', 'x{y', partitionTag(0), partitionTag(255), `wsl:t:${partitionTag(partitionOf('user:bob'))}:user:bob:h`]) {
      expect(hashSlot(key), key).toBe(await node.command('CLUSTER', 'KEYSLOT', key));
    }
  });

  it('delivers topics of every shard across nodes, resumes a tab on another node, shares session records and presence', async () => {
    const prefix = `wsl-test-${randomUUID().slice(0, 8)}`;
    const [a, b, c] = await nodes(prefix);
    const users = [...(await usersOnEveryShard()).values()];
    expect(users).toHaveLength(3);
    const tabs = users.map((user, i) => tab(user, [a, b, c][i]!.server.port));
    await waitFor(() => tabs.every((t) => t.client.state === 'open'), 5_000, 'tabs open');
    const acknowledged: Acknowledged[] = [];
    const publish = async (from: Node, user: string, id: string): Promise<void> => {
      const result = await from.server.manager.publish(userTopic(user), { id });
      expect(result, id).toMatchObject({ ok: true });
      acknowledged.push({ topic: userTopic(user), epoch: result.epoch, offset: result.offset, id });
    };
    // Each user's topic published from the two nodes its tab is not on.
    for (let n = 1; n <= 4; n++) for (const [i, user] of users.entries()) await publish([a, b, c][(i + 1 + (n % 2)) % 3]!, user, `${user}-${n}`);
    await waitFor(() => tabs.every((t) => messages(t, userTopic(t.user)) === 4), 5_000, 'four on every tab');

    // Presence: every node counts every tab, whatever slot its node's hash is in.
    await until(async () => (await a.server.manager.clusterCounts()).connections === 3, 5_000, 'presence over the slots');
    expect(await c.server.manager.clusterCounts()).toEqual({ nodes: 3, users: 3, connections: 3 });
    expect(await b.server.manager.presence(users[0]!)).toMatchObject({ connections: 1, nodes: ['node-1'] });

    // The first tab leaves a, its topic moves on, it comes back on c: the shared record resumes it there.
    const first = tabs[0]!;
    first.client.close();
    await waitFor(() => first.client.state === 'closed', 5_000, 'closed');
    for (let n = 5; n <= 7; n++) await publish(b, users[0]!, `${users[0]}-${n}`);
    const back = tab(users[0]!, c.server.port, first.records, first.client);
    await waitFor(() => messages(back, userTopic(users[0]!)) === 7, 5_000, 'the replay on c');
    const resumed = first.records.slice(1).flatMap((r) => r.received).find((f) => typeof f === 'string' && f.startsWith('{"type":"welcome"'));
    expect(JSON.parse(String(resumed))).toMatchObject({ resumed: true, session: first.client.session });

    for (const [i, t] of [back, tabs[1]!, tabs[2]!].entries()) {
      const topic = userTopic(users[i]!);
      const end = await a.cluster.store.position(topic);
      expect(tally(t, topic, acknowledged, end), topic).toMatchObject({ lost: 0, duplicated: 0, diverged: 0, told: {}, caughtUp: true });
    }
  }, 30_000);

  it('moves a topic\'s slot to another shard while tabs follow it and a publisher publishes: nothing lost untold, the last one too', async () => {
    const prefix = `wsl-test-${randomUUID().slice(0, 8)}`;
    const [a, b, c] = await nodes(prefix);
    const [source, user] = [...(await usersOnEveryShard()).entries()][0]!;
    const topic = userTopic(user);
    const slot = slotOf(topic);
    const target = redis.primaries.find((p) => p !== source)!;
    const tabs = [tab(user, a.server.port), tab(user, b.server.port)];
    await waitFor(() => tabs.every((t) => t.client.state === 'open'), 5_000, 'tabs open');

    const acknowledged: Acknowledged[] = [];
    const refused: string[] = [];
    let n = 0;
    const publishOne = async (): Promise<void> => {
      const id = `m-${++n}`;
      const result = await c.server.manager.publish(topic, { id });
      if (result.ok) acknowledged.push({ topic, epoch: result.epoch, offset: result.offset, id });
      else refused.push(id);
    };
    for (let i = 0; i < 5; i++) await publishOne();
    // Keys one by one, publishes meanwhile: the topic's hash and stream are on two shards for a while (TRYAGAIN, sent again).
    let publishing = true;
    const publisher = (async () => {
      while (publishing) await publishOne();
    })();
    const split: Array<Promise<void>> = [];
    await moveSlot(redis, slot, target, {
      batch: 1,
      betweenBatches: () => (split.push(publishOne()), new Promise((resolve) => setTimeout(resolve, 20))),
      // The last one goes to the target by ASK and is published there, where no node listens yet; nothing follows it.
      beforeSettling: async () => {
        publishing = false;
        await Promise.all([publisher, ...split]);
        await publishOne();
      }
    });
    expect(await redis.owner(slot)).toBe(target);
    expect(refused).toEqual([]);
    expect(acknowledged.length).toBe(n);

    const end = await a.cluster.store.position(topic);
    await waitFor(() => tabs.every((t) => tally(t, topic, acknowledged, end).caughtUp), 10_000, 'both tabs where the topic ends');
    for (const t of tabs) {
      const result = tally(t, topic, acknowledged, end);
      expect(result).toMatchObject({ lost: 0, duplicated: 0, diverged: 0, caughtUp: true });
      // The moved history holds under another shard's replication id: the topic continues in a new epoch, told once.
      expect(Object.keys(result.told).every((reason) => reason === 'epoch_changed') && (result.told.epoch_changed ?? 0) <= 1, JSON.stringify(result.told)).toBe(true);
    }
  }, 60_000);

  it('a shard lost and back empty: nodes are not ready meanwhile, its topics continue in a new epoch (told), the others as they were', async () => {
    const prefix = `wsl-test-${randomUUID().slice(0, 8)}`;
    const [a, b] = await nodes(prefix);
    const shards = [...(await usersOnEveryShard()).entries()];
    const [lost, lostUser] = shards[0]!;
    const keptUser = shards[1]![1];
    const tabs = [tab(lostUser, a.server.port), tab(keptUser, b.server.port)];
    await waitFor(() => tabs.every((t) => t.client.state === 'open'), 5_000, 'tabs open');
    const acknowledged: Acknowledged[] = [];
    const publish = async (user: string, id: string): Promise<void> => {
      const result = await a.server.manager.publish(userTopic(user), { id });
      expect(result, id).toMatchObject({ ok: true });
      acknowledged.push({ topic: userTopic(user), epoch: result.epoch, offset: result.offset, id });
    };
    for (let n = 1; n <= 3; n++) for (const user of [lostUser, keptUser]) await publish(user, `${user}-${n}`);
    await waitFor(() => tabs.every((t) => messages(t, userTopic(t.user)) === 3), 5_000, 'three on each tab');

    await lost.kill();
    await waitFor(() => a.cluster.state === 'degraded' && b.cluster.state === 'degraded', 10_000, 'both nodes degraded');
    expect(a.cluster.readiness().ready).toBe(false);
    expect(await a.server.manager.publish(userTopic(lostUser), { id: 'refused' })).toMatchObject({ ok: false, reason: 'store_unavailable' });
    // Back on its port with its cluster configuration (the node's identity and slots) and no data.
    await lost.start();
    await waitFor(() => a.cluster.state === 'ready' && b.cluster.state === 'ready', 20_000, 'both nodes ready again');
    for (let n = 4; n <= 5; n++) for (const user of [lostUser, keptUser]) await publish(user, `${user}-${n}`);

    const ends = new Map<string, EndPosition>();
    for (const user of [lostUser, keptUser]) ends.set(user, await a.cluster.store.position(userTopic(user)));
    const own = (t: Tab): FrameTally => tally(t, userTopic(t.user), acknowledged, ends.get(t.user)!);
    await waitFor(() => tabs.every((t) => own(t).caughtUp), 10_000, 'both tabs where their topics end');
    expect(own(tabs[0]!)).toMatchObject({ lost: 0, duplicated: 0, diverged: 0, told: { epoch_changed: 1 }, caughtUp: true });
    expect(own(tabs[1]!)).toMatchObject({ lost: 0, duplicated: 0, diverged: 0, told: {}, caughtUp: true });
  }, 60_000);
});
