/**
 * ws-lifecycle/metrics on a cluster node (#22), on the suite's Redis: the
 * node's state read from the RedisCluster, delivery lag measured whichever
 * copy of a message (this node's or the broker's) reaches the tab first, and
 * the store's failures counted once the node lost Redis. Key prefix of its
 * own, deleted afterwards.
 */
import { randomUUID } from 'node:crypto';
import { MeterProvider, type Histogram } from '@opentelemetry/sdk-metrics';
import { WebSocket } from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { SessionClient, type ClientSocketConstructor } from '../../src/client/session-client.js';
import { RedisCluster } from '../../src/cluster/redis.js';
import { LifecycleMetrics } from '../../src/metrics/lifecycle-metrics.js';
import { sharedRedis } from '../support/redis-servers.js';
import { silentLogger, startServer, waitFor, type TestServer } from '../support/server.js';
import { TestReader } from './reader.js';

const PREFIX = `wsl-metrics-${randomUUID().slice(0, 8)}`;
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

describe('metrics of a cluster node', () => {
  it("reads the node's state, times delivery whichever copy arrives first, and counts the store's failures", async () => {
    const cluster = await RedisCluster.connect({ url: sharedRedis().url, prefix: PREFIX, nodeId: 'metrics', logger: silentLogger() });
    // Cleared while the test still has Redis; closing again is a no-op.
    cleanup.push(() => cluster.close(), () => cluster.store.clear().catch(() => {}));
    const reader = new TestReader();
    const provider = new MeterProvider({ readers: [reader] });
    cleanup.push(() => provider.shutdown());
    const server: TestServer = await startServer({
      heartbeatIntervalMs: 0,
      cluster,
      sessions: { ttlMs: 5_000 },
      metrics: new LifecycleMetrics(provider.getMeter('test'), { cluster, topics: ['prices'] })
    });
    cleanup.push(() => server.stop());
    const state = async (): Promise<unknown> => (await reader.points('ws_lifecycle.node.state')).find((point) => point.value === 1)?.attributes;
    expect(await state()).toEqual({ 'ws_lifecycle.node.state': 'ready' });

    server.manager.subscribe('carol', 'prices');
    const client = new SessionClient({ url: `ws://127.0.0.1:${server.port}/?user=carol`, WebSocket: WebSocket as unknown as ClientSocketConstructor });
    cleanup.push(() => client.close());
    let recoveries = 0;
    let messages = 0;
    client.on('recovery', () => recoveries++);
    client.on('message', () => messages++);
    client.start();
    await waitFor(() => recoveries === 3, 5_000, 'the tab told where it stands in broadcast, user:carol and prices');
    const published = 5;
    for (let i = 0; i < published; i++) expect((await server.manager.publish('prices', { i })).ok).toBe(true);
    await waitFor(() => messages === published, 5_000, `the tab to get the ${published} messages`);
    const lag = await reader.points('ws_lifecycle.delivery.lag');
    expect(lag.map((point) => [point.attributes, (point.value as Histogram).count])).toEqual([[{ 'ws_lifecycle.topic': 'prices' }, published]]);
    expect(await reader.points('ws_lifecycle.store.errors')).toEqual([]);
    expect((await reader.points('ws_lifecycle.redis.errors')).map((point) => point.value)).toEqual([cluster.redisErrors]);

    // Redis gone: the node stops, and each publish's append fails and is counted.
    await cluster.store.clear();
    await cluster.close();
    expect(await state()).toEqual({ 'ws_lifecycle.node.state': 'stopped' });
    const failed = 2;
    for (let i = 0; i < failed; i++) expect(await server.manager.publish('prices', { late: i })).toMatchObject({ ok: false, reason: 'store_unavailable' });
    const errors = await reader.points('ws_lifecycle.store.errors');
    expect(errors.filter((point) => point.attributes['ws_lifecycle.store.operation'] === 'append').reduce((sum, point) => sum + (point.value as number), 0)).toBe(failed);
  }, 30_000);
});
