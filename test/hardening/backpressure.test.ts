/**
 * maxBufferedBytes and backpressurePolicy over real sockets: a client that
 * reads nothing fills the server's send buffer; the server refuses (or
 * closes) that one connection and keeps serving the others.
 */
import { describe, expect, it } from 'vitest';
import { CLOSE_CODES } from '../../src/index.js';
import { serverPerTest } from '../support/per-test-server.js';
import { waitFor } from '../support/server.js';
import { expectUndisturbed, fillSendBuffer, settledNow, stall, unstall } from './support/peers.js';

const LIMIT = 64 * 1024;
const CHUNK = 'x'.repeat(16 * 1024);

describe('backpressure', () => {
  const { start } = serverPerTest();

  it("'reject' refuses sends to a slow consumer at once and keeps it; it recovers once it reads", async () => {
    const server = await start({ heartbeatIntervalMs: 0, maxBufferedBytes: LIMIT, backpressurePolicy: 'reject' });
    const slow = await server.connect('slow');
    stall(slow.client);
    fillSendBuffer(slow.connection, CHUNK, LIMIT);

    // Refused before any I/O: the promise is already settled.
    await expect(settledNow(slow.connection.send('one more'))).resolves.toEqual({ ok: false, reason: 'backpressure' });
    await expect(server.manager.send(slow.connection.id, 'one more')).resolves.toEqual({ ok: false, reason: 'backpressure' });
    expect(slow.connection.state).toBe('connected');
    expect(server.manager.get(slow.connection.id)).toBe(slow.connection);

    unstall(slow.client);
    await waitFor(() => slow.connection.socket.bufferedAmount < LIMIT, 5_000, 'the send buffer to drain');
    await expect(slow.connection.send('after drain')).resolves.toEqual({ ok: true });
    await waitFor(() => slow.client.received.at(-1) === 'after drain', 5_000, "'after drain' at the client");
    expect(slow.client.received).not.toContain('one more');
  });

  it('broadcast skips and counts a slow consumer while fast consumers get every message', async () => {
    const server = await start({ heartbeatIntervalMs: 0, maxBufferedBytes: LIMIT, backpressurePolicy: 'reject' });
    const fast = [await server.connect('fast-1'), await server.connect('fast-2')];
    const slow = await server.connect('slow');
    stall(slow.client);
    fillSendBuffer(slow.connection, CHUNK, LIMIT);

    const reports = await Promise.all(Array.from({ length: 20 }, (_, i) => server.manager.broadcast(`tick:${i}`)));
    for (const report of reports) expect(report).toEqual({ sent: 2, rejected: 1, reasons: { backpressure: 1 } });
    await expect(server.manager.sendToUser('slow', 'direct')).resolves.toEqual({ sent: 0, rejected: 1, reasons: { backpressure: 1 } });
    const expected = Array.from({ length: 20 }, (_, i) => `tick:${i}`);
    await waitFor(() => fast.every(({ client }) => client.received.length === 20), 5_000, 'every tick at the fast clients');
    for (const { client } of fast) expect(client.received).toEqual(expected);
    expect(slow.connection.state).toBe('connected');
    expect(server.manager.size).toBe(3);
    unstall(slow.client);
  });

  it(`'close' moves the slow consumer to closing with ${CLOSE_CODES.BACKPRESSURE} and leaves the others alone`, async () => {
    const server = await start({ heartbeatIntervalMs: 0, maxBufferedBytes: LIMIT, backpressurePolicy: 'close' });
    const fast = await server.connect('fast');
    const slow = await server.connect('slow');
    stall(slow.client);
    fillSendBuffer(slow.connection, CHUNK, LIMIT);

    await expect(server.manager.broadcast('crossing')).resolves.toEqual({ sent: 1, rejected: 1, reasons: { backpressure: 1 } });
    // In closing before any I/O, with the documented code in the audit record.
    expect(slow.connection.state).toBe('closing');
    expect(server.manager.history(slow.connection.id)!.at(-1)).toMatchObject({
      from: 'connected',
      to: 'closing',
      code: CLOSE_CODES.BACKPRESSURE,
      reason: 'send buffer over maxBufferedBytes',
      initiator: 'server'
    });
    await expect(slow.connection.send('late')).resolves.toEqual({ ok: false, reason: 'closing' });

    // Once the client reads again it finds the close frame behind the data.
    unstall(slow.client);
    // 1013 is the documented code (CLOSE_CODES.BACKPRESSURE).
    await expect(slow.client.closed).resolves.toEqual({ code: 1013, reason: 'send buffer over maxBufferedBytes' });
    await expect(slow.connection.closed).resolves.toEqual({ code: CLOSE_CODES.BACKPRESSURE, reason: 'send buffer over maxBufferedBytes', initiator: 'server' });
    await waitFor(() => fast.client.received.length === 1, 5_000, "'crossing' at the fast client");
    expect(fast.client.received).toEqual(['crossing']);
    await expectUndisturbed(server, [fast.client], [fast.connection], 'after');
  });
});
