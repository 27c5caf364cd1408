/**
 * The slower path of src/core/ws-internals.ts: when ws offers no hook for the
 * peer's close frame, the actor still leaves `connected` the first time
 * anything reads readyState (a send, a close, the heartbeat), and nothing
 * is written to the closing socket.
 */
import { WebSocket } from 'ws';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { serverPerTest } from '../support/per-test-server.js';
import { waitFor } from '../support/server.js';
import type * as WsInternals from '../../src/core/ws-internals.js';

vi.mock('../../src/core/ws-internals.js', async (importOriginal) => ({
  ...(await importOriginal<typeof WsInternals>()),
  onCloseFrame: () => false
}));

describe('manager.send during a close, without the close-frame hook', () => {
  const { start } = serverPerTest();
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("after the peer's close frame arrived but before 'close': refused closing, actor moves to closing via PEER_CLOSING", async () => {
    const server = await start({ closeTimeoutMs: 250, heartbeatIntervalMs: 0 });
    const { manager } = server;
    const { client, connection } = await server.connect('alice');
    // The peer sends its close frame, then reads nothing: the server answers it,
    // but the TCP close never completes, so ws stays CLOSING and emits no 'close'.
    client.ws.close(4001, 'peer leaving');
    client.ws.pause();
    await waitFor(() => connection.socket.readyState === WebSocket.CLOSING, 2_000, 'the peer close frame to arrive');
    expect(connection.state).toBe('connected');

    const socketSend = vi.spyOn(connection.socket, 'send');
    await expect(manager.send(connection.id, 'into a closing socket')).resolves.toEqual({ ok: false, reason: 'closing' });
    expect(connection.state).toBe('closing');
    expect(socketSend).not.toHaveBeenCalled();
    const [, closing] = manager.history(connection.id)!;
    expect(closing).toMatchObject({ from: 'connected', to: 'closing', event: 'PEER_CLOSING', initiator: 'peer' });

    // Every later send is refused by state alone, and PEER_CLOSING is not sent again.
    const ignoredBefore = manager.ignoredEvents;
    await expect(manager.send(connection.id, 'again')).resolves.toEqual({ ok: false, reason: 'closing' });
    await expect(manager.broadcast('everyone')).resolves.toEqual({ sent: 0, rejected: 1, reasons: { closing: 1 } });
    expect(socketSend).not.toHaveBeenCalled();
    expect(manager.ignoredEvents).toBe(ignoredBefore);

    // The close timeout ends what the peer never finished.
    await expect(connection.closed).resolves.toMatchObject({ code: 1006, initiator: 'timeout' });
    expect(manager.history(connection.id)!.map((r) => `${r.from}->${r.to} ${r.event}`)).toEqual([
      'connecting->connected OPENED',
      'connected->closing PEER_CLOSING',
      'closing->closed after closeTimeout'
    ]);
    expect(manager.size).toBe(0);
    client.ws.terminate();
    await client.closed;
    expect(client.received).toEqual([]);
  });

  /** A peer that sent its close frame and then stopped reading: ws is CLOSING, the actor still connected. */
  async function peerHalfClosed(options: { heartbeatIntervalMs: number }) {
    const server = await start({ closeTimeoutMs: 250, ...options });
    const { client, connection } = await server.connect('alice');
    client.ws.close(4001, 'peer leaving');
    client.ws.pause();
    await waitFor(() => connection.socket.readyState === WebSocket.CLOSING, 2_000, 'the peer close frame to arrive');
    expect(connection.state).toBe('connected');
    return { server, client, connection };
  }

  it("close() after the peer's close frame arrived records the peer as the one who closed", async () => {
    const { server, client, connection } = await peerHalfClosed({ heartbeatIntervalMs: 0 });
    const closed = server.manager.close(connection.id, 1000, 'server done');
    expect(connection.state).toBe('closing');
    await expect(closed).resolves.toMatchObject({ initiator: 'timeout' });
    expect(server.manager.history(connection.id)!.map((r) => `${r.from}->${r.to} ${r.event} ${r.initiator ?? ''}`)).toEqual([
      'connecting->connected OPENED ',
      'connected->closing PEER_CLOSING peer',
      'closing->closed after closeTimeout timeout'
    ]);
    client.ws.terminate();
    await client.closed;
  });

  it("the heartbeat notices a peer's close frame that nothing else reported, without sending", async () => {
    const { server, client, connection } = await peerHalfClosed({ heartbeatIntervalMs: 50 });
    const socketPing = vi.spyOn(connection.socket, 'ping');
    await waitFor(() => connection.state !== 'connected', 2_000, 'the heartbeat to see the closing socket');
    expect(socketPing).not.toHaveBeenCalled();
    await expect(connection.closed).resolves.toMatchObject({ code: 1006, initiator: 'timeout' });
    expect(server.manager.history(connection.id)!.map((r) => `${r.from}->${r.to} ${r.event}`)).toEqual([
      'connecting->connected OPENED',
      'connected->closing PEER_CLOSING',
      'closing->closed after closeTimeout'
    ]);
    client.ws.terminate();
    await client.closed;
  });
});
