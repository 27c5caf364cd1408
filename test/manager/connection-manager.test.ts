/**
 * ConnectionManager over real sockets on 127.0.0.1: accepting and opening,
 * sending to one, to a user and to all, closing, shutdown, events,
 * authenticate, heartbeat and close timeouts, and what gets logged.
 */
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import {
  ConnectionManager,
  SerializationError,
  type CloseInfo,
  type Connection,
  type ConnectionManagerOptions,
  type TransitionRecord
} from '../../src/index.js';
import {
  LOG_LEVELS,
  captureLogger,
  silentLogger,
  stallClient,
  waitFor,
  type LogRecord,
  type TestClient,
  type TestServer
} from '../support/server.js';
import { serverPerTest } from '../support/per-test-server.js';

/** A server per test, whose manager has no heartbeat unless asked; stopped after the test. */
const { start, cleanup } = serverPerTest();

/** Authenticate hook that holds users named `pending*` until released. */
function holdPending() {
  const waiting: Array<() => void> = [];
  const authenticate: ConnectionManagerOptions['authenticate'] = ({ connection }) =>
    connection.userId?.startsWith('pending') ? new Promise<boolean>((resolve) => waiting.push(() => resolve(true))) : true;
  return { authenticate, release: () => waiting.splice(0).forEach((go) => go()) };
}

/** A connection held in `closing`: its client never answers the close frame. */
async function closingConnection(s: TestServer, userId: string): Promise<{ client: TestClient; connection: Connection }> {
  const opened = await s.connect(userId);
  stallClient(opened.client.ws);
  void opened.connection.close(1000, 'bye');
  cleanup(() => opened.client.ws.terminate());
  return opened;
}

const ZERO_COUNTS = { connecting: 0, connected: 0, closing: 0, closed: 0 };

describe('accepting and opening connections', () => {
  it('accepts a socket through attach: connected, registered and identified from the request', async () => {
    const s = await start();
    const { connection } = await s.connect('alice');
    expect(connection.state).toBe('connected');
    expect(connection.userId).toBe('alice');
    expect(s.manager.get(connection.id)).toBe(connection);
    expect(s.manager.connectionsOf('alice')).toEqual([connection]);
    expect([...s.manager.connections()]).toEqual([connection]);
    expect(s.manager.size).toBe(1);
    expect(s.manager.counts).toEqual({ ...ZERO_COUNTS, connected: 1 });
  });

  it('accepts a socket handed to accept() directly, with user and metadata', async () => {
    const s = await start();
    s.detach();
    s.wss.on('connection', (ws, request) => s.manager.accept(ws, { userId: 'direct', metadata: { plan: 'pro' }, request }));
    const { client, connection } = await s.connect();
    expect(connection.state).toBe('connected');
    expect(connection.userId).toBe('direct');
    expect(connection.metadata).toEqual({ plan: 'pro' });
    expect(s.manager.connectionsOf('direct')).toEqual([connection]);
    await expect(connection.send('hi')).resolves.toEqual({ ok: true });
    await waitFor(() => client.received.length === 1);
    expect(client.received).toEqual(['hi']);
  });

  it('opens an outgoing connection with connect(), which reaches connected and reports how it closed', async () => {
    const s = await start();
    const outgoing = new ConnectionManager({ logger: silentLogger(), heartbeatIntervalMs: 0 });
    cleanup(() => outgoing.shutdown({ timeoutMs: 500 }));
    const url = `ws://127.0.0.1:${s.port}/?user=bob`;

    const first = outgoing.connect(url, { userId: 'me', metadata: { side: 'client' } });
    expect(first.state).toBe('connecting');
    expect(outgoing.connectionsOf('me')).toEqual([first]);
    await waitFor(() => first.state === 'connected', 5_000, 'outgoing connection to open');
    await waitFor(() => s.manager.connectionsOf('bob').length === 1);
    const [remote] = s.manager.connectionsOf('bob');
    void s.manager.close(remote!.id, 4000, 'server says bye');
    await expect(first.closed).resolves.toEqual({ code: 4000, reason: 'server says bye', initiator: 'peer' });

    const second = outgoing.connect(url);
    await waitFor(() => second.state === 'connected', 5_000, 'second outgoing connection to open');
    await expect(second.close(1000, 'client done')).resolves.toEqual({ code: 1000, reason: 'client done', initiator: 'server' });
    expect(outgoing.size).toBe(0);
  });

  it('reports an outgoing connection that cannot open as closed by an error', async () => {
    const probe = createServer();
    const port = await new Promise<number>((resolve) => probe.listen(0, '127.0.0.1', () => resolve((probe.address() as { port: number }).port)));
    await new Promise((resolve) => probe.close(resolve));
    const outgoing = new ConnectionManager({ logger: silentLogger(), heartbeatIntervalMs: 0 });
    const connection = outgoing.connect(`ws://127.0.0.1:${port}/`);
    await expect(connection.closed).resolves.toEqual({ code: 1006, reason: expect.stringContaining('ECONNREFUSED'), initiator: 'error' });
    expect(outgoing.size).toBe(0);
    expect(outgoing.counts).toEqual({ ...ZERO_COUNTS, closed: 1 });
  });
});

