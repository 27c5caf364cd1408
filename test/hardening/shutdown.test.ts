/**
 * Graceful shutdown over real sockets: batches, the timeout that terminates
 * peers that never answer, and refusing newcomers with 1001.
 */
import { describe, expect, it } from 'vitest';
import { CLOSE_CODES, type ConnectionManager } from '../../src/index.js';
import { WebSocket } from 'ws';
import { serverPerTest } from '../support/per-test-server.js';
import { waitFor } from '../support/server.js';
import { stall } from './support/peers.js';

/**
 * Ids of connections entering `closing`, grouped by the macrotask they
 * entered it in: each group is one batch the manager closed in one step.
 */
function closingBatches(manager: ConnectionManager): string[][] {
  const batches: string[][] = [];
  let current: string[] | undefined;
  manager.on('transition', (connection, record) => {
    if (record.to !== 'closing') return;
    if (!current) {
      current = [];
      batches.push(current);
      setImmediate(() => (current = undefined));
    }
    current.push(connection.id);
  });
  return batches;
}

describe('shutdown', () => {
  const { start } = serverPerTest();

  for (const batchIntervalMs of [0, 30]) {
    it(`closes in batches of batchSize, one step per batch (batchIntervalMs ${batchIntervalMs})`, async () => {
      const server = await start({ heartbeatIntervalMs: 0 });
      const peers = [];
      for (let i = 0; i < 5; i++) peers.push(await server.connect(`u${i}`));
      const ids = peers.map(({ connection }) => connection.id);
      const batches = closingBatches(server.manager);

      const report = server.manager.shutdown({ batchSize: 2, batchIntervalMs });
      // The first batch is closing when shutdown() returns; the rest wait their turn.
      expect(peers.map(({ connection }) => connection.state)).toEqual(['closing', 'closing', 'connected', 'connected', 'connected']);
      await expect(report).resolves.toEqual({ closed: 5, terminated: 0 });
      expect(batches).toEqual([ids.slice(0, 2), ids.slice(2, 4), ids.slice(4)]);
      for (const { client } of peers) {
        await expect(client.closed).resolves.toEqual({ code: 1001, reason: 'server shutting down' });
      }
      expect(server.manager.size).toBe(0);
    });
  }

  it('terminates at timeoutMs the peers that never answer the close frame', async () => {
    // closeTimeoutMs far above timeoutMs: only shutdown's own deadline can end the stalled peers.
    const server = await start({ heartbeatIntervalMs: 0, closeTimeoutMs: 30_000 });
    const polite = [await server.connect('p1'), await server.connect('p2')];
    const stalled = [await server.connect('s1'), await server.connect('s2')];
    for (const { client } of stalled) stall(client);

    await expect(server.manager.shutdown({ code: 4000, reason: 'maintenance', timeoutMs: 300 })).resolves.toEqual({
      closed: 2,
      terminated: 2
    });
    for (const { client, connection } of polite) {
      await expect(client.closed).resolves.toEqual({ code: 4000, reason: 'maintenance' });
      await expect(connection.closed).resolves.toEqual({ code: 4000, reason: 'maintenance', initiator: 'server' });
    }
    for (const { connection } of stalled) {
      await expect(connection.closed).resolves.toMatchObject({ code: 1006, initiator: 'server' });
      expect(server.manager.history(connection.id)!.map((r) => r.to)).toEqual(['connected', 'closing', 'closed']);
      await waitFor(() => connection.socket.readyState === WebSocket.CLOSED, 5_000, 'the socket destroyed');
    }
    expect(server.manager.size).toBe(0);
  });

  it('counts as terminated the peers the close timeout ended before the deadline', async () => {
    const server = await start({ heartbeatIntervalMs: 0, closeTimeoutMs: 200 });
    const polite = await server.connect('p');
    const stalled = await server.connect('s');
    stall(stalled.client);
    await expect(server.manager.shutdown({ timeoutMs: 30_000 })).resolves.toEqual({ closed: 1, terminated: 1 });
    await expect(stalled.connection.closed).resolves.toMatchObject({ code: 1006, initiator: 'timeout' });
    await expect(polite.client.closed).resolves.toEqual({ code: 1001, reason: 'server shutting down' });
  });

  it(`refuses connections that arrive during and after shutdown with ${CLOSE_CODES.GOING_AWAY}`, async () => {
    const server = await start({ heartbeatIntervalMs: 0, closeTimeoutMs: 30_000 });
    const stalled = await server.connect('s');
    stall(stalled.client);
    const report = server.manager.shutdown({ timeoutMs: 30_000 });
    expect(server.manager.shuttingDown).toBe(true);

    // The stalled peer holds the shutdown open until its client goes away.
    const during = await server.connect('late');
    await expect(during.client.closed).resolves.toEqual({ code: 1001, reason: 'server shutting down' });
    await expect(during.connection.closed).resolves.toMatchObject({ code: CLOSE_CODES.GOING_AWAY, initiator: 'server' });
    expect(during.connection.state).toBe('closed');
    expect([...server.manager.connections()]).toEqual([stalled.connection]);

    stalled.client.ws.terminate();
    await expect(report).resolves.toEqual({ closed: 1, terminated: 0 });
    const after = await server.connect('later');
    await expect(after.client.closed).resolves.toEqual({ code: 1001, reason: 'server shutting down' });
  });
});
