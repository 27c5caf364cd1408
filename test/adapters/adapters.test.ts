/**
 * Every framework adapter (#13), against the real framework on 127.0.0.1,
 * by one shared body: identity from the upgrade request, the subprotocol
 * selected, refusals as HTTP statuses before the handshake, sendToUser, a throwing handler, and the
 * framework's close draining 200 clients with 1001 and leaving no handle.
 */
import { WebSocket } from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionManager } from '../../src/index.js';
import type { Identify } from '../../src/adapters/upgrade.js';
import { SESSION_PROTOCOL } from '../../src/protocol/session-protocol.js';
import { silentLogger, waitFor } from '../support/server.js';
import { selectedSubprotocol } from '../support/subprotocols.js';
import { FRAMEWORKS, type RunningApp } from './frameworks.js';

/** `?user=NAME` is who you are; no user is 401, mallory is 403, boom makes identify throw. */
const identify: Identify = async (request) => {
  await Promise.resolve();
  const user = new URL(request.url ?? '/', 'http://127.0.0.1').searchParams.get('user');
  if (user === 'boom') throw new Error('identity service down');
  if (user === 'mallory') return { status: 403, reason: 'not you' };
  return user === null ? false : { userId: user, metadata: { via: 'identify' } };
};

const opened: WebSocket[] = [];
let app: RunningApp | undefined;

afterEach(async () => {
  for (const ws of opened.splice(0)) ws.terminate();
  await app?.close().catch(() => {});
  app = undefined;
});

interface Outcome {
  ws: WebSocket;
  open: Promise<void>;
  status: Promise<number>;
  received: string[];
  closed: Promise<number>;
}

function connect(port: number, user: string | undefined): Outcome {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws${user === undefined ? '' : `?user=${user}`}`);
  opened.push(ws);
  const received: string[] = [];
  ws.on('message', (data) => received.push(data.toString()));
  ws.on('error', () => {});
  return {
    ws,
    received,
    open: new Promise((resolve) => ws.once('open', () => resolve())),
    status: new Promise((resolve) => ws.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0))),
    closed: new Promise((resolve) => ws.once('close', (code) => resolve(code)))
  };
}

function newManager(): ConnectionManager {
  return new ConnectionManager({ logger: silentLogger(), heartbeatIntervalMs: 0 });
}

/** TCP handles of this process, by kind. */
function tcpHandles(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === 'TCPSocketWrap' || kind === 'TCPServerWrap').length;
}

describe.each(FRAMEWORKS)('$name adapter', (framework) => {
  it('identifies the user from the upgrade request, delivers sendToUser and inbound messages, and is reachable the framework way', async () => {
    const manager = newManager();
    app = await framework.start(manager, { identify });
    expect(await app.reachable()).toBe(manager);
    const alice = connect(app.port, 'alice');
    await alice.open;
    await waitFor(() => manager.connectionsOf('alice')[0]?.state === 'connected', 5_000, 'alice connected');
    expect(manager.connectionsOf('alice')[0]!.metadata).toEqual({ via: 'identify' });
    const inbound = new Promise<string>((resolve) => manager.once('message', (_connection, data) => resolve(String(data))));
    alice.ws.send('hello server');
    expect(await inbound).toBe('hello server');
    expect(await manager.sendToUser('alice', 'hello alice')).toEqual({ sent: 1, rejected: 0, reasons: {} });
    await waitFor(() => alice.received.length === 1, 5_000, 'the message');
    expect(alice.received).toEqual(['hello alice']);
  });

  it('selects ws-lifecycle.v1 whenever a client offers it, whatever the order, and never a ws-lifecycle version it does not implement', async () => {
    const manager = newManager();
    app = await framework.start(manager, { identify });
    const url = `ws://127.0.0.1:${app.port}/ws?user=alice`;
    expect(await selectedSubprotocol(url, ['ws-lifecycle.v2', SESSION_PROTOCOL])).toBe(SESSION_PROTOCOL);
    expect(await selectedSubprotocol(url, ['chat', SESSION_PROTOCOL])).toBe(SESSION_PROTOCOL);
    expect(await selectedSubprotocol(url, ['ws-lifecycle.v2', 'chat'])).toBe('chat');
    expect(await selectedSubprotocol(url, ['ws-lifecycle.v2'])).toBe('error: Server sent no subprotocol');
  });

  it('refuses with 401 and 403 before the handshake, and no connection is ever made', async () => {
    const manager = newManager();
    app = await framework.start(manager, { identify });
    let made = 0;
    manager.on('connection', () => made++);
    expect(await connect(app.port, undefined).status).toBe(401);
    expect(await connect(app.port, 'mallory').status).toBe(403);
    expect(made).toBe(0);
    expect(manager.size).toBe(0);
    expect(manager.counts).toEqual({ connecting: 0, connected: 0, closing: 0, closed: 0 });
  });

  it('answers a throwing identify with 500, and a throwing message handler leaves the server serving', async () => {
    const manager = newManager();
    app = await framework.start(manager, { identify });
    expect(await connect(app.port, 'boom').status).toBe(500);
    manager.on('message', () => {
      throw new Error('handler bug');
    });
    const bob = connect(app.port, 'bob');
    await bob.open;
    bob.ws.send('trigger the bug');
    const carol = connect(app.port, 'carol');
    await carol.open;
    await waitFor(() => manager.connectionsOf('bob').length === 1 && manager.connectionsOf('carol')[0]?.state === 'connected', 5_000, 'both');
    expect(await manager.sendToUser('bob', 'still here')).toMatchObject({ sent: 1 });
    await waitFor(() => bob.received.length === 1, 5_000, 'the message');
    expect(manager.connectionsOf('bob')[0]!.state).toBe('connected');
  });

  it.each([
    ['shutdown.timeoutMs -1', { shutdown: { timeoutMs: -1 } }, /Invalid option timeoutMs: -1/],
    ['shutdown.code 999', { shutdown: { code: 999 } }, /Invalid close code: 999/],
    ['identifyTimeoutMs 0', { identifyTimeoutMs: 0 }, /Invalid option identifyTimeoutMs: 0/],
    ['identifyTimeoutMs 2^31', { identifyTimeoutMs: 2 ** 31 }, /Invalid option identifyTimeoutMs: 2147483648/]
  ])('refuses %s when the adapter is made, not at the close (#25)', async (_name, options, message) => {
    let started: RunningApp | undefined;
    const outcome = framework.start(newManager(), options).then((running) => (started = running));
    await expect(outcome).rejects.toThrow(message);
    // Only on the code before the fix: it started, and the bad option waited for the close.
    await started?.close().catch(() => {});
  });

  it("200 clients, then the framework's close: every client gets 1001, the close resolves, no handle is left", async () => {
    const before = tcpHandles();
    const manager = newManager();
    app = await framework.start(manager, { identify, shutdown: { timeoutMs: 5_000 } });
    const clients = Array.from({ length: 200 }, (_, i) => connect(app!.port, `u${i % 20}`));
    await Promise.all(clients.map((c) => c.open));
    await waitFor(() => manager.counts.connected === 200, 10_000, '200 connected');
    const running = app;
    app = undefined;
    await running.close();
    const codes = await Promise.all(clients.map((c) => c.closed));
    expect(new Set(codes)).toEqual(new Set([1001]));
    expect(manager.size).toBe(0);
    expect(manager.counts.closed).toBe(200);
    await waitFor(() => tcpHandles() <= before, 5_000, 'every socket and the server closed');
    expect(tcpHandles()).toBeLessThanOrEqual(before);
  });
});