describe('send', () => {
  it('sends text as text and bytes as binary', async () => {
    const s = await start();
    const { client, connection } = await s.connect('alice');
    const frames: Array<{ data: string; binary: boolean }> = [];
    client.ws.on('message', (data, binary) => frames.push({ data: data.toString(), binary }));
    await expect(s.manager.send(connection.id, { type: 'agent_started' })).resolves.toEqual({ ok: true });
    await expect(s.manager.send(connection.id, 'plain')).resolves.toEqual({ ok: true });
    await expect(s.manager.send(connection.id, Buffer.from('bytes'))).resolves.toEqual({ ok: true });
    await waitFor(() => frames.length === 3);
    expect(frames).toEqual([
      { data: '{"type":"agent_started"}', binary: false },
      { data: 'plain', binary: false },
      { data: 'bytes', binary: true }
    ]);
  });

  it('refuses an unknown id with not_found', async () => {
    const s = await start();
    await expect(s.manager.send('no-such-id', 'x')).resolves.toEqual({ ok: false, reason: 'not_found' });
  });

  it('refuses while authenticate is pending with not_connected, and nothing reaches the client', async () => {
    const hold = holdPending();
    const s = await start({ authenticate: hold.authenticate });
    const { client, connection } = await s.connect('pending-1');
    expect(connection.state).toBe('connecting');
    await expect(s.manager.send(connection.id, 'too early')).resolves.toEqual({ ok: false, reason: 'not_connected' });
    hold.release();
    await waitFor(() => connection.state === 'connected');
    await expect(s.manager.send(connection.id, 'now')).resolves.toEqual({ ok: true });
    await waitFor(() => client.received.length > 0);
    expect(client.received).toEqual(['now']);
  });

  it('refuses once closing, and once closed (by handle: closed; by id: not_found)', async () => {
    const s = await start();
    const { client, connection } = await s.connect('alice');
    const closed = connection.close(1000, 'bye');
    await expect(s.manager.send(connection.id, 'late')).resolves.toEqual({ ok: false, reason: 'closing' });
    await closed;
    await expect(connection.send('later')).resolves.toEqual({ ok: false, reason: 'closed' });
    await expect(s.manager.send(connection.id, 'later')).resolves.toEqual({ ok: false, reason: 'not_found' });
    await client.closed;
    expect(client.received).toEqual([]);
  });

  it('reports an unserializable message, leaves the connection alone, and the next send goes through', async () => {
    const s = await start();
    const { client, connection } = await s.connect('alice');
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const result = await s.manager.send(connection.id, circular);
    expect(result).toMatchObject({ ok: false, reason: 'serialization_failed' });
    expect(!result.ok && result.error).toBeInstanceOf(SerializationError);
    expect(connection.state).toBe('connected');
    await expect(s.manager.send(connection.id, { fine: true })).resolves.toEqual({ ok: true });
    await waitFor(() => client.received.length === 1);
    expect(client.received).toEqual(['{"fine":true}']);
    expect(s.manager.history(connection.id)!.map((r) => r.to)).toEqual(['connected']);
  });
});

