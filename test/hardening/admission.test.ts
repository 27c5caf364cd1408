/**
 * Admission and abuse limits over real sockets: maxConnections,
 * maxConnectionsPerUser, ws's maxPayload, maxMessagesPerSecond, and the
 * authenticate hook bounded by handshakeTimeoutMs.
 */
import { describe, expect, it } from 'vitest';
import { CLOSE_CODES, type AuthenticateResult, type Connection } from '../../src/index.js';
import { serverPerTest } from '../support/per-test-server.js';
import { waitFor } from '../support/server.js';
import { expectUndisturbed, recordInbound } from './support/peers.js';

describe('admission limits', () => {
  const { start } = serverPerTest();

  it(`maxConnections: one more is closed with ${CLOSE_CODES.TRY_AGAIN_LATER}, the others untouched; a freed slot is reused`, async () => {
    const server = await start({ heartbeatIntervalMs: 0, maxConnections: 2 });
    const a = await server.connect('a');
    const b = await server.connect('b');
    const extra = await server.connect('c');
    await expect(extra.client.closed).resolves.toEqual({ code: 1013, reason: 'server at capacity' });
    await expect(extra.connection.closed).resolves.toMatchObject({ code: CLOSE_CODES.TRY_AGAIN_LATER, initiator: 'server' });
    await expectUndisturbed(server, [a.client, b.client], [a.connection, b.connection], 'full');

    await server.manager.close(a.connection.id);
    const d = await server.connect('d');
    expect(d.connection.state).toBe('connected');
    await expectUndisturbed(server, [b.client, d.client], [b.connection, d.connection], 'freed');
  });

  it(`maxConnectionsPerUser: the user's extra connection is closed with ${CLOSE_CODES.POLICY_VIOLATION}, other users unaffected`, async () => {
    const server = await start({ heartbeatIntervalMs: 0, maxConnectionsPerUser: 2 });
    const first = await server.connect('alice');
    const second = await server.connect('alice');
    const third = await server.connect('alice');
    const bob = await server.connect('bob');
    await expect(third.client.closed).resolves.toEqual({ code: 1008, reason: 'too many connections for user' });
    await third.connection.closed;
    expect(server.manager.connectionsOf('alice')).toEqual([first.connection, second.connection]);
    await expectUndisturbed(server, [first.client, second.client, bob.client], [first.connection, second.connection, bob.connection], 'cap');

    await server.manager.close(second.connection.id);
    const again = await server.connect('alice');
    expect(again.connection.state).toBe('connected');
    expect(server.manager.connectionsOf('alice')).toEqual([first.connection, again.connection]);
  });

  it('maxPayload (a WebSocketServer option): a message at the limit passes, one byte over closes with 1009 and leaves the registry', async () => {
    const server = await start({ heartbeatIntervalMs: 0 }, { maxPayload: 1024 });
    const seen = recordInbound(server.manager);
    const bystander = await server.connect('bystander');
    const big = await server.connect('big');
    big.client.ws.send('x'.repeat(1024));
    await waitFor(() => seen.get(big.connection.id)?.length === 1, 5_000, 'the 1024-byte message');
    big.client.ws.send('x'.repeat(1025));
    await expect(big.client.closed).resolves.toEqual({ code: 1009, reason: '' });
    await expect(big.connection.closed).resolves.toMatchObject({ initiator: 'error' });
    expect(seen.get(big.connection.id)).toHaveLength(1);
    await expectUndisturbed(server, [bystander.client], [bystander.connection], 'payload');
  });

  it(`maxMessagesPerSecond: the limit passes, the next message in the second closes with ${CLOSE_CODES.RATE_LIMITED}`, async () => {
    const server = await start({ heartbeatIntervalMs: 0, maxMessagesPerSecond: 5 });
    const seen = recordInbound(server.manager);
    const calm = await server.connect('calm');
    const noisy = await server.connect('noisy');
    for (let i = 0; i < 5; i++) noisy.client.ws.send(`m${i}`);
    await waitFor(() => seen.get(noisy.connection.id)?.length === 5, 5_000, 'five messages');
    expect(noisy.connection.state).toBe('connected');

    for (let i = 5; i < 25; i++) noisy.client.ws.send(`m${i}`);
    await expect(noisy.client.closed).resolves.toEqual({ code: 1008, reason: 'message rate limit exceeded' });
    await expect(noisy.connection.closed).resolves.toMatchObject({ code: CLOSE_CODES.RATE_LIMITED, initiator: 'server' });
    expect(seen.get(noisy.connection.id)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    calm.client.ws.send('still here');
    await waitFor(() => seen.get(calm.connection.id)?.length === 1, 5_000, "calm client's message");
    await expectUndisturbed(server, [calm.client], [calm.connection], 'rate');
  });
});

describe('authenticate bounded by handshakeTimeoutMs', () => {
  const { start } = serverPerTest();

  /** Authenticates a peer by its first message, `token:<user>`, on the raw socket. */
  function tokenAuth({ connection }: { connection: Connection }): Promise<AuthenticateResult> {
    return new Promise((resolve, reject) => {
      connection.socket.once('message', (data) => {
        const text = data.toString();
        if (text === 'throw') reject(new Error('auth backend down'));
        else resolve(text.startsWith('token:') ? { userId: text.slice('token:'.length), metadata: { via: 'token' } } : false);
      });
    });
  }

  it('a peer that never authenticates gets nothing, delivers nothing and is closed at the timeout', async () => {
    const server = await start({ heartbeatIntervalMs: 0, handshakeTimeoutMs: 300, authenticate: tokenAuth });
    const seen = recordInbound(server.manager);
    const alice = await server.connect();
    alice.client.ws.send('token:alice');
    await waitFor(() => alice.connection.state === 'connected', 5_000, 'alice authenticated');
    expect(alice.connection.userId).toBe('alice');
    expect(alice.connection.metadata).toEqual({ via: 'token' });

    const silent = await server.connect('mallory');
    expect(silent.connection.state).toBe('connecting');
    await expect(server.manager.broadcast('to all')).resolves.toEqual({ sent: 1, rejected: 1, reasons: { not_connected: 1 } });
    await expect(server.manager.sendToUser('mallory', 'to mallory')).resolves.toEqual({ sent: 0, rejected: 1, reasons: { not_connected: 1 } });
    await expect(server.manager.send(silent.connection.id, 'direct')).resolves.toEqual({ ok: false, reason: 'not_connected' });

    await expect(silent.connection.closed).resolves.toEqual({ code: 1006, reason: '', initiator: 'timeout' });
    await expect(silent.client.closed).resolves.toMatchObject({ code: 1006 });
    expect(silent.client.received).toEqual([]);
    expect(server.manager.history(silent.connection.id)!.map((r) => r.event)).toEqual(['after handshakeTimeout']);
    // The token was the handshake, not an application message.
    alice.client.ws.send('hello');
    await waitFor(() => seen.get(alice.connection.id)?.length === 1, 5_000, "alice's message");
    expect(seen.get(alice.connection.id)).toEqual(['hello']);
    expect(seen.has(silent.connection.id)).toBe(false);
    await waitFor(() => alice.client.received.length === 1, 5_000, 'the broadcast at alice');
    expect(alice.client.received).toEqual(['to all']);
    await expectUndisturbed(server, [alice.client], [alice.connection], 'auth');
  });

  it(`a refused or throwing authenticate closes with ${CLOSE_CODES.POLICY_VIOLATION}`, async () => {
    const server = await start({ heartbeatIntervalMs: 0, handshakeTimeoutMs: 5_000, authenticate: tokenAuth });
    const refused = await server.connect();
    refused.client.ws.send('no token');
    await expect(refused.client.closed).resolves.toEqual({ code: 1008, reason: 'authentication failed' });
    const throwing = await server.connect();
    throwing.client.ws.send('throw');
    await expect(throwing.client.closed).resolves.toEqual({ code: 1008, reason: 'authentication failed' });
    await Promise.all([refused.connection.closed, throwing.connection.closed]);
    expect(server.manager.size).toBe(0);
  });

  it('an authenticate that answers after the timeout does not revive the connection', async () => {
    let answer!: (result: AuthenticateResult) => void;
    const server = await start({
      heartbeatIntervalMs: 0,
      handshakeTimeoutMs: 200,
      authenticate: () => new Promise((resolve) => (answer = resolve))
    });
    const late = await server.connect();
    await expect(late.connection.closed).resolves.toMatchObject({ initiator: 'timeout' });
    answer({ userId: 'late' });
    await new Promise((resolve) => setImmediate(resolve));
    expect(late.connection.state).toBe('closed');
    expect(server.manager.size).toBe(0);
    expect(server.manager.connectionsOf('late')).toEqual([]);
    expect(server.manager.history(late.connection.id)).toHaveLength(1);
  });
});
