/**
 * ws-lifecycle/client against a real server (#11): it resumes after the
 * server drops it, receives what it missed once and in order, sends what
 * was queued while away exactly once, and stops for good when refused.
 */
import { WebSocket, WebSocketServer } from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { SessionClient, type ClientMessage, type ClientRecovery, type ClientSocketConstructor } from '../../src/client/session-client.js';
import { userTopic } from '../../src/sessions/session-hub.js';
import { serverPerTest } from '../support/per-test-server.js';
import { stallClient, waitFor } from '../support/server.js';

const servers = serverPerTest();
const clients: SessionClient[] = [];
afterEach(() => {
  for (const client of clients.splice(0)) client.close();
});

type Resume = { session: string; cursors: Record<string, { epoch: string; offset: number }> };
type Heartbeat = { heartbeatIntervalMs: number; heartbeatTimeoutMs: number };

function clientOf(port: number, user: string, resume?: Resume, heartbeat?: Heartbeat) {
  const client = new SessionClient({ url: `ws://127.0.0.1:${port}/?user=${user}`, WebSocket: WebSocket as unknown as ClientSocketConstructor, minDelayMs: 20, maxDelayMs: 100, resume, ...heartbeat });
  clients.push(client);
  const messages: ClientMessage[] = [];
  const recoveries: ClientRecovery[] = [];
  const states: string[] = [];
  client.on('message', (message) => messages.push(message));
  client.on('recovery', (recovery) => recoveries.push(recovery));
  client.on('state', (state) => states.push(state));
  return { client, messages, recoveries, states };
}