describe('broadcast and sendToUser', () => {
  it('counts every refusal per reason, skips what is not connected, and honours the filter', async () => {
    const hold = holdPending();
    const s = await start({ authenticate: hold.authenticate });
    const alice1 = await s.connect('alice');
    const alice2 = await s.connect('alice');
    const bob = await s.connect('bob');
    const carol = await s.connect('carol');
    const pending = await s.connect('pending-1');
    const closing = await closingConnection(s, 'dave');
    expect(closing.connection.state).toBe('closing');
    const live = [alice1, alice2, bob, carol];

    await expect(s.manager.broadcast('to all')).resolves.toEqual({ sent: 4, rejected: 2, reasons: { not_connected: 1, closing: 1 } });
    await expect(s.manager.sendToUser('alice', 'to alice')).resolves.toEqual({ sent: 2, rejected: 0, reasons: {} });
    await expect(s.manager.sendToUser('nobody', 'to nobody')).resolves.toEqual({ sent: 0, rejected: 0, reasons: {} });
    await expect(s.manager.broadcast('to bob', (c) => c.userId === 'bob')).resolves.toEqual({ sent: 1, rejected: 0, reasons: {} });
    await expect(s.manager.broadcast('to non-alice connected', (c) => c.userId !== 'alice' && c.state === 'connected')).resolves.toEqual({
      sent: 2,
      rejected: 0,
      reasons: {}
    });
    // Everything sent before this marker arrives before it.
    await expect(s.manager.broadcast('end')).resolves.toMatchObject({ sent: 4 });
    await waitFor(() => live.every((c) => c.client.received.at(-1) === 'end'), 5_000, 'every client to get the marker');

    expect(alice1.client.received).toEqual(['to all', 'to alice', 'end']);
    expect(alice2.client.received).toEqual(['to all', 'to alice', 'end']);
    expect(bob.client.received).toEqual(['to all', 'to bob', 'to non-alice connected', 'end']);
    expect(carol.client.received).toEqual(['to all', 'to non-alice connected', 'end']);
    expect(pending.client.received).toEqual([]);
    expect(closing.client.received).toEqual([]);
  });

  it('reports an unserializable broadcast as rejected for every target, touching no connection', async () => {
    const s = await start();
    const a = await s.connect('alice');
    await s.connect('bob');
    const bad = { n: 1n, toJSON: () => { throw new Error('no'); } };
    await expect(s.manager.broadcast(bad)).resolves.toEqual({ sent: 0, rejected: 2, reasons: { serialization_failed: 2 } });
    await expect(s.manager.broadcast(bad, (c) => c.userId === 'alice')).resolves.toEqual({
      sent: 0,
      rejected: 1,
      reasons: { serialization_failed: 1 }
    });
    await expect(s.manager.sendToUser('alice', bad)).resolves.toEqual({ sent: 0, rejected: 1, reasons: { serialization_failed: 1 } });
    expect(s.manager.counts).toEqual({ ...ZERO_COUNTS, connected: 2 });
    await expect(s.manager.sendToUser('alice', 'ok')).resolves.toEqual({ sent: 1, rejected: 0, reasons: {} });
    await waitFor(() => a.client.received.length === 1);
  });

  it('skips a connection whose filter throws and still sends to the rest', async () => {
    const s = await start();
    await s.connect('alice');
    await s.connect('bob');
    const report = await s.manager.broadcast('x', (c) => {
      if (c.userId === 'alice') throw new Error('filter broke');
      return true;
    });
    expect(report).toEqual({ sent: 1, rejected: 0, reasons: {} });
  });
});

