import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { ConnectionManager, type Connection, type TransitionRecord } from '../../../src/index.js';
import { createInspector, type Inspector, type InspectorSnapshot } from '../../../src/tools/inspector/inspector.js';
import { allowedTransitions } from '../../../src/core/machine-graph.js';
import { silentLogger, startServer, waitFor, type TestServer } from '../../support/server.js';

/** An HTTP server on 127.0.0.1 that serves only the inspector. */
async function serveInspector(manager: ConnectionManager, intervalMs = 20): Promise<{ http: Server; inspector: Inspector; origin: string }> {
  const http = createServer();
  const inspector = createInspector(manager, { server: http, intervalMs });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  return { http, inspector, origin: `127.0.0.1:${(http.address() as AddressInfo).port}` };
}

/** A page socket that keeps every snapshot it is pushed. */
async function watch(origin: string): Promise<{ ws: WebSocket; snapshots: InspectorSnapshot[] }> {
  const ws = new WebSocket(`ws://${origin}/inspect/ws`);
  const snapshots: InspectorSnapshot[] = [];
  ws.on('message', (data) => snapshots.push(JSON.parse(data.toString()) as InspectorSnapshot));
  await waitFor(() => snapshots.length > 0, 5_000, 'the first snapshot');
  return { ws, snapshots };
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

  it('serves one self-contained page with the whole chart and a strict CSP', async () => {
    const manager = new ConnectionManager({ logger: silentLogger() });
    let origin: string;
    ({ http, inspector, origin } = await serveInspector(manager));
    const response = await fetch(`http://${origin}/inspect`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = response.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    const html = await response.text();
    for (const state of ['connecting', 'connected', 'closing', 'closed']) expect(html).toContain(`data-count="${state}"`);
    for (const key of allowedTransitions()) expect(html).toContain(`data-key="${key}"`);
    expect(html).not.toMatch(/\s(src|href)="(?!data:)/);
    expect((await fetch(`http://${origin}/elsewhere`)).status).toBe(404);
    expect((await fetch(`http://${origin}/inspect`, { method: 'POST' })).status).toBe(405);
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
    expect(http.listenerCount('request')).toBe(0);
    expect(http.listenerCount('upgrade')).toBe(0);
  });

  it('rejects a bad path or interval, naming the value', () => {
    const manager = new ConnectionManager({ logger: silentLogger() });
    const server = createServer();
    expect(() => createInspector(manager, { server, path: 'inspect' })).toThrow(/"inspect"/);
    expect(() => createInspector(manager, { server, path: '/inspect/' })).toThrow(/"\/inspect\/"/);
    expect(() => createInspector(manager, { server, intervalMs: 0 })).toThrow(/intervalMs: 0/);
    expect(server.listenerCount('request')).toBe(0);
  });
});
