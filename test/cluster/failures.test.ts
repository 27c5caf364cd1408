/**
 * Real failures of a cluster (#12), each against real Redis processes:
 * a node process killed with SIGKILL mid-run (child processes behind a
 * round-robin proxy, the cluster demo at a small size); a Redis this test
 * starts on a port of its own and restarts empty mid-run (the others use
 * the suite's); a TCP proxy
 * between one node and Redis cut and restored; a Redis of the test's own
 * stalled (SIGSTOP) and resumed; two nodes publishing to one topic at
 * once. Every test uses its own key prefix and cleans up.
 */
import { randomUUID } from 'node:crypto';
import { WebSocket } from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { runClusterDemo } from '../../examples/cluster/run-cluster-demo.js';
import { TcpProxy } from '../../examples/cluster/tcp-proxy.js';
import { SessionClient, type ClientMessage, type ClientRecovery, type ClientSocketConstructor } from '../../src/client/session-client.js';
import { RedisCluster, type RedisClusterOptions } from '../../src/cluster/redis.js';
import type { ConnectionManagerOptions } from '../../src/index.js';
import { ownRedis, sharedRedis, stopOwnRedis } from '../support/redis-servers.js';
import { silentLogger, startServer, waitFor, type TestServer } from '../support/server.js';
import { isWelcome, openSessionClient } from '../support/session-client.js';

const ALICE = 'user:alice';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await stopOwnRedis();
});

async function node(
  name: string,
  url: string,
  prefix: string,
  options: { cluster?: RedisClusterOptions; server?: ConnectionManagerOptions } = {}
): Promise<{ server: TestServer; cluster: RedisCluster }> {
  const cluster = await RedisCluster.connect({
    url,
    prefix,
    nodeId: name,
    heartbeatMs: 50,
    logger: silentLogger(),
    maxReconnectDelayMs: 100,
    ...options.cluster
  });
  const server = await startServer({ heartbeatIntervalMs: 0, cluster, sessions: { ttlMs: 10_000 }, ...options.server });
  cleanups.push(async () => {
    await server.stop();
    await cluster.close();
  });
  return { server, cluster };
}

function tab(port: number, user: string): { client: SessionClient; messages: ClientMessage[]; recoveries: ClientRecovery[] } {
  const client = new SessionClient({ url: `ws://127.0.0.1:${port}/?user=${user}`, WebSocket: WebSocket as unknown as ClientSocketConstructor, minDelayMs: 10, maxDelayMs: 50 });
  cleanups.push(() => client.close());
  const messages: ClientMessage[] = [];
  const recoveries: ClientRecovery[] = [];
  client.on('message', (message) => messages.push(message));
  client.on('recovery', (recovery) => recoveries.push(recovery));
  client.start();
  return { client, messages, recoveries };
}