describe('close', () => {
  it('is closing before it returns and resolves with how the connection ended', async () => {
    const s = await start();
    const { client, connection } = await s.connect('alice');
    const closed = s.manager.close(connection.id, 4321, 'done here');
    expect(connection.state).toBe('closing');
    expect(s.manager.counts).toEqual({ ...ZERO_COUNTS, closing: 1 });
    await expect(closed).resolves.toEqual({ code: 4321, reason: 'done here', initiator: 'server' });
    await expect(client.closed).resolves.toEqual({ code: 4321, reason: 'done here' });
    expect(connection.close(1000)).toBe(connection.closed);
  });

  it.each([
    ['code 1005', 1005, ''],
    ['code 1006', 1006, ''],
    ['code 2999', 2999, ''],
    ['code 5000', 5000, ''],
    ['code NaN', Number.NaN, ''],
    ['code 1000.5', 1000.5, ''],
    ['a 124-byte reason', 1000, 'é'.repeat(62)]
  ])('throws a RangeError for %s and changes nothing', async (_name, code, reason) => {
    const s = await start();
    const { client, connection } = await s.connect('alice');
    const historyBefore = s.manager.history(connection.id);
    expect(() => s.manager.close(connection.id, code, reason)).toThrow(RangeError);
    expect(() => connection.close(code, reason)).toThrow(RangeError);
    expect(connection.state).toBe('connected');
    expect(s.manager.size).toBe(1);
    expect(s.manager.counts).toEqual({ ...ZERO_COUNTS, connected: 1 });
    expect(s.manager.history(connection.id)).toEqual(historyBefore);
    await expect(connection.send('still here')).resolves.toEqual({ ok: true });
    await waitFor(() => client.received.length === 1);
    expect(client.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('resolves undefined for an unknown id', async () => {
    const s = await start();
    await expect(s.manager.close('no-such-id')).resolves.toBeUndefined();
  });
});

describe('shutdown', () => {
  it('closes every connection with 1001, reports them, and empties the registry', async () => {
    const s = await start();
    const clients = [await s.connect('a'), await s.connect('b'), await s.connect('c')];
    await expect(s.manager.shutdown()).resolves.toEqual({ closed: 3, terminated: 0 });
    expect(s.manager.shuttingDown).toBe(true);
    expect(s.manager.size).toBe(0);
    expect(s.manager.counts).toEqual({ ...ZERO_COUNTS, closed: 3 });
    for (const { client } of clients) await expect(client.closed).resolves.toEqual({ code: 1001, reason: 'server shutting down' });

    const late = await s.connect('late');
    await expect(late.connection.closed).resolves.toEqual({ code: 1001, reason: 'server shutting down', initiator: 'server' });
  });

  it('terminates what does not close within timeoutMs and counts it apart', async () => {
    const s = await start();
    await s.connect('a');
    await s.connect('b');
    const stuck = await s.connect('stuck');
    stallClient(stuck.client.ws);
    cleanup(() => stuck.client.ws.terminate());
    await expect(s.manager.shutdown({ timeoutMs: 500, code: 4000, reason: 'maintenance' })).resolves.toEqual({ closed: 2, terminated: 1 });
    await expect(stuck.connection.closed).resolves.toMatchObject({ code: 1006 });
    expect(s.manager.size).toBe(0);
    expect(s.manager.counts).toEqual({ ...ZERO_COUNTS, closed: 3 });
  });
});

describe('events and inbound messages', () => {
  it('emits connection, transition and close for a lifecycle, and history() keeps the same records', async () => {
    const s = await start();
    const seen: string[] = [];
    const records: TransitionRecord[] = [];
    let info: CloseInfo | undefined;
    s.manager.on('connection', (c) => seen.push(`connection ${c.state}`));
    s.manager.on('transition', (c, record) => {
      expect(record.connectionId).toBe(c.id);
      records.push(record);
    });
    s.manager.on('close', (c, closeInfo) => {
      expect(c.state).toBe('closed');
      info = closeInfo;
    });
    const { connection } = await s.connect('alice');
    const history = () => s.manager.history(connection.id);
    await connection.close(1000, 'bye');
    expect(seen).toEqual(['connection connected']);
    expect(records.map(({ seq, from, to, event, userId }) => ({ seq, from, to, event, userId }))).toEqual([
      { seq: 1, from: 'connecting', to: 'connected', event: 'OPENED', userId: 'alice' },
      { seq: 2, from: 'connected', to: 'closing', event: 'CLOSE', userId: 'alice' },
      { seq: 3, from: 'closing', to: 'closed', event: 'TRANSPORT_CLOSED', userId: 'alice' }
    ]);
    expect(records[1]).toMatchObject({ code: 1000, reason: 'bye', initiator: 'server' });
    expect(records[2]).toMatchObject({ code: 1000, reason: 'bye', initiator: 'server' });
    expect(info).toEqual({ code: 1000, reason: 'bye', initiator: 'server' });
    expect(history()).toEqual(records);
  });

  it('delivers text as a string and binary as a Buffer', async () => {
    const s = await start();
    const got: Array<{ data: string | Buffer; binary: boolean; from: string }> = [];
    s.manager.on('message', (c, data, binary) => got.push({ data, binary, from: c.id }));
    const { client, connection } = await s.connect('alice');
    client.ws.send('héllo');
    client.ws.send(Buffer.from([0, 1, 2]));
    await waitFor(() => got.length === 2);
    expect(got[0]).toEqual({ data: 'héllo', binary: false, from: connection.id });
    expect(got[1]!.binary).toBe(true);
    expect(Buffer.isBuffer(got[1]!.data)).toBe(true);
    expect([...(got[1]!.data as Buffer)]).toEqual([0, 1, 2]);
  });

  it('delivers nothing while connecting or closing', async () => {
    const hold = holdPending();
    const s = await start({ authenticate: hold.authenticate });
    const got: unknown[] = [];
    s.manager.on('message', (_c, data) => got.push(data));
    const { client, connection } = await s.connect('pending-1');
    const raw: string[] = [];
    connection.socket.on('message', (data) => raw.push(data.toString()));

    client.ws.send('while connecting');
    await waitFor(() => raw.length === 1, 5_000, 'the frame to reach the server socket');
    hold.release();
    await waitFor(() => connection.state === 'connected');
    client.ws.send('while connected');
    await waitFor(() => raw.length === 2);

    const closed = connection.close(1000, 'bye');
    client.ws.send('while closing');
    await waitFor(() => raw.length === 3, 5_000, 'the late frame to reach the server socket');
    await closed;
    expect(raw).toEqual(['while connecting', 'while connected', 'while closing']);
    expect(got).toEqual(['while connected']);
  });

  it('survives a message listener that throws', async () => {
    const s = await start();
    let calls = 0;
    s.manager.on('message', () => {
      calls++;
      throw new Error('listener broke');
    });
    const { client, connection } = await s.connect('alice');
    client.ws.send('one');
    client.ws.send('two');
    await waitFor(() => calls === 2, 5_000, 'both messages to reach the listener');
    expect(connection.state).toBe('connected');
    await expect(connection.send('reply')).resolves.toEqual({ ok: true });
    await waitFor(() => client.received.length === 1);
    expect(client.received).toEqual(['reply']);
  });
});

describe('authenticate', () => {
  it('accepts with the identity it returns', async () => {
    const s = await start({
      authenticate: async ({ connection, request }) => {
        expect(connection.state).toBe('connecting');
        expect(request?.url).toBe('/?user=guest');
        return Promise.resolve({ userId: 'bob', metadata: { role: 'admin' } });
      }
    });
    const { connection } = await s.connect('guest');
    await waitFor(() => connection.state === 'connected');
    expect(connection.userId).toBe('bob');
    expect(connection.metadata).toEqual({ role: 'admin' });
    expect(s.manager.connectionsOf('bob')).toEqual([connection]);
    expect(s.manager.connectionsOf('guest')).toEqual([]);
  });

  it.each([
    ['refuses', () => false],
    ['throws', () => {
      throw new Error('auth backend down');
    }],
    ['rejects', () => Promise.reject(new Error('auth backend down'))]
  ])('closes with 1008 when it %s', async (_name, authenticate) => {
    const s = await start({ authenticate });
    const { client, connection } = await s.connect('mallory');
    await expect(connection.closed).resolves.toEqual({ code: 1008, reason: 'authentication failed', initiator: 'server' });
    await expect(client.closed).resolves.toEqual({ code: 1008, reason: 'authentication failed' });
    expect(s.manager.history(connection.id)!.map((r) => r.to)).toEqual(['closing', 'closed']);
  });

  it('is bounded by handshakeTimeoutMs when it never resolves', async () => {
    const s = await start({ handshakeTimeoutMs: 100, authenticate: () => new Promise<boolean>(() => {}) });
    const { client, connection } = await s.connect('slow');
    await expect(connection.closed).resolves.toEqual({ code: 1006, reason: '', initiator: 'timeout' });
    await expect(client.closed).resolves.toMatchObject({ code: 1006 });
    expect(s.manager.history(connection.id)!.map((r) => `${r.event} -> ${r.to}`)).toEqual(['after handshakeTimeout -> closed']);
  });
});

describe('timeouts over real sockets', () => {
  it('terminates a client that never answers pings and keeps one that does', async () => {
    const s = await start({ heartbeatIntervalMs: 150 });
    const silent = await s.connect('silent', { autoPong: false });
    const normal = await s.connect('normal');
    let pings = 0;
    normal.client.ws.on('ping', () => pings++);
    await expect(silent.connection.closed).resolves.toEqual({ code: 1006, reason: '', initiator: 'timeout' });
    await waitFor(() => pings >= 3, 5_000, 'three pings to the answering client');
    expect(normal.connection.state).toBe('connected');
    await expect(silent.client.closed).resolves.toMatchObject({ code: 1006 });
  });

  it('terminates a peer that never answers the close frame after closeTimeoutMs', async () => {
    const s = await start({ closeTimeoutMs: 100 });
    const { client, connection } = await s.connect('stuck');
    stallClient(client.ws);
    cleanup(() => client.ws.terminate());
    const closed = connection.close(1000, 'bye');
    expect(connection.state).toBe('closing');
    await expect(closed).resolves.toEqual({ code: 1006, reason: 'bye', initiator: 'timeout' });
    expect(s.manager.history(connection.id)!.at(-1)).toMatchObject({ event: 'after closeTimeout', to: 'closed' });
  });
});

describe('after everything closed', () => {
  it('holds nothing but counts, and keeps the history of the last closedHistoryLimit connections', async () => {
    const s = await start({ closedHistoryLimit: 2 });
    const ids: string[] = [];
    for (const user of ['a', 'b', 'c']) {
      const { client, connection } = await s.connect(user);
      ids.push(connection.id);
      if (user === 'b') client.ws.close(4001, 'client leaves');
      else void connection.close();
      await connection.closed;
    }
    expect(s.manager.size).toBe(0);
    expect(s.manager.counts).toEqual({ ...ZERO_COUNTS, closed: 3 });
    expect([...s.manager.connections()]).toEqual([]);
    for (const user of ['a', 'b', 'c']) expect(s.manager.connectionsOf(user)).toEqual([]);
    expect(s.manager.history(ids[0]!)).toBeUndefined();
    expect(s.manager.history(ids[1]!)!.at(-1)).toMatchObject({ to: 'closed', code: 4001, reason: 'client leaves', initiator: 'peer' });
    expect(s.manager.history(ids[2]!)!.at(-1)).toMatchObject({ to: 'closed', code: 1000, initiator: 'server' });
  });
});

describe('logging', () => {
  /** Records about a connection: those that name one. */
  function about(records: LogRecord[], connection: Connection): LogRecord[] {
    return records.filter((r) => r.connectionId === connection.id);
  }

  it('logs a refused send at debug, an unknown id at warn and a serialization failure at error', async () => {
    const { logger, records } = captureLogger('debug');
    const s = await start({ logger });
    const { connection } = await s.connect('alice');
    const circular: Record<string, unknown> = {};
    circular.self = circular;

    await s.manager.send(connection.id, circular);
    const serializationRecords = records.filter((r) => r.msg === 'message not serializable');
    expect(serializationRecords).toHaveLength(1);
    expect(serializationRecords[0]).toMatchObject({ level: LOG_LEVELS.error, connectionId: connection.id, userId: 'alice' });

    await s.manager.send('no-such-id', 'x');
    await s.manager.close('no-such-id');
    expect(records.filter((r) => r.connectionId === 'no-such-id').map((r) => r.level)).toEqual([LOG_LEVELS.warn, LOG_LEVELS.warn]);

    const closed = connection.close(1000, 'bye');
    await connection.send('late');
    await closed;
    const refusals = records.filter((r) => r.msg === 'send refused');
    expect(refusals).toHaveLength(1);
    expect(refusals[0]).toMatchObject({ level: LOG_LEVELS.debug, connectionId: connection.id, userId: 'alice', reason: 'closing' });

    const transitions = about(records, connection).filter((r) => r.msg === 'transition');
    expect(transitions.map((r) => [r.level, r.to])).toEqual([
      [LOG_LEVELS.info, 'connected'],
      [LOG_LEVELS.info, 'closing'],
      [LOG_LEVELS.info, 'closed']
    ]);
  });

  it('names the connection and its user in every record about a connection', async () => {
    const { logger, records } = captureLogger('debug');
    const s = await start({
      logger,
      heartbeatIntervalMs: 0,
      authenticate: ({ connection }) => {
        if (connection.userId === 'eve') throw new Error('auth backend down');
        return true;
      }
    });
    const alice = await s.connect('alice');
    const eve = await s.connect('eve');
    s.manager.on('message', () => {
      throw new Error('listener broke');
    });
    alice.client.ws.send('hi');
    await s.manager.broadcast('x', (c) => {
      if (c.userId === 'alice') throw new Error('filter broke');
      return true;
    });
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    await alice.connection.send(circular);
    await eve.connection.closed;
    await waitFor(() => records.some((r) => r.msg === 'message listener threw'), 5_000, 'the listener failure to be logged');
    const closed = alice.connection.close();
    await alice.connection.send('late');
    await closed;

    const kinds = new Set<string>();
    for (const { connection } of [alice, eve]) {
      const mine = about(records, connection);
      expect(mine.length).toBeGreaterThan(0);
      for (const record of mine) {
        kinds.add(String(record.msg));
        expect(record, `record "${record.msg}"`).toMatchObject({ connectionId: connection.id, userId: connection.userId });
      }
    }
    expect([...kinds].sort()).toEqual(
      [
        'authenticate threw; closing',
        'broadcast filter threw; skipping connection',
        'message listener threw',
        'message not serializable',
        'send refused',
        'transition'
      ].sort()
    );
  });
});
