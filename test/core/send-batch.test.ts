/**
 * The first send of an event-loop turn is written at once; the ones after it
 * in the same turn are written together at the end of the turn, in order,
 * with one result; batching changes neither backpressure nor what a
 * terminate in the same turn lets through.
 */
import type { Socket } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { BATCH_FLUSH_BYTES, SendBatch } from '../../src/core/send-batch.js';
import type { Connection } from '../../src/index.js';
import { serverPerTest } from '../support/per-test-server.js';
import { waitFor } from '../support/server.js';

const { start } = serverPerTest();

/** The server side's TCP socket under ws. */
function tcp(connection: Connection): Socket {
  return (connection.socket as unknown as { _socket: Socket })._socket;
}

describe('sends in one turn', () => {
  it('write the first at once and hold the rest until the turn ends, in order, with one shared result', async () => {
    const server = await start();
    const { connection, client } = await server.connect('u');
    const socket = tcp(connection);
    const first = connection.send('m0');
    // Written through: the kernel took it, nothing is corked or queued.
    expect(socket.writableCorked).toBe(0);
    expect(socket.writableLength).toBe(0);
    const rest = Array.from({ length: 49 }, (_, i) => connection.send(`m${i + 1}`));

    // Held in the corked socket until the turn ends.
    expect(socket.writableCorked).toBe(1);
    expect(socket.writableLength).toBeGreaterThanOrEqual(49 * 4);
    expect(new Set(rest).size).toBe(1);
    expect(rest[0]).not.toBe(first);
    await expect(Promise.all([first, rest[0]])).resolves.toEqual([{ ok: true }, { ok: true }]);
    expect(socket.writableCorked).toBe(0);
    await waitFor(() => client.received.length === 50, 5_000, 'the 50 messages');
    expect(client.received).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
  });

  it('write the first send of every turn at once', async () => {
    const server = await start();
    const { connection, client } = await server.connect('u');
    const socket = tcp(connection);
    const results = [];
    for (const text of ['a', 'b', 'c']) {
      results.push(connection.send(text));
      expect(socket.writableCorked).toBe(0);
      await nextTurn();
    }
    await expect(Promise.all(results)).resolves.toEqual([{ ok: true }, { ok: true }, { ok: true }]);
    await waitFor(() => client.received.length === 3);
    expect(client.received).toEqual(['a', 'b', 'c']);
  });

  it('queue behind a batch still open from the turn before, never overtake it', async () => {
    const server = await start();
    const { connection, client } = await server.connect('u');
    void connection.send('first');
    // Queued before the batch's own tick: it runs in a new turn, with the batch not yet written.
    const late = new Promise<unknown>((resolve) => process.nextTick(() => resolve(connection.send('from a later tick'))));
    void connection.send('batched');
    expect(tcp(connection).writableCorked).toBe(1);
    await expect(late).resolves.toEqual({ ok: true });
    await waitFor(() => client.received.length === 3);
    expect(client.received).toEqual(['first', 'batched', 'from a later tick']);
  });

  it(`are written at once when the batch reaches ${BATCH_FLUSH_BYTES} bytes`, async () => {
    const server = await start();
    const { connection } = await server.connect('u');
    const socket = tcp(connection);
    const chunk = 'x'.repeat(1024);
    void connection.send(chunk);
    const written = socket.bytesWritten;
    let sends = 0;
    while (socket.writableCorked === 1 || sends === 0) {
      void connection.send(chunk);
      sends++;
    }
    // The send that took the batch to the threshold uncorked it; the kernel took it all.
    expect(sends).toBe(Math.ceil(BATCH_FLUSH_BYTES / (chunk.length + 4)));
    expect(socket.writableLength).toBe(0);
    expect(socket.bytesWritten - written).toBe(sends * (chunk.length + 4));
  });

  it('do not count as backpressure while the kernel takes them', async () => {
    const server = await start({ maxBufferedBytes: 1_000 });
    const { connection, client } = await server.connect('u');
    // 60 x 100 B in one turn: well over maxBufferedBytes if the batch counted.
    const results = Array.from({ length: 60 }, (_, i) => connection.send(`${i}`.padEnd(100, '.')));
    const settled = await Promise.all(results);
    expect(settled.filter((r) => !r.ok)).toEqual([]);
    await waitFor(() => client.received.length === 60, 5_000, 'the 60 messages');
  });

  it('are written before a terminate in the same turn, and reported written', async () => {
    const server = await start();
    const { connection, client } = await server.connect('u');
    const sent = connection.send('before terminate');
    void connection.terminate();
    await expect(sent).resolves.toEqual({ ok: true });
    await waitFor(() => client.ws.readyState === client.ws.CLOSED, 5_000, 'the client to see the socket go');
    expect(client.received).toEqual(['before terminate']);
  });

  it('keep their order with a broadcast made in the same turn', async () => {
    const server = await start();
    const { connection, client } = await server.connect('u');
    const results = [connection.send('a'), server.manager.broadcast('b'), connection.send('c')];
    await expect(Promise.all(results)).resolves.toEqual([{ ok: true }, { sent: 1, rejected: 0, reasons: {} }, { ok: true }]);
    await waitFor(() => client.received.length === 3);
    expect(client.received).toEqual(['a', 'b', 'c']);
  });

  it('go out before the close frame when close() follows in the same turn', async () => {
    const server = await start();
    const { connection, client } = await server.connect('u');
    const results = [connection.send('one'), connection.send('two')];
    const closed = connection.close(1000, 'done');
    await expect(Promise.all(results)).resolves.toEqual([{ ok: true }, { ok: true }]);
    await expect(closed).resolves.toMatchObject({ code: 1000, initiator: 'server' });
    expect(client.received).toEqual(['one', 'two']);
  });
});

describe('SendBatch', () => {
  it('settles ok only once sealed and every frame is written', async () => {
    const batch = new SendBatch();
    let settled = false;
    void batch.promise.then(() => (settled = true));
    batch.add();
    batch.add();
    batch.written();
    batch.written();
    await nextTurn();
    expect(settled).toBe(false);
    batch.seal();
    await expect(batch.promise).resolves.toEqual({ ok: true });
  });

  it('settles once, with the first error, when a frame fails', async () => {
    const batch = new SendBatch();
    batch.add();
    batch.add();
    const error = new Error('socket gone');
    batch.written(error);
    batch.written(new Error('second'));
    batch.seal();
    await expect(batch.promise).resolves.toEqual({ ok: false, reason: 'transport_error', error });
  });

  it('does not wait for a frame that was withdrawn', async () => {
    const batch = new SendBatch();
    batch.add();
    batch.add();
    batch.withdraw();
    batch.seal();
    let settled = false;
    void batch.promise.then(() => (settled = true));
    await nextTurn();
    expect(settled).toBe(false);
    batch.written();
    await expect(batch.promise).resolves.toEqual({ ok: true });
  });
});
