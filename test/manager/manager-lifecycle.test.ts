/**
 * ConnectionManager edges over real sockets on 127.0.0.1: outgoing
 * connections and shutdown, identify and authenticate results, what the
 * per-user limit counts, shutdown of connections still authenticating,
 * history(), and what is logged for unknown ids.
 */
import { describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import { ConnectionManager, type Connection, type ConnectionManagerOptions } from '../../src/index.js';
import { serverPerTest } from '../support/per-test-server.js';
import { LOG_LEVELS, captureLogger, silentLogger, stallClient, waitFor } from '../support/server.js';

const { start, cleanup } = serverPerTest();

/** A manager for outgoing connections, shut down after the test. */
function outgoingManager(): ConnectionManager {
  const manager = new ConnectionManager({ logger: silentLogger(), heartbeatIntervalMs: 0 });
  cleanup(() => manager.shutdown({ timeoutMs: 500 }));
  return manager;
}

describe('outgoing connections', () => {
  it('emit connection, and one opened during shutdown is closed at once with 1001', async () => {
    const s = await start();
    const url = `ws://127.0.0.1:${s.port}/`;
    const manager = outgoingManager();
    const seen: Connection[] = [];
    manager.on('connection', (connection) => seen.push(connection));

    const first = manager.connect(url);
    expect(seen).toEqual([first]);
    await waitFor(() => first.state === 'connected', 5_000, 'the outgoing connection to open');
    await expect(manager.shutdown({ timeoutMs: 1_000 })).resolves.toEqual({ closed: 1, terminated: 0 });

    const late = manager.connect(url);
    expect(seen).toEqual([first, late]);
    expect(late.state).toBe('closing');
    expect(manager.history(late.id)).toEqual([
      expect.objectContaining({ from: 'connecting', to: 'closing', event: 'CLOSE', code: 1001, reason: 'client shutting down', initiator: 'server' })
    ]);
    // Closing a socket still connecting aborts its handshake: no close frame, so 1006.
    await expect(late.closed).resolves.toMatchObject({ code: 1006 });
  });

  it('close() while the socket is still connecting aborts it: closing at once, then closed', async () => {
    const s = await start();
    const manager = outgoingManager();
    const connection = manager.connect(`ws://127.0.0.1:${s.port}/`);
    expect(connection.state).toBe('connecting');
    const closed = connection.close(4000, 'changed my mind');
    expect(connection.state).toBe('closing');
    await expect(closed).resolves.toMatchObject({ code: 1006 });
    expect(manager.size).toBe(0);
  });
});

describe('identify', () => {
  it('is optional: without it a connection is accepted with no user and nothing is logged', async () => {
    const { logger, records } = captureLogger('debug');
    const s = await start({ logger });
    s.detach();
    cleanup(s.manager.attach(s.wss));
    const { connection } = await s.connect('ignored');
    expect(connection.state).toBe('connected');
    expect(connection.userId).toBeUndefined();
    expect(records.filter((r) => r.level >= LOG_LEVELS.warn)).toEqual([]);
  });

  it('that throws refuses the upgrade with 500 before the handshake, no connection is made, and the error is logged (fail closed, #25)', async () => {
    const { logger, records } = captureLogger('warn');
    const s = await start({ logger });
    s.detach();
    cleanup(
      s.manager.attach(s.wss, {
        identify: () => {
          throw new Error('bad cookie');
        }
      })
    );
    let made = 0;
    s.manager.on('connection', () => made++);
    expect(await upgradeStatus(s.port)).toBe(500);
    expect(made).toBe(0);
    expect(s.manager.size).toBe(0);
    expect(records).toEqual([
      expect.objectContaining({ level: LOG_LEVELS.error, msg: 'identify threw; upgrade refused with 500', err: expect.objectContaining({ message: 'bad cookie' }) })
    ]);
  });

  it.each([
    ['false', () => false, 401],
    ['{ status: 403 }', () => ({ status: 403, reason: 'not you' }), 403],
    ['a number', () => 42 as never, 500],
    ['a userId that is not a string', () => ({ userId: 7 }) as never, 500]
  ])('that returns %s refuses the upgrade with %d', async (_name, identify, status) => {
    const s = await start();
    s.detach();
    cleanup(s.manager.attach(s.wss, { identify }));
    expect(await upgradeStatus(s.port)).toBe(status);
    expect(s.manager.size).toBe(0);
  });

  it('that returns true accepts anonymously, as authenticate may (#25)', async () => {
    const s = await start();
    s.detach();
    cleanup(s.manager.attach(s.wss, { identify: () => true }));
    const { connection } = await s.connect('ignored');
    expect(connection.state).toBe('connected');
    expect(connection.userId).toBeUndefined();
  });

  it('that does not answer within identifyTimeoutMs refuses with 503 (async, before the handshake)', async () => {
    const { logger, records } = captureLogger('warn');
    const s = await start({ logger });
    s.detach();
    cleanup(s.manager.attach(s.wss, { identify: () => new Promise(() => {}), identifyTimeoutMs: 100 }));
    expect(await upgradeStatus(s.port)).toBe(503);
    expect(s.manager.size).toBe(0);
    expect(records).toEqual([expect.objectContaining({ level: LOG_LEVELS.warn, msg: 'identify did not answer in time; upgrade refused with 503', identifyTimeoutMs: 100 })]);
  });

  it('refuses a bad identifyTimeoutMs at attach, naming it', async () => {
    const s = await start();
    expect(() => s.manager.attach(s.wss, { identify: () => true, identifyTimeoutMs: 2 ** 31 })).toThrow(/Invalid option identifyTimeoutMs: 2147483648/);
  });

  it("runs the application's own verifyClient after identify, and detach puts it back", async () => {
    const s = await start();
    s.detach();
    const seen: string[] = [];
    const theirs = (info: { req: { url?: string } }): boolean => {
      seen.push(info.req.url ?? '');
      return !(info.req.url ?? '').includes('blocked');
    };
    (s.wss.options as { verifyClient?: unknown }).verifyClient = theirs;
    const detach = s.manager.attach(s.wss, { identify: (request) => ({ userId: new URL(request.url!, 'http://x').searchParams.get('user') ?? undefined }) });
    const { connection } = await s.connect('ann');
    expect(connection.userId).toBe('ann');
    expect(await upgradeStatus(s.port, '/?user=x&blocked')).toBe(401);
    expect(seen).toEqual(['/?user=ann', '/?user=x&blocked']);
    detach();
    expect((s.wss.options as { verifyClient?: unknown }).verifyClient).toBe(theirs);
  });
});

/** The HTTP status a refused upgrade got. */
function upgradeStatus(port: number, path = '/?user=u'): Promise<number> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
  ws.on('error', () => {});
  return new Promise((resolve, reject) => {
    ws.once('unexpected-response', (_request, response) => {
      resolve(response.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('open', () => {
      ws.terminate();
      reject(new Error('the upgrade was accepted'));
    });
  });
}

describe('authenticate', () => {
  it.each([
    ['nothing', () => undefined],
    // Not allowed by the types, but a plain JavaScript hook may do it.
    ['null', () => null]
  ])('that returns %s accepts the connection as it is', async (_name, authenticate) => {
    const s = await start({ authenticate: authenticate as unknown as ConnectionManagerOptions['authenticate'] });
    const { client, connection } = await s.connect('carol');
    await waitFor(() => connection.state === 'connected', 5_000, 'the connection to be admitted');
    expect(connection.userId).toBe('carol');
    expect(s.manager.connectionsOf('carol')).toEqual([connection]);
    await expect(connection.send('welcome')).resolves.toEqual({ ok: true });
    await waitFor(() => client.received.length === 1);
  });
});

describe('maxConnectionsPerUser', () => {
  it('counts a connection of the user that is still authenticating', async () => {
    let calls = 0;
    // The first connection waits in authenticate for as long as the test lasts.
    const s = await start({ maxConnectionsPerUser: 1, authenticate: () => (calls++ === 0 ? new Promise<boolean>(() => {}) : true) });
    const waiting = await s.connect('dana');
    const second = await s.connect('dana');
    await expect(second.connection.closed).resolves.toEqual({ code: 1008, reason: 'too many connections for user', initiator: 'server' });
    expect(waiting.connection.state).toBe('connecting');
  });

  it('does not count a connection of the user that is already closing', async () => {
    const s = await start({ maxConnectionsPerUser: 1 });
    const leaving = await s.connect('erin');
    stallClient(leaving.client.ws);
    cleanup(() => leaving.client.ws.terminate());
    void leaving.connection.close(1000, 'bye');
    expect(leaving.connection.state).toBe('closing');
    const next = await s.connect('erin');
    expect(next.connection.state).toBe('connected');
  });
});

describe('shutdown', () => {
  it('closes a connection still authenticating with 1001, as a completed close', async () => {
    const s = await start({ authenticate: () => new Promise<boolean>(() => {}) });
    const { client, connection } = await s.connect('frank');
    expect(connection.state).toBe('connecting');
    await expect(s.manager.shutdown({ timeoutMs: 2_000 })).resolves.toEqual({ closed: 1, terminated: 0 });
    await expect(client.closed).resolves.toEqual({ code: 1001, reason: 'server shutting down' });
  });

  it('pauses batchIntervalMs only between batches, never after the last', async () => {
    const s = await start();
    await s.connect('g1');
    await s.connect('g2');
    // A single batch: an interval of an hour would never let this resolve.
    await expect(s.manager.shutdown({ batchSize: 2, batchIntervalMs: 3_600_000 })).resolves.toEqual({ closed: 2, terminated: 0 });
  });

  it('leaves no timer behind once it resolved', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const manager = new ConnectionManager({ logger: silentLogger() });
      await expect(manager.shutdown({ timeoutMs: 60_000 })).resolves.toEqual({ closed: 0, terminated: 0 });
      // The deadline would otherwise hold the process open for timeoutMs.
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('history()', () => {
  it('keeps the latest historyLimit records, hands out copies, and gives close fields only to closing and closed records', async () => {
    const s = await start({ historyLimit: 1 });
    const { connection } = await s.connect('hana');
    const live = s.manager.history(connection.id)!;
    expect(live).toEqual([expect.objectContaining({ seq: 1, from: 'connecting', to: 'connected' })]);
    for (const field of ['code', 'reason', 'initiator']) expect(live[0]).not.toHaveProperty(field);
    live.pop();
    expect(s.manager.history(connection.id)).toHaveLength(1);

    await connection.close(4000, 'done');
    expect(s.manager.history(connection.id)).toEqual([
      expect.objectContaining({ seq: 3, from: 'closing', to: 'closed', code: 4000, reason: 'done', initiator: 'server' })
    ]);
  });
});

describe('unknown ids', () => {
  it('a send or close to one is logged at warn, saying which', async () => {
    const { logger, records } = captureLogger('warn');
    const manager = new ConnectionManager({ logger });
    await expect(manager.send('nope', 'x')).resolves.toEqual({ ok: false, reason: 'not_found' });
    await expect(manager.close('nope')).resolves.toBeUndefined();
    expect(records.map(({ level, msg, connectionId }) => ({ level, msg, connectionId }))).toEqual([
      { level: LOG_LEVELS.warn, msg: 'send to unknown connection', connectionId: 'nope' },
      { level: LOG_LEVELS.warn, msg: 'close of unknown connection', connectionId: 'nope' }
    ]);
  });
});
