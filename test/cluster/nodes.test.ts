/**
 * Two nodes on one Redis (the suite's) in one process (#12): a tab on node A gets what
 * node B publishes; a tab that drops from A resumes on B with every
 * message it missed, once, in order; a client message resent to the
 * other node is delivered once cluster-wide; presence counts both nodes;
 * a node's readiness follows its lifecycle. Key prefix of its own, deleted
 * afterwards.
 */
import { randomUUID } from 'node:crypto';
import { WebSocket } from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { SessionClient, type ClientMessage, type ClientSocketConstructor } from '../../src/client/session-client.js';
import { RedisCluster } from '../../src/cluster/redis.js';
import { userTopic } from '../../src/sessions/session-hub.js';
import { sharedRedis } from '../support/redis-servers.js';
import { silentLogger, startServer, waitFor, type TestServer } from '../support/server.js';

const PREFIX = `wsl-test-${randomUUID().slice(0, 8)}`;
const started: Array<{ server: TestServer; cluster: RedisCluster }> = [];
const clients: SessionClient[] = [];

async function node(name: string): Promise<{ server: TestServer; cluster: RedisCluster }> {
  const cluster = await RedisCluster.connect({ url: sharedRedis().url, prefix: PREFIX, nodeId: name, heartbeatMs: 50, logger: silentLogger() });
  const server = await startServer({ heartbeatIntervalMs: 0, cluster, sessions: { ttlMs: 5_000 } });
  const pair = { server, cluster };
  started.push(pair);
  return pair;
}

function tab(port: number, user: string, resume?: SessionClient): { client: SessionClient; messages: ClientMessage[] } {
  const client = new SessionClient({
    url: `ws://127.0.0.1:${port}/?user=${user}`,
    WebSocket: WebSocket as unknown as ClientSocketConstructor,
    minDelayMs: 10,
    maxDelayMs: 50,
    resume: resume && { session: resume.session!, cursors: resume.cursors }
  });
  clients.push(client);
  const messages: ClientMessage[] = [];
  client.on('message', (message) => messages.push(message));
  client.start();
  return { client, messages };
}

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  const pairs = started.splice(0);
  for (const { server } of pairs) await server.stop();
  await pairs[0]?.cluster.store.clear();
  for (const { cluster } of pairs) await cluster.close();
});

describe('two nodes on one Redis', () => {
  it('delivers across nodes, resumes a tab on the other node with what it missed, delivers a resent message once', async () => {
    const a = await node('a');
    const b = await node('b');
    const delivered: unknown[] = [];
    for (const { server } of [a, b]) server.manager.on('sessionMessage', (_connection, data) => delivered.push(data));
    const first = tab(a.server.port, 'alice');
    await waitFor(() => first.client.state === 'open', 5_000, 'open on a');

    // Published on b, received through a.
    for (let n = 1; n <= 3; n++) expect(await b.server.manager.sendToUser('alice', { n })).toMatchObject({ rejected: 0 });
    await waitFor(() => first.messages.length === 3, 5_000, 'three across nodes');
    expect(await first.client.send({ ask: 'once' })).toEqual({ ok: true });

    // The tab leaves a; b keeps publishing; the tab comes back on b.
    first.client.close();
    await waitFor(() => a.server.manager.size === 0, 5_000, 'a sees the close');
    for (let n = 4; n <= 6; n++) await b.server.manager.sendToUser('alice', { n });
    const back = tab(b.server.port, 'alice', first.client);
    await waitFor(() => back.messages.length === 3, 5_000, 'the replay on b');
    await a.server.manager.sendToUser('alice', { n: 7 });
    await waitFor(() => back.messages.length === 4, 5_000, 'live on b from a');
    expect([...first.messages, ...back.messages].map((m) => [m.topic, m.offset, m.data])).toEqual(
      [1, 2, 3, 4, 5, 6, 7].map((n) => [userTopic('alice'), n, { n }])
    );

    // The same client instance's message id arrives at b again: acknowledged, not delivered again.
    const raw = new WebSocket(`ws://127.0.0.1:${b.server.port}/?user=alice`, ['ws-lifecycle.v1']);
    const acks: unknown[] = [];
    raw.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as { type: string };
      if (frame.type === 'ack') acks.push(frame);
    });
    await new Promise((resolve) => raw.once('open', resolve));
    raw.send(JSON.stringify({ type: 'hello', client: first.client.clientId, session: back.client.session, topics: back.client.cursors }));
    raw.send(JSON.stringify({ type: 'send', id: 1, data: { ask: 'once' } }));
    await waitFor(() => acks.length === 1, 5_000, 'the ack of the resend');
    raw.terminate();
    expect(delivered).toEqual([{ ask: 'once' }]);
  });

  it('answers presence over both nodes and drops a node that stopped', async () => {
    const a = await node('a');
    const b = await node('b');
    const onA = tab(a.server.port, 'alice');
    const onB = tab(b.server.port, 'alice');
    const bob = tab(b.server.port, 'bob');
    await waitFor(() => [onA, onB, bob].every((t) => t.client.state === 'open'), 5_000, 'tabs open');
    const converged = async (): Promise<boolean> => (await a.server.manager.presence('alice')).connections === 2;
    for (let i = 0; i < 100 && !(await converged()); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await a.server.manager.presence('alice')).toEqual({ userId: 'alice', connections: 2, nodes: expect.arrayContaining(['a', 'b']) as unknown });
    expect(await b.server.manager.clusterCounts()).toEqual({ nodes: 2, users: 2, connections: 3 });
    expect(a.cluster.readiness()).toEqual({ ready: true, state: 'ready', nodeId: 'a' });
    expect(await a.cluster.nodes()).toEqual([{ nodeId: 'a', state: 'ready' }, { nodeId: 'b', state: 'ready' }]);
    // A node that drains says so at once: the others see it before its next heartbeat.
    b.cluster.drain();
    let seen: Array<{ nodeId: string; state: string }> = [];
    for (let i = 0; i < 100 && seen[1]?.state !== 'draining'; i++) {
      seen = await a.cluster.nodes();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(seen).toEqual([{ nodeId: 'a', state: 'ready' }, { nodeId: 'b', state: 'draining' }]);

    // b goes away: its connections leave presence.
    const gone = started.splice(1, 1)[0]!;
    await gone.server.stop();
    await gone.cluster.close();
    expect(gone.cluster.readiness()).toMatchObject({ ready: false, state: 'stopped' });
    expect(await a.server.manager.presence('alice')).toEqual({ userId: 'alice', connections: 1, nodes: ['a'] });
    expect(await a.server.manager.presence('bob')).toEqual({ userId: 'bob', connections: 0, nodes: [] });
    expect(await a.cluster.nodes()).toEqual([{ nodeId: 'a', state: 'ready' }]);
  });
});
