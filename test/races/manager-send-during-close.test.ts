/**
 * Race: `manager.send` while a close is under way, over real sockets:
 * right after `manager.close` in the same tick, and after the peer's close
 * frame has arrived (ws says CLOSING) but before ws emits 'close'. The
 * same without ws's close-frame hook is in peer-close-fallback.test.ts.
 */
import { WebSocket } from 'ws';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { serverPerTest } from '../support/per-test-server.js';
import { waitFor } from '../support/server.js';

describe('manager.send during a close', () => {
  const { start } = serverPerTest();
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('right after manager.close in the same tick: refused closing, socket untouched', async () => {
    const server = await start({ closeTimeoutMs: 1_000, heartbeatIntervalMs: 0 });
    const { manager } = server;
    const { client, connection } = await server.connect('alice');
    const socketSend = vi.spyOn(connection.socket, 'send');
    const closed = manager.close(connection.id, 1001, 'going away');
    const sent = manager.send(connection.id, 'too late');
    expect(connection.state).toBe('closing');
    await expect(sent).resolves.toEqual({ ok: false, reason: 'closing' });
    expect(socketSend).not.toHaveBeenCalled();
    await expect(closed).resolves.toEqual({ code: 1001, reason: 'going away', initiator: 'server' });
    await client.closed;
    expect(client.received).toEqual([]);
    expect(manager.history(connection.id)!.map((r) => `${r.from}->${r.to} ${r.event}`)).toEqual([
      'connecting->connected OPENED',
      'connected->closing CLOSE',
      'closing->closed TRANSPORT_CLOSED'
    ]);
  });

  it("the peer's close frame moves the actor to closing at once, before 'close' and without a send (#10)", async () => {
    const server = await start({ closeTimeoutMs: 250, heartbeatIntervalMs: 0 });
    const { manager } = server;
    const { client, connection } = await server.connect('alice');
    const socketSend = vi.spyOn(connection.socket, 'send');
    // The peer sends its close frame, then reads nothing: the TCP close never completes, so ws emits no 'close'.
    client.ws.close(4001, 'peer leaving');
    client.ws.pause();
    await waitFor(() => connection.state === 'closing', 2_000, 'the peer close frame to arrive');
    expect(connection.socket.readyState).toBe(WebSocket.CLOSING);
    const [, closing] = manager.history(connection.id)!;
    expect(closing).toMatchObject({ from: 'connected', to: 'closing', event: 'PEER_CLOSING', initiator: 'peer' });
    await expect(manager.send(connection.id, 'into a closing socket')).resolves.toEqual({ ok: false, reason: 'closing' });
    await expect(manager.broadcast('everyone')).resolves.toEqual({ sent: 0, rejected: 1, reasons: { closing: 1 } });
    expect(socketSend).not.toHaveBeenCalled();
    await expect(connection.closed).resolves.toMatchObject({ code: 1006, initiator: 'timeout' });
    client.ws.terminate();
    await client.closed;
    expect(client.received).toEqual([]);
  });
});
