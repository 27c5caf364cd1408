/**
 * Connection edges over real sockets on 127.0.0.1: close defaults, close and
 * terminate on a connection already closing or closed, events the machine
 * ignores, a protocol error, the per-second inbound window, and the order
 * in which a send is checked (state, then message, then buffer).
 */
import { describe, expect, it, vi } from 'vitest';
import { SEND_FAILURE_REASONS } from '../../src/index.js';
import { sendInvalidFrame } from '../hardening/support/peers.js';
import { serverPerTest } from '../support/per-test-server.js';
import { LOG_LEVELS, captureLogger, waitFor } from '../support/server.js';

const { start, cleanup } = serverPerTest();

/** A value JSON cannot write. */
function circular(): unknown {
  const value: Record<string, unknown> = {};
  value.self = value;
  return value;
}

describe('close and terminate', () => {
  it('close with 1000 and an empty reason by default, by id and by handle', async () => {
    const s = await start();
    const a = await s.connect('a');
    const b = await s.connect('b');
    await expect(s.manager.close(a.connection.id)).resolves.toEqual({ code: 1000, reason: '', initiator: 'server' });
    await expect(b.connection.close()).resolves.toEqual({ code: 1000, reason: '', initiator: 'server' });
    await expect(a.client.closed).resolves.toEqual({ code: 1000, reason: '' });
    await expect(b.client.closed).resolves.toEqual({ code: 1000, reason: '' });
  });

  it('leave a closing or closed connection as it is, and count no ignored event for it', async () => {
    const s = await start();
    const { connection } = await s.connect('c');
    const closed = connection.close(4000, 'first');
    expect(connection.close(4001, 'second')).toBe(closed);
    await expect(closed).resolves.toEqual({ code: 4000, reason: 'first', initiator: 'server' });
    expect(connection.terminate()).toBe(closed);
    expect(connection.close()).toBe(closed);
    expect(s.manager.ignoredEvents).toBe(0);
    expect(s.manager.history(connection.id)!.map((r) => `${r.event} -> ${r.to}`)).toEqual([
      'OPENED -> connected',
      'CLOSE -> closing',
      'TRANSPORT_CLOSED -> closed'
    ]);
  });
});

describe('a connection whose reading is paused', () => {
  it('still completes a close handshake it starts: the peer\'s close frame is read, not waited for until the close timeout', async () => {
    // A protocol pauses reading to hold a peer's frames (the session protocol while a hello is answered, past its rates).
    const s = await start({ closeTimeoutMs: 60_000 });
    const { client, connection } = await s.connect('p');
    connection._pauseReading(1 << 8);
    await expect(connection.close(4400, 'refused')).resolves.toEqual({ code: 4400, reason: 'refused', initiator: 'server' });
    await expect(client.closed).resolves.toEqual({ code: 4400, reason: 'refused' });
    expect(s.manager.history(connection.id)!.map((r) => r.event)).toEqual(['OPENED', 'CLOSE', 'TRANSPORT_CLOSED']);
  });
});

describe('an event the machine ignores', () => {
  it('is counted and logged at debug with the connection, its state and the event', async () => {
    const { logger, records } = captureLogger('debug');
    const s = await start({ logger });
    const { client, connection } = await s.connect('d');
    const closed = connection.close(1000, 'bye');
    // A bad frame leaves before the client reads the close frame: ws's error reaches a closing connection.
    sendInvalidFrame(client);
    await closed;
    expect(s.manager.ignoredEvents).toBe(1);
    expect(records.filter((r) => r.msg === 'event ignored')).toEqual([
      expect.objectContaining({ level: LOG_LEVELS.debug, connectionId: connection.id, userId: 'd', state: 'closing', event: 'TRANSPORT_ERROR' })
    ]);
  });
});

describe('a protocol error from the peer', () => {
  it('ends the connection with the code ws answered it with, as an error, logged at warn', async () => {
    const { logger, records } = captureLogger('warn');
    const s = await start({ logger });
    const { client, connection } = await s.connect('mallory');
    const message = 'Invalid WebSocket frame: invalid opcode 5';
    sendInvalidFrame(client);
    await expect(client.closed).resolves.toMatchObject({ code: 1002 });
    // ws stops reading after the error, so it never sees the peer's answer: only the error knows 1002.
    await expect(connection.closed).resolves.toEqual({ code: 1002, reason: message, initiator: 'error' });
    expect(records.filter((r) => r.msg === 'transport error')).toEqual([
      expect.objectContaining({ level: LOG_LEVELS.warn, connectionId: connection.id, userId: 'mallory', err: expect.objectContaining({ message }) })
    ]);
  });
});

describe('maxMessagesPerSecond', () => {
  it('counts per second: a message 1000 ms after the window opened starts a new count', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    cleanup(() => vi.useRealTimers());
    const t0 = Date.now();
    const s = await start({ maxMessagesPerSecond: 2 });
    const got: string[] = [];
    s.manager.on('message', (_connection, data) => got.push(String(data)));
    const { client, connection } = await s.connect('e');
    const deliver = async (at: number, ...messages: string[]): Promise<void> => {
      vi.setSystemTime(t0 + at);
      const expected = got.length + messages.length;
      for (const message of messages) client.ws.send(message);
      await waitFor(() => got.length === expected || connection.state !== 'connected', 5_000, `${messages.join(',')} delivered`);
    };

    await deliver(0, 'a', 'b');
    await deliver(1_000, 'c', 'd');
    await deliver(1_999, 'e');
    expect(got).toEqual(['a', 'b', 'c', 'd']);
    await expect(connection.closed).resolves.toMatchObject({ code: 1008, reason: 'message rate limit exceeded' });
  });
});

describe('the checks a send goes through', () => {
  it('the state comes first: an unserializable message to a closing or closed connection is refused by state', async () => {
    const { logger, records } = captureLogger('debug');
    const s = await start({ logger });
    const { connection } = await s.connect('f');
    const result = await connection.send(circular());
    expect(result).toMatchObject({ ok: false, reason: 'serialization_failed' });
    expect(SEND_FAILURE_REASONS).toContain(!result.ok && result.reason);

    const closed = connection.close();
    await expect(connection.send(circular())).resolves.toEqual({ ok: false, reason: 'closing' });
    await closed;
    await expect(connection.send(circular())).resolves.toEqual({ ok: false, reason: 'closed' });
    expect(records.filter((r) => r.msg === 'message not serializable')).toHaveLength(1);
  });

  it('the buffer limit is inclusive: with maxBufferedBytes 0 every send is refused as backpressure', async () => {
    const s = await start({ maxBufferedBytes: 0 });
    const { client, connection } = await s.connect('g');
    await expect(connection.send('x')).resolves.toEqual({ ok: false, reason: 'backpressure' });
    await expect(s.manager.broadcast('y')).resolves.toEqual({ sent: 0, rejected: 1, reasons: { backpressure: 1 } });
    expect(connection.state).toBe('connected');
    expect(client.received).toEqual([]);
  });
});

describe('toJSON', () => {
  it('writes a connection as its id, user and state, not its socket', async () => {
    const s = await start();
    const { connection } = await s.connect('h');
    expect(JSON.parse(JSON.stringify({ connection }))).toEqual({ connection: { id: connection.id, userId: 'h', state: 'connected' } });
  });
});
