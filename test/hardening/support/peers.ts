/**
 * Misbehaving peers and the checks that the rest of the server is unharmed.
 * Built on the real-socket harness in test/support/server.ts.
 */
import type { Socket } from 'node:net';
import { expect } from 'vitest';
import type { Connection, ConnectionManager } from '../../../src/index.js';
import { encodeFrame } from './raw-client.js';
import { waitFor, type TestClient, type TestServer } from '../../support/server.js';

/** The client's TCP socket under ws. */
export function tcpOf(client: TestClient): Socket {
  return (client.ws as unknown as { _socket: Socket })._socket;
}

/** Write a frame with the reserved opcode 5 under the client: the server's ws answers it with 1002 and an 'error'. */
export function sendInvalidFrame(client: TestClient): void {
  tcpOf(client).write(encodeFrame({ opcode: 5, payload: new Uint8Array(0) }));
}

/**
 * Stop the client reading its socket: it then answers no ping and no close
 * frame, and the server's send buffer fills once the kernel's is full.
 */
export function stall(client: TestClient): void {
  tcpOf(client).pause();
}

/** Let a stalled client read again. */
export function unstall(client: TestClient): void {
  tcpOf(client).resume();
}

/**
 * Send `chunk` on a connection whose peer is stalled until `ws.bufferedAmount`
 * reaches `limit`; at most `maxSends` sends.
 *
 * @returns How many sends it took
 * @throws {Error} If the limit was not reached within `maxSends`
 */
export function fillSendBuffer(connection: Connection, chunk: string, limit: number, maxSends = 2_000): number {
  let sends = 0;
  while (connection.socket.bufferedAmount < limit) {
    if (sends === maxSends) {
      throw new Error(`bufferedAmount ${connection.socket.bufferedAmount} still under ${limit} after ${maxSends} sends`);
    }
    void connection.send(chunk);
    sends++;
  }
  return sends;
}

/** Whether a promise is already settled: its value, or `'pending'` after one macrotask. */
export function settledNow<T>(promise: Promise<T>): Promise<T | 'pending'> {
  return Promise.race([promise, new Promise<'pending'>((resolve) => setImmediate(() => resolve('pending')))]);
}

/**
 * Broadcast `count` numbered messages tagged `tag` and check that every
 * client in `clients` got all of them, in order, and that the registry holds
 * exactly `live`, all `connected`.
 */
export async function expectUndisturbed(
  server: TestServer,
  clients: readonly TestClient[],
  live: readonly Connection[],
  tag: string,
  count = 20
): Promise<void> {
  const expected = Array.from({ length: count }, (_, i) => `${tag}:${i}`);
  const before = clients.map((client) => client.received.length);
  const reports = await Promise.all(expected.map((message) => server.manager.broadcast(message)));
  for (const report of reports) expect(report).toEqual({ sent: live.length, rejected: 0, reasons: {} });
  await waitFor(
    () => clients.every((client, i) => client.received.length >= before[i]! + count),
    5_000,
    `${count} '${tag}' messages at every client`
  );
  clients.forEach((client, i) => expect(client.received.slice(before[i])).toEqual(expected));
  expect(new Set(server.manager.connections())).toEqual(new Set(live));
  for (const connection of live) expect(connection.state).toBe('connected');
  expect(server.manager.counts).toMatchObject({ connecting: 0, connected: live.length, closing: 0 });
}

/** Inbound messages the manager delivered, as text, per connection id. */
export function recordInbound(manager: ConnectionManager): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  manager.on('message', (connection, data) => {
    const list = seen.get(connection.id) ?? [];
    list.push(data.toString());
    seen.set(connection.id, list);
  });
  return seen;
}