describe('cluster failures', () => {
  it('a node killed with SIGKILL mid-run: its tabs resume on the others, lost 0 and duplicated 0 everywhere, presence drops it', async () => {
    const summary = await runClusterDemo({ nodes: 3, users: 2, tabs: 3, seconds: 2.5, killAt: 1.2, redis: sharedRedis().url });
    console.log(`[cluster kill] seed=${summary.seed} killed ${summary.killed.nodeId}: ${summary.killed.tabs} tabs back after ${summary.killed.allBackAfterMs} ms, presence after ${summary.killed.presenceAfterMs} ms`);
    expect(summary.killed.tabs).toBeGreaterThan(0);
    expect(summary.killed.allBackAfterMs).toBeDefined();
    for (const tab of summary.perTab) {
      expect(tab, tab.tab).toMatchObject({ lost: 0, duplicated: 0, caughtUp: true });
      expect(tab.published).toBeGreaterThan(0);
    }
    // Heartbeats every 250 ms, a node dead after 750 ms without one: counted out well within 3 s.
    expect(summary.killed.presenceAfterMs).toBeDefined();
    expect(summary.killed.presenceAfterMs!).toBeLessThan(3_000);
    expect(summary.sendAfterCloseErrors).toBe(0);
  }, 60_000);

  it('Redis restarted empty: publishes during the outage are refused with a reason, then a new epoch is told, never a silent gap', async () => {
    const redis = await ownRedis();
    const prefix = `wsl-test-${randomUUID().slice(0, 8)}`;
    const a = await node('a', redis.url, prefix);
    const alice = tab(a.server.port, 'alice');
    await waitFor(() => alice.client.state === 'open', 5_000, 'open');
    for (let n = 1; n <= 3; n++) await a.server.manager.sendToUser('alice', { n });
    await waitFor(() => alice.messages.length === 3, 5_000, 'three');
    const oldEpoch = alice.messages[0]!.epoch;

    await redis.kill();
    await waitFor(() => a.cluster.state === 'degraded', 5_000, 'degraded');
    expect(a.cluster.readiness()).toMatchObject({ ready: false, state: 'degraded' });
    expect(await a.server.manager.publish('user:alice', { n: 'lost?' })).toMatchObject({ ok: false, reason: 'store_unavailable' });
    expect(await a.server.manager.sendToUser('alice', { n: 'lost?' })).toMatchObject({ rejected: 1, reasons: { store_unavailable: 1 } });

    await redis.start();
    await waitFor(() => a.cluster.state === 'ready', 10_000, 'ready again');
    for (let n = 1; n <= 2; n++) expect(await a.server.manager.publish('user:alice', { m: n })).toMatchObject({ ok: true, offset: n });
    await waitFor(() => alice.messages.length === 5, 5_000, 'the new epoch');
    const newEpoch = alice.messages[3]!.epoch;
    expect(newEpoch).not.toBe(oldEpoch);
    expect(alice.messages.map((m) => [m.epoch === oldEpoch ? 'old' : 'new', m.offset])).toEqual([['old', 1], ['old', 2], ['old', 3], ['new', 1], ['new', 2]]);
    // Told before the first message of the new epoch: where the new stream starts.
    expect(alice.recoveries.filter((r) => r.topic === 'user:alice' && r.reason === 'epoch_changed')).toEqual([
      { topic: 'user:alice', recovered: false, reason: 'epoch_changed', epoch: newEpoch, offset: 0 }
    ]);
  }, 30_000);

  it('Redis restarted empty while a tab was away: its resume is told epoch_changed at 0 of the new epoch, then every message of it, in order', async () => {
    const redis = await ownRedis();
    const a = await node('a', redis.url, `wsl-test-${randomUUID().slice(0, 8)}`);
    const away = await openSessionClient(a.server.port, 'alice');
    cleanups.push(() => away.ws.terminate());
    away.hello(undefined, undefined, 'tab0000000000001');
    const { session } = await away.next(isWelcome, 'welcome');
    await a.server.manager.sendToUser('alice', 'before');
    await waitFor(() => away.messages(ALICE).length === 1, 5_000, 'one message');
    const last = away.frames.findLast((frame) => frame.type === 'message')!;
    away.ws.terminate();
    await away.closed;

    await redis.kill();
    await waitFor(() => a.cluster.state === 'degraded', 5_000, 'degraded');
    await redis.start();
    await waitFor(() => a.cluster.state === 'ready', 10_000, 'ready again');
    const published = [];
    for (const data of ['new 1', 'new 2', 'new 3']) published.push(await a.server.manager.publish(ALICE, data));
    expect(published.map((p) => [p.ok, p.offset])).toEqual([[true, 1], [true, 2], [true, 3]]);
    const { epoch } = published[0]!;

    // The session is still held on this node; its record in Redis went with the restart.
    const back = await openSessionClient(a.server.port, 'alice');
    cleanups.push(() => back.ws.terminate());
    back.hello(session, { [ALICE]: { epoch: last.epoch, offset: last.offset } }, 'tab0000000000001');
    await waitFor(() => back.messages(ALICE).length === 3, 5_000, 'the new epoch');
    await a.server.manager.publish(ALICE, 'live');
    await waitFor(() => back.messages(ALICE).length === 4, 5_000, 'live');
    expect(back.frames.filter((frame) => 'topic' in frame && frame.topic === ALICE)).toEqual([
      { type: 'recovery', topic: ALICE, recovered: false, reason: 'epoch_changed', epoch, offset: 0 },
      ...['new 1', 'new 2', 'new 3', 'live'].map((data, i) => ({ type: 'message', topic: ALICE, epoch, offset: i + 1, data }))
    ]);
  }, 30_000);

  it('a node cut off from Redis and back: what it missed is read from the streams and delivered in order, once', async () => {
    const prefix = `wsl-test-${randomUUID().slice(0, 8)}`;
    const proxy = await TcpProxy.start([sharedRedis().port]);
    cleanups.push(() => proxy.close());
    const a = await node('a', `redis://127.0.0.1:${proxy.port}`, prefix);
    const b = await node('b', sharedRedis().url, prefix);
    cleanups.push(() => b.cluster.store.clear());
    const alice = tab(a.server.port, 'alice');
    await waitFor(() => alice.client.state === 'open', 5_000, 'open');
    await b.server.manager.sendToUser('alice', { n: 1 });
    await waitFor(() => alice.messages.length === 1, 5_000, 'one');

    proxy.cut();
    await waitFor(() => a.cluster.state === 'degraded', 5_000, 'a degraded');
    expect(a.cluster.readiness().ready).toBe(false);
    expect(await a.server.manager.publish('user:alice', { n: 'from a' })).toMatchObject({ ok: false, reason: 'store_unavailable' });
    // b publishes while a hears nothing.
    for (let n = 2; n <= 6; n++) expect(await b.server.manager.publish('user:alice', { n })).toMatchObject({ ok: true, offset: n });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(alice.messages).toHaveLength(1);

    proxy.restore();
    await waitFor(() => a.cluster.state === 'ready', 10_000, 'a ready again');
    await waitFor(() => alice.messages.length === 6, 5_000, 'the missed five');
    await b.server.manager.publish('user:alice', { n: 7 });
    await waitFor(() => alice.messages.length === 7, 5_000, 'live again');
    expect(alice.messages.map((m) => [m.offset, m.data])).toEqual([1, 2, 3, 4, 5, 6, 7].map((n) => [n, { n }]));
  }, 30_000);

  it('a Redis that stalls with its connections open (SIGSTOP): publishes refused with store_unavailable, the node degraded, a resume closed with 1013; all back once it answers', async () => {
    const redis = await ownRedis();
    const prefix = `wsl-test-${randomUUID().slice(0, 8)}`;
    // a bounds its Redis commands tightly; b keeps the default bound and pings its clients, so its wait for a session record is bounded by the heartbeat.
    const a = await node('a', redis.url, prefix, { cluster: { commandTimeoutMs: 300 } });
    const b = await node('b', redis.url, prefix, { server: { heartbeatIntervalMs: 600 } });
    // Runs before the nodes' own cleanups: closing them needs Redis to answer.
    cleanups.push(() => redis.kill('SIGCONT'));
    const tab = await openSessionClient(a.server.port, 'alice');
    cleanups.push(() => tab.ws.terminate());
    tab.hello(undefined, undefined, 'tab0000000000001');
    const { session } = await tab.next(isWelcome, 'welcome');
    const before = await a.server.manager.publish(ALICE, 'before');
    expect(before).toMatchObject({ ok: true, offset: 1 });

    await redis.kill('SIGSTOP');
    expect(await a.server.manager.publish(ALICE, 'stalled')).toMatchObject({ ok: false, reason: 'store_unavailable' });
    await waitFor(() => a.cluster.state === 'degraded', 10_000, 'a degraded');
    expect(a.cluster.readiness()).toMatchObject({ ready: false, state: 'degraded' });
    const resume = await openSessionClient(b.server.port, 'alice');
    cleanups.push(() => resume.ws.terminate());
    resume.hello(session, { [ALICE]: { epoch: before.epoch, offset: 1 } }, 'tab0000000000002');
    // Nothing of the session's topics, and no welcome: try again later (docs/protocol.md 1.4, 7).
    expect((await resume.closed).code).toBe(1013);
    expect(resume.frames).toEqual([]);

    await redis.kill('SIGCONT');
    await waitFor(() => a.cluster.state === 'ready', 10_000, 'a ready again');
    const after = await a.server.manager.publish(ALICE, 'after');
    expect(after).toMatchObject({ ok: true });
    // The append that timed out may still have run once Redis read it: then it is delivered like any other, in order.
    await waitFor(() => tab.messages(ALICE).some((m) => m.data === 'after'), 5_000, 'the tab live again');
    expect(tab.messages(ALICE).map((m) => m.offset)).toEqual(Array.from({ length: after.offset }, (_, i) => i + 1));
    const again = await openSessionClient(b.server.port, 'alice');
    cleanups.push(() => again.ws.terminate());
    again.hello(session, undefined, 'tab0000000000002');
    expect(await again.next(isWelcome, 'welcome')).toMatchObject({ session, resumed: true });
  }, 60_000);

  it('two nodes publishing to one topic at once: every tab gets 1..N in order, once', async () => {
    const prefix = `wsl-test-${randomUUID().slice(0, 8)}`;
    const a = await node('a', sharedRedis().url, prefix);
    const b = await node('b', sharedRedis().url, prefix);
    cleanups.push(() => a.cluster.store.clear());
    for (const { server } of [a, b]) {
      server.manager.subscribe('alice', 'room:ops');
      server.manager.subscribe('bob', 'room:ops');
    }
    const tabs = [tab(a.server.port, 'alice'), tab(b.server.port, 'bob')];
    await waitFor(() => tabs.every((t) => t.client.state === 'open'), 5_000, 'open');
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? a : b).server.manager.publish('room:ops', { i })));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(results.map((r) => r.offset).sort((x, y) => x - y)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    const room = (t: (typeof tabs)[number]): number[] => t.messages.filter((m) => m.topic === 'room:ops').map((m) => m.offset);
    await waitFor(() => tabs.every((t) => room(t).length === 200), 10_000, 'two hundred on both');
    for (const t of tabs) expect(room(t)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
  }, 30_000);
});
