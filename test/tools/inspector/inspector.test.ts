import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { ConnectionManager, type Connection, type TransitionRecord } from '../../../src/index.js';
import { createInspector, type Inspector, type InspectorCluster, type InspectorOptions, type InspectorSnapshot } from '../../../src/tools/inspector/inspector.js';
import { allowedTransitions, lifecycleChart, readChart } from '../../../src/core/machine-graph.js';
import { sessionMachine } from '../../../machines/session.machine.js';
import { isWelcome, openSessionClient } from '../../support/session-client.js';
import { silentLogger, startServer, waitFor, type TestServer } from '../../support/server.js';

const TOKEN = 'a-token-of-the-test-0123456789';

/** An HTTP server on 127.0.0.1 that serves only the inspector. */
async function serveInspector(
  manager: ConnectionManager,
  intervalMs = 20,
  options: Partial<InspectorOptions> = {}
): Promise<{ http: Server; inspector: Inspector; origin: string }> {
  const http = createServer();
  const inspector = createInspector(manager, { server: http, intervalMs, token: TOKEN, ...options });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  return { http, inspector, origin: `127.0.0.1:${(http.address() as AddressInfo).port}` };
}

/** A page socket that keeps every snapshot it is pushed. */
async function watch(origin: string): Promise<{ ws: WebSocket; snapshots: InspectorSnapshot[] }> {
  const ws = new WebSocket(`ws://${origin}/inspect/ws?token=${TOKEN}`);
  const snapshots: InspectorSnapshot[] = [];
  ws.on('message', (data) => snapshots.push(JSON.parse(data.toString()) as InspectorSnapshot));
  await waitFor(() => snapshots.length > 0, 5_000, 'the first snapshot');
  return { ws, snapshots };
}

/** The HTML of a chart's figure, from its start to the next figure's. */
function figureOf(html: string, chart: string): string | undefined {
  const start = html.indexOf(`<figure data-chart="${chart}">`);
  return start === -1 ? undefined : html.slice(start, html.indexOf('</figure>', start));
}

function record(seq: number): TransitionRecord {
  return { connectionId: 'c1', userId: 'u1', seq, from: 'connecting', to: 'connected', event: 'OPENED', at: Date.now() };
}