describe('SessionClient', () => {
  it('resumes after a drop: what it missed, once, in order, then live; its queued sends delivered once', async () => {
    const server = await servers.start({ sessions: { ttlMs: 5_000 } });
    const delivered: unknown[] = [];
    server.manager.on('sessionMessage', (_connection, data) => delivered.push(data));
    const { client, messages, recoveries, states } = clientOf(server.port, 'alice');
    client.start();
    await waitFor(() => client.state === 'open', 5_000, 'open');
    for (let n = 1; n <= 3; n++) await server.manager.sendToUser('alice', { n });
    await waitFor(() => messages.length === 3, 5_000, 'three messages');

    // The server drops the tab; the agent keeps publishing; the tab sends while away.
    const [connection] = server.manager.connectionsOf('alice');
    await connection!.terminate();
    for (let n = 4; n <= 6; n++) await server.manager.sendToUser('alice', { n });
    const sent = client.send({ question: 'still there?' });
    expect(client.queued).toBe(1);
    await waitFor(() => client.state === 'open' && messages.length === 6, 5_000, 'resumed');
    expect(await sent).toEqual({ ok: true });
    await server.manager.sendToUser('alice', { n: 7 });
    await waitFor(() => messages.length === 7, 5_000, 'live again');

    expect(messages.map((m) => [m.topic, m.offset, m.data])).toEqual([1, 2, 3, 4, 5, 6, 7].map((n) => [userTopic('alice'), n, { n }]));
    expect(delivered).toEqual([{ question: 'still there?' }]);
    expect(recoveries.filter((r) => r.topic === userTopic('alice')).map((r) => r.recovered)).toEqual([false, true]);
    expect(states).toEqual(['connecting', 'open', 'reconnecting', 'connecting', 'open']);
    expect(client.queued).toBe(0);
  });

  it('hands bytes over as bytes and text as text: a b64 frame is never mistaken for a string', async () => {
    const server = await servers.start();
    const { client, messages } = clientOf(server.port, 'alice');
    client.start();
    await waitFor(() => client.state === 'open', 5_000, 'open');
    const bytes = Uint8Array.from([0, 1, 127, 128, 255, 0xe2, 0x82]);
    await server.manager.sendToUser('alice', Buffer.from(bytes));
    // The text a base64 of those bytes would read as: a client passing b64 through as data hands over this.
    await server.manager.sendToUser('alice', Buffer.from(bytes).toString('base64'));
    await waitFor(() => messages.length === 2, 5_000, 'two messages');
    expect(messages[0]!.bytes).toBeInstanceOf(Uint8Array);
    expect([...messages[0]!.bytes!]).toEqual([...bytes]);
    expect(messages[0]!.data).toBeUndefined();
    expect(messages[1]).toMatchObject({ data: Buffer.from(bytes).toString('base64') });
    expect(messages[1]!.bytes).toBeUndefined();
  });

  it('is told, not silently gapped, when its session expired while away', async () => {
    const server = await servers.start({ sessions: { ttlMs: 100 } });
    const first = clientOf(server.port, 'alice');
    first.client.start();
    await waitFor(() => first.client.state === 'open', 5_000, 'open');
    await server.manager.sendToUser('alice', 'one');
    await waitFor(() => first.messages.length === 1, 5_000, 'one');
    const resume = { session: first.client.session!, cursors: first.client.cursors };
    first.client.close();
    await waitFor(() => server.manager.sessions === 0, 5_000, 'expired');
    const later = clientOf(server.port, 'alice', resume);
    later.client.start();
    await waitFor(() => later.recoveries.some((r) => r.topic === userTopic('alice')), 5_000, 'recovery');
    expect(later.recoveries.find((r) => r.topic === userTopic('alice'))).toMatchObject({ recovered: false, reason: 'unknown_session' });
  });

  it("stops for good when the server refuses it (another user's session), and close() settles what is queued", async () => {
    const server = await servers.start();
    const alice = clientOf(server.port, 'alice');
    alice.client.start();
    await waitFor(() => alice.client.state === 'open', 5_000, 'open');
    const mallory = clientOf(server.port, 'mallory', { session: alice.client.session!, cursors: {} });
    mallory.client.start();
    await waitFor(() => mallory.client.state === 'closed', 5_000, 'refused');
    expect(mallory.messages).toEqual([]);
    expect(await mallory.client.send('x')).toEqual({ ok: false, reason: 'closed' });

    const bob = clientOf(server.port, 'bob');
    const queued = bob.client.send('before start');
    bob.client.close();
    expect(await queued).toEqual({ ok: false, reason: 'closed' });
  });

  it('finds a server gone silent by its heartbeat and resumes elsewhere; without the heartbeat it waits forever', async () => {
    const server = await servers.start({ sessions: { ttlMs: 5_000 } });
    const watched = clientOf(server.port, 'alice', undefined, { heartbeatIntervalMs: 60, heartbeatTimeoutMs: 60 });
    // The naive variant: a heartbeat far longer than the test, as a client with none.
    const unwatched = clientOf(server.port, 'bob', undefined, { heartbeatIntervalMs: 600_000, heartbeatTimeoutMs: 600_000 });
    watched.client.start();
    unwatched.client.start();
    await waitFor(() => watched.client.state === 'open' && unwatched.client.state === 'open', 5_000, 'open');
    // Quiet but answering: the pings are answered, nothing reconnects.
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(watched.states).toEqual(['connecting', 'open']);

    await server.manager.sendToUser('alice', 'before');
    await waitFor(() => watched.messages.length === 1, 5_000, 'before');
    // The server's side stops reading (a half-open connection: no close ever reaches the client).
    const stalled = [...server.manager.connectionsOf('alice'), ...server.manager.connectionsOf('bob')];
    for (const connection of stalled) stallClient(connection.socket);
    const stalledAt = Date.now();
    await waitFor(() => watched.states.length === 5, 5_000, 'watched client back');
    const tookMs = Date.now() - stalledAt;
    expect(watched.states).toEqual(['connecting', 'open', 'reconnecting', 'connecting', 'open']);
    // Within one interval of quiet plus the probe's timeout (and a backoff of at most 100 ms).
    expect(tookMs).toBeGreaterThanOrEqual(60);
    await server.manager.sendToUser('alice', 'after');
    await waitFor(() => watched.messages.length === 2, 5_000, 'after');
    expect(watched.messages.map((m) => [m.offset, m.data])).toEqual([[1, 'before'], [2, 'after']]);
    expect(unwatched.states).toEqual(['connecting', 'open']);
    for (const connection of stalled) await connection.terminate();
  });

  it('emits nothing after close(), even frames that were already on their way', async () => {
    const server = await servers.start({ sessions: { ttlMs: 5_000 } });
    const sockets: WebSocket[] = [];
    class RecordingSocket extends WebSocket {
      constructor(url: string, protocols: string[]) {
        super(url, protocols);
        sockets.push(this);
      }
    }
    const client = new SessionClient({ url: `ws://127.0.0.1:${server.port}/?user=alice`, WebSocket: RecordingSocket as unknown as ClientSocketConstructor });
    clients.push(client);
    const messages: number[] = [];
    client.on('message', ({ offset }) => messages.push(offset));
    client.start();
    await waitFor(() => client.state === 'open', 5_000, 'open');
    const raw = (sockets[0] as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    raw.pause();
    for (let n = 1; n <= 5; n++) expect((await server.manager.sendToUser('alice', { n })).sent).toBe(1);
    client.close();
    // The five frames reach the socket now: a page that resumes from client.cursors would get them again.
    raw.resume();
    await waitFor(() => sockets[0]!.readyState === WebSocket.CLOSED, 5_000, 'socket closed');
    expect(messages).toEqual([]);
    expect(client.cursors[userTopic('alice')]?.offset).toBe(0);
  });

  it('gives up a hello that is never answered and tries again; without the connect timeout it waits forever', async () => {
    // A server that takes the upgrade and then says nothing (a stalled node, a half-open connection).
    const mute = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (protocols) => [...protocols][0] ?? false });
    await new Promise((resolve) => mute.once('listening', resolve));
    servers.cleanup(() => new Promise((resolve) => mute.close(resolve)));
    const accepted: string[] = [];
    mute.on('connection', (ws) => accepted.push(ws.protocol));
    const url = `ws://127.0.0.1:${(mute.address() as { port: number }).port}/`;
    const make = (connectTimeoutMs: number) => {
      const Socket = WebSocket as unknown as ClientSocketConstructor;
      const client = new SessionClient({ url, WebSocket: Socket, minDelayMs: 10, maxDelayMs: 10, connectTimeoutMs });
      clients.push(client);
      const states: string[] = [];
      client.on('state', (state) => states.push(state));
      client.start();
      return states;
    };
    const watched = make(50);
    const naive = make(600_000);
    await waitFor(() => watched.filter((s) => s === 'connecting').length >= 3, 5_000, 'three attempts');
    expect(watched.slice(0, 4)).toEqual(['connecting', 'reconnecting', 'connecting', 'reconnecting']);
    expect(naive).toEqual(['connecting']);
    expect(accepted.every((protocol) => protocol === 'ws-lifecycle.v1')).toBe(true);
    for (const ws of mute.clients) ws.terminate();
  });

  it('stops for good, saying why, when the server does not select ws-lifecycle.v1 (docs/protocol.md 1.2): it does not retry', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => false });
    await new Promise((resolve) => wss.once('listening', resolve));
    let attempts = 0;
    wss.on('connection', (ws) => {
      attempts++;
      ws.on('message', () => ws.send('{"type":"welcome"}'));
    });
    try {
      const { client, states } = clientOf((wss.address() as { port: number }).port, 'alice');
      const errors: string[] = [];
      client.on('error', ({ code }) => errors.push(code));
      client.start();
      await waitFor(() => client.state === 'closed', 5_000, 'closed for good');
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(errors).toEqual(['protocol']);
      expect(attempts).toBe(1);
      expect(states).not.toContain('reconnecting');
    } finally {
      for (const ws of wss.clients) ws.terminate();
      await new Promise((resolve) => wss.close(resolve));
    }
  });
});
