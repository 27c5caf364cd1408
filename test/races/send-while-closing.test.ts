/**
 * Race: sends that arrive while the connection is closing, over real
 * sockets. They are refused, and the socket's `send` is never called.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { serverPerTest } from '../support/per-test-server.js';
import { waitFor } from '../support/server.js';

describe('send while the connection is closing', () => {
  const { start } = serverPerTest();
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('is refused on every path without touching the socket, for as long as closing lasts, and after', async () => {
    const server = await start({ closeTimeoutMs: 250, heartbeatIntervalMs: 0 });
    const { manager } = server;
    const { client, connection } = await server.connect('alice');
    const bystander = await server.connect('bob');
    // The peer reads nothing, so it never answers the close frame: closing lasts until the close timeout.
    client.ws.pause();
    const closed = manager.close(connection.id, 1000, 'bye');
    const socketSend = vi.spyOn(connection.socket, 'send');
    const bystanderSend = vi.spyOn(bystander.connection.socket, 'send');

    // Same tick, after a turn of the event loop, and after real time has passed.
    const turns = [
      () => Promise.resolve(),
      () => new Promise((resolve) => setImmediate(resolve)),
      () => new Promise((resolve) => setTimeout(resolve, 30))
    ];
    for (const turn of turns) {
      await turn();
      expect(connection.state).toBe('closing');
      await expect(connection.send('direct')).resolves.toEqual({ ok: false, reason: 'closing' });
      await expect(manager.send(connection.id, 'by id')).resolves.toEqual({ ok: false, reason: 'closing' });
      await expect(manager.sendToUser('alice', 'to alice')).resolves.toEqual({ sent: 0, rejected: 1, reasons: { closing: 1 } });
      await expect(manager.broadcast('to all')).resolves.toEqual({ sent: 1, rejected: 1, reasons: { closing: 1 } });
    }
    expect(socketSend).not.toHaveBeenCalled();
    // The broadcast still reached the connection that is not closing.
    expect(bystanderSend).toHaveBeenCalledTimes(3);
    await waitFor(() => bystander.client.received.length === 3, 2_000, 'the bystander to get three broadcasts');

    await expect(closed).resolves.toMatchObject({ code: 1006, initiator: 'timeout' });
    await expect(connection.send('late')).resolves.toEqual({ ok: false, reason: 'closed' });
    await expect(manager.send(connection.id, 'late')).resolves.toEqual({ ok: false, reason: 'not_found' });
    expect(socketSend).not.toHaveBeenCalled();
    client.ws.terminate();
    await client.closed;
    expect(client.received).toEqual([]);
  });

  it('is refused while closing after connection.close() with no socket write, then the close completes normally', async () => {
    const server = await start({ closeTimeoutMs: 1_000, heartbeatIntervalMs: 0 });
    const { client, connection } = await server.connect('alice');
    await expect(connection.send('first')).resolves.toEqual({ ok: true });
    const closed = connection.close(4000, 'done');
    const socketSend = vi.spyOn(connection.socket, 'send');
    const refusals = await Promise.all([connection.send('a'), server.manager.send(connection.id, 'b'), connection.send({ c: 1 })]);
    expect(refusals).toEqual([
      { ok: false, reason: 'closing' },
      { ok: false, reason: 'closing' },
      { ok: false, reason: 'closing' }
    ]);
    expect(socketSend).not.toHaveBeenCalled();
    await expect(closed).resolves.toEqual({ code: 4000, reason: 'done', initiator: 'server' });
    await expect(client.closed).resolves.toEqual({ code: 4000, reason: 'done' });
    expect(client.received).toEqual(['first']);
  });
});