describe('inspector', () => {
  let server: TestServer | undefined;
  let http: Server | undefined;
  let inspector: Inspector | undefined;
  afterEach(async () => {
    await inspector?.close();
    if (http) {
      http.closeAllConnections();
      await new Promise((resolve) => http!.close(resolve));
    }
    await server?.stop();
    server = http = inspector = undefined;
  });

  it('serves one self-contained page with the connection and session charts and a strict CSP', async () => {
    const manager = new ConnectionManager({ logger: silentLogger() });
    let origin: string;
    ({ http, inspector, origin } = await serveInspector(manager));
    const response = await fetch(`http://${origin}/inspect?token=${TOKEN}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = response.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    const html = await response.text();
    const connection = figureOf(html, 'connection')!;
    for (const state of ['connecting', 'connected', 'closing', 'closed']) expect(connection).toContain(`data-count="${state}"`);
    for (const key of allowedTransitions()) expect(connection).toContain(`data-key="${key}"`);
    const session = figureOf(html, 'session')!;
    for (const state of ['attached', 'detached', 'expired']) expect(session).toContain(`data-count="${state}"`);
    for (const key of allowedTransitions(lifecycleChart(readChart(sessionMachine)))) expect(session).toContain(`data-key="${key}"`);
    // No cluster, no node chart.
    expect(figureOf(html, 'node')).toBeUndefined();
    expect(html).not.toContain('id="cluster"');
    expect(html).not.toMatch(/\s(src|href)="(?!data:)/);
    expect((await fetch(`http://${origin}/elsewhere`)).status).toBe(404);
    expect((await fetch(`http://${origin}/inspect?token=${TOKEN}`, { method: 'POST' })).status).toBe(405);
  });

  it('pushes counts as connections open and close', async () => {
    server = await startServer({ heartbeatIntervalMs: 0 });
    let origin: string;
    ({ http, inspector, origin } = await serveInspector(server.manager));
    const { ws, snapshots } = await watch(origin);
    const latest = (): InspectorSnapshot => snapshots.at(-1)!;
    expect(latest().counts.connected).toBe(0);

    // One at a time: connect() resolves with the next accepted connection.
    const opened = [await server.connect('ann'), await server.connect('bob')];
    await waitFor(() => latest().counts.connected === 2, 5_000, 'connected 2');
    expect(latest().edges['connecting|OPENED|connected']).toBe(2);
    expect(latest().live).toBe(2);

    await Promise.all(opened.map(({ connection }) => connection.close(1000, 'bye')));
    await waitFor(() => latest().counts.connected === 0 && latest().counts.closed === 2, 5_000, 'closed 2');
    expect(latest().edges['connected|CLOSE|closing']).toBe(2);
    expect(latest().recent[0]).toMatchObject({ to: 'closed', reason: 'bye', initiator: 'server' });
    ws.close();
  });

  it('pushes sessions, their transitions and the busiest topics: epoch, newest offset, connections', async () => {
    server = await startServer({ heartbeatIntervalMs: 0 });
    let origin: string;
    ({ http, inspector, origin } = await serveInspector(server.manager, 20, { topicLimit: 2 }));
    const { ws, snapshots } = await watch(origin);
    const latest = (): InspectorSnapshot => snapshots.at(-1)!;
    expect(latest().sessions).toEqual({ counts: { attached: 0, detached: 0, expired: 0 }, transitions: 0, edges: {} });

    const tabs = [await openSessionClient(server.port, 'ann'), await openSessionClient(server.port, 'ann'), await openSessionClient(server.port, 'bob')];
    try {
      for (const tab of tabs) tab.hello();
      await Promise.all(tabs.map((tab) => tab.next(isWelcome, 'welcome')));
      for (const topic of ['user:ann', 'user:ann', 'user:ann', 'user:bob']) expect((await server.manager.publish(topic, { n: 1 })).ok).toBe(true);
      // Publishes announce nothing: the once-a-second refresh brings the offsets.
      await waitFor(() => latest().topics.busiest.some((t) => t.topic === 'user:ann' && t.offset === 3), 5_000, 'the offset of user:ann');
      const { topics, sessions } = latest();
      expect(sessions.counts).toEqual({ attached: 3, detached: 0, expired: 0 });
      // Busiest first, two at most; every user's tabs also follow broadcast.
      expect(topics.held).toBe(3);
      expect(topics.busiest.map((t) => [t.topic, t.connections])).toEqual([['broadcast', 3], ['user:ann', 2]]);
      expect(topics.busiest[1]!.epoch).toEqual(expect.any(String));

      tabs[2]!.ws.close();
      await waitFor(() => latest().sessions.counts.detached === 1, 5_000, 'bob detached');
      expect(latest().sessions.edges).toEqual({ 'attached|DETACH|detached': 1 });
      expect(latest().sessions.transitions).toBe(1);
    } finally {
      for (const tab of tabs) tab.ws.terminate();
      ws.close();
    }
  });

  it('with a cluster, shows this node, the counts over the cluster and its nodes, and says why a look failed', async () => {
    const manager = new ConnectionManager({ logger: silentLogger() });
    let listing: Promise<Array<{ nodeId: string; state: 'ready' | 'degraded' }>> = Promise.resolve([
      { nodeId: 'n1', state: 'ready' },
      { nodeId: 'n2', state: 'degraded' }
    ]);
    const cluster: InspectorCluster = { nodeId: 'n1', state: 'ready', nodes: () => listing };
    let origin: string;
    ({ http, inspector, origin } = await serveInspector(manager, 20, { cluster }));
    const html = await (await fetch(`http://${origin}/inspect?token=${TOKEN}`)).text();
    for (const state of ['connecting', 'ready', 'degraded', 'draining', 'stopped']) expect(figureOf(html, 'node')).toContain(`data-count="${state}"`);
    expect(html).toContain('id="cluster"');
    const { ws, snapshots } = await watch(origin);
    const latest = (): InspectorSnapshot => snapshots.at(-1)!;
    await waitFor(() => latest().cluster?.nodes !== undefined, 5_000, 'the nodes');
    expect(latest().cluster).toEqual({
      nodeId: 'n1',
      state: 'ready',
      counts: { nodes: 1, users: 0, connections: 0 },
      nodes: [{ nodeId: 'n1', state: 'ready' }, { nodeId: 'n2', state: 'degraded' }]
    });
    listing = Promise.reject(new Error('redis unreachable'));
    listing.catch(() => {});
    await waitFor(() => latest().cluster?.error !== undefined, 5_000, 'the failed look');
    expect(latest().cluster).toMatchObject({ error: 'redis unreachable', nodes: [{ nodeId: 'n1' }, { nodeId: 'n2' }] });
    ws.close();
  });

  it('coalesces a burst of transitions into one push', async () => {
    const manager = new ConnectionManager({ logger: silentLogger() });
    let origin: string;
    ({ http, inspector, origin } = await serveInspector(manager, 50));
    const { ws, snapshots } = await watch(origin);
    for (let i = 1; i <= 100; i++) manager.emit('transition', {} as Connection, record(i));
    await waitFor(() => snapshots.length > 1, 5_000, 'a push');
    expect(snapshots[1]!.transitions).toBe(100);
    expect(snapshots[1]!.recent).toHaveLength(20);
    expect(snapshots[1]!.recent[0]!.seq).toBe(100);
    ws.close();
  });

  it('close() detaches from the manager and the server and closes pages with 1001', async () => {
    const manager = new ConnectionManager({ logger: silentLogger() });
    let origin: string;
    ({ http, inspector, origin } = await serveInspector(manager));
    const { ws } = await watch(origin);
    const code = new Promise((resolve) => ws.once('close', resolve));
    const pageRequest = { url: '/inspect?x=1' } as IncomingMessage;
    expect(inspector.handles(pageRequest)).toBe(true);
    expect(inspector.handles({ url: '/inspect/ws' } as IncomingMessage)).toBe(true);
    expect(inspector.handles({ url: '/inspector' } as IncomingMessage)).toBe(false);
    await inspector.close();
    expect(inspector.handles(pageRequest)).toBe(false);
    expect(await code).toBe(1001);
    expect(manager.listenerCount('transition')).toBe(0);
    expect(manager.listenerCount('connection')).toBe(0);
    expect(manager.listenerCount('sessionTransition')).toBe(0);
    expect(http.listenerCount('request')).toBe(0);
    expect(http.listenerCount('upgrade')).toBe(0);
  });

  it('rejects a bad path or interval, naming the value', () => {
    const manager = new ConnectionManager({ logger: silentLogger() });
    const server = createServer();
    const token = TOKEN;
    expect(() => createInspector(manager, { server, token, path: 'inspect' })).toThrow(/"inspect"/);
    expect(() => createInspector(manager, { server, token, path: '/inspect/' })).toThrow(/"\/inspect\/"/);
    expect(() => createInspector(manager, { server, token, intervalMs: 0 })).toThrow(/intervalMs: 0/);
    expect(() => createInspector(manager, { server, token, intervalMs: Infinity })).toThrow(/intervalMs: Infinity/);
    expect(() => createInspector(manager, { server, token, topicLimit: -1 })).toThrow(/topicLimit: -1/);
    expect(() => createInspector(manager, { server, token: 'short' })).toThrow(/5 characters/);
    expect(server.listenerCount('request')).toBe(0);
    expect(server.listenerCount('upgrade')).toBe(0);
  });

  it('is not served without an access decision (#25)', () => {
    const manager = new ConnectionManager({ logger: silentLogger() });
    const server = createServer();
    expect(() => createInspector(manager, { server })).toThrow(new TypeError('createInspector needs an access decision: a token, or authorize(request) (the page shows connection and user ids)'));
    expect(server.listenerCount('upgrade')).toBe(0);
  });

  it('answers the page and its socket 401 without the token, and serves them with it, in the query or as a bearer', async () => {
    const manager = new ConnectionManager({ logger: silentLogger() });
    let origin: string;
    ({ http, inspector, origin } = await serveInspector(manager));
    expect((await fetch(`http://${origin}/inspect`)).status).toBe(401);
    expect((await fetch(`http://${origin}/inspect?token=wrong-token-of-the-same-size`)).status).toBe(401);
    expect((await fetch(`http://${origin}/inspect`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    expect(await upgradeStatus(`ws://${origin}/inspect/ws`)).toBe(401);
    expect(await upgradeStatus(`ws://${origin}/inspect/ws?token=nope`)).toBe(401);
    expect(await upgradeStatus(`ws://${origin}/inspect/ws`, { headers: { authorization: `Bearer ${TOKEN}` } })).toBe(101);
  });

  it("refuses the socket with 403 to a page of another origin, and lets in the page's own and the allowed ones", async () => {
    const manager = new ConnectionManager({ logger: silentLogger() });
    let origin: string;
    ({ http, inspector, origin } = await serveInspector(manager, 20, { allowedOrigins: ['https://admin.example'] }));
    const url = `ws://${origin}/inspect/ws?token=${TOKEN}`;
    expect(await upgradeStatus(url, { origin: 'https://evil.example' })).toBe(403);
    expect(await upgradeStatus(url, { origin: `http://${origin}` })).toBe(101);
    expect(await upgradeStatus(url, { origin: 'https://admin.example' })).toBe(101);
  });

  it('decides with authorize(request), a throw refusing', async () => {
    const manager = new ConnectionManager({ logger: silentLogger() });
    let origin: string;
    const authorize = (request: IncomingMessage): boolean => {
      if (request.headers['x-boom'] !== undefined) throw new Error('auth service down');
      return request.headers.cookie === 'admin=1';
    };
    ({ http, inspector, origin } = await serveInspector(manager, 20, { token: undefined, authorize }));
    expect((await fetch(`http://${origin}/inspect`, { headers: { cookie: 'admin=1' } })).status).toBe(200);
    expect((await fetch(`http://${origin}/inspect`, { headers: { cookie: 'admin=1', 'x-boom': '1' } })).status).toBe(401);
    expect(await upgradeStatus(`ws://${origin}/inspect/ws`, { headers: { cookie: 'admin=0' } })).toBe(401);
    expect(await upgradeStatus(`ws://${origin}/inspect/ws`, { headers: { cookie: 'admin=1' } })).toBe(101);
  });

  it('keeps at most maxViewers page sockets: one more is refused with 503', async () => {
    const manager = new ConnectionManager({ logger: silentLogger() });
    let origin: string;
    ({ http, inspector, origin } = await serveInspector(manager, 20, { maxViewers: 2 }));
    const first = await watch(origin);
    const second = await watch(origin);
    expect(await upgradeStatus(`ws://${origin}/inspect/ws?token=${TOKEN}`)).toBe(503);
    first.ws.close();
    await waitFor(() => first.ws.readyState === WebSocket.CLOSED, 5_000, 'the first viewer gone');
    // The server lets go of it once the close handshake is done: bounded retries.
    let status = 0;
    for (let attempt = 0; attempt < 50 && status !== 101; attempt++) {
      status = await upgradeStatus(`ws://${origin}/inspect/ws?token=${TOKEN}`);
      if (status !== 101) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(status).toBe(101);
    second.ws.close();
  });
});

/** The status an upgrade got: 101 when it opened (then closed at once), else the HTTP status of the refusal. */
function upgradeStatus(url: string, options: { origin?: string; headers?: Record<string, string> } = {}): Promise<number> {
  const ws = new WebSocket(url, options);
  ws.on('error', () => {});
  return new Promise((resolve) => {
    ws.once('unexpected-response', (_request, response) => {
      resolve(response.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('open', () => {
      resolve(101);
      ws.close();
    });
  });
}
