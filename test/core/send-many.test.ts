/**
 * What broadcast and sendToUser put on the wire and what their report says:
 * text as text frames and bytes as binary frames (the text is encoded once
 * for all sockets), a report that waits for every write, and a write that
 * fails reported as transport_error, as Connection.send reports it.
 */
import type { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { SEND_FAILURE_REASONS, type SendReport } from '../../src/index.js';
import { serverPerTest } from '../support/per-test-server.js';
import { waitFor, type TestClient } from '../support/server.js';

const { start } = serverPerTest();

/** Every frame a client receives, with its kind. */
function recordFrames(client: TestClient): Array<{ data: string; binary: boolean }> {
  const frames: Array<{ data: string; binary: boolean }> = [];
  client.ws.on('message', (data, binary) => frames.push({ data: data.toString(), binary }));
  return frames;
}

/** Make every write to the server side's TCP socket fail at once, as a write to a reset connection does. */
function failWrites(socket: unknown): void {
  const tcp = (socket as { _socket: Duplex })._socket;
  const refuse = (_chunk: unknown, callback: (error: Error) => void): void => callback(new Error('write EPIPE'));
  tcp._write = (chunk, _encoding, callback) => refuse(chunk, callback);
  tcp._writev = (chunks, callback) => refuse(chunks, callback);
}

/** Destroy the server side's TCP socket; ws reports the socket closed only on a later turn. */
function destroyTransport(socket: unknown): void {
  (socket as { _socket: { destroy(): void } })._socket.destroy();
}

describe('broadcast and sendToUser on the wire', () => {
  it('send text as text frames and bytes as binary frames, to every target', async () => {
    const server = await start();
    const alice = await server.connect('alice');
    const bob = await server.connect('bob');
    const aliceFrames = recordFrames(alice.client);
    const bobFrames = recordFrames(bob.client);

    await expect(server.manager.broadcast('héllo')).resolves.toEqual({ sent: 2, rejected: 0, reasons: {} });
    await expect(server.manager.broadcast({ type: 'tick' })).resolves.toMatchObject({ sent: 2 });
    await expect(server.manager.broadcast(Buffer.from('bytes'))).resolves.toMatchObject({ sent: 2 });
    await expect(server.manager.sendToUser('alice', 'only alice')).resolves.toMatchObject({ sent: 1 });
    await expect(server.manager.sendToUser('alice', Uint8Array.of(104, 105))).resolves.toMatchObject({ sent: 1 });
    await waitFor(() => aliceFrames.length === 5 && bobFrames.length === 3, 5_000, 'every frame');

    const common = [
      { data: 'héllo', binary: false },
      { data: '{"type":"tick"}', binary: false },
      { data: 'bytes', binary: true }
    ];
    expect(bobFrames).toEqual(common);
    expect(aliceFrames).toEqual([...common, { data: 'only alice', binary: false }, { data: 'hi', binary: true }]);
  });

  it('resolves only once every write is reported, also when the writes complete on different turns', async () => {
    const server = await start();
    const peers = [await server.connect('a'), await server.connect('b'), await server.connect('c')];
    // Large enough that no socket can take it in one synchronous write.
    const big = 'x'.repeat(4 * 1024 * 1024);
    for (let round = 0; round < 2; round++) {
      await expect(server.manager.broadcast(big)).resolves.toEqual({ sent: 3, rejected: 0, reasons: {} });
    }
    await expect(server.manager.sendToUser('a', big)).resolves.toEqual({ sent: 1, rejected: 0, reasons: {} });
    const [a, b, c] = peers.map(({ client }) => client);
    await waitFor(() => a!.received.length === 3 && b!.received.length === 2 && c!.received.length === 2, 10_000, 'the large frames');
  });
});

describe('a write that fails', () => {
  it('is reported as transport_error, by broadcast per connection and by Connection.send with the error', async () => {
    const server = await start();
    const healthy = await server.connect('healthy');
    const broken = await server.connect('broken');
    destroyTransport(broken.connection.socket);
    // The socket still reads OPEN on this turn, so the write is attempted and fails.
    const report: Promise<SendReport> = server.manager.broadcast('to all');
    const single = broken.connection.send('to broken');

    await expect(report).resolves.toEqual({ sent: 1, rejected: 1, reasons: { transport_error: 1 } });
    const result = await single;
    expect(result).toMatchObject({ ok: false, reason: 'transport_error' });
    expect(!result.ok && result.error).toBeInstanceOf(Error);
    expect(SEND_FAILURE_REASONS).toContain(!result.ok && result.reason);
    await expect(broken.connection.closed).resolves.toMatchObject({ code: 1006 });
    await waitFor(() => healthy.client.received.length === 1);
    expect(healthy.client.received).toEqual(['to all']);
  });

  it('is reported as transport_error, never as sent, when the kernel refuses it at once', async () => {
    const server = await start();
    const healthy = await server.connect('healthy');
    const broken = await server.connect('broken');
    failWrites(broken.connection.socket);

    await expect(server.manager.broadcast('to all')).resolves.toEqual({ sent: 1, rejected: 1, reasons: { transport_error: 1 } });
    await waitFor(() => healthy.client.received.length === 1);
    expect(healthy.client.received).toEqual(['to all']);
  });

  describe('with permessage-deflate negotiated', () => {
    it('a frame still being compressed when the connection is terminated is reported transport_error, never sent', async () => {
      // threshold 0: every message is compressed, on libuv's thread pool, after send() returns.
      const server = await start({}, { perMessageDeflate: { threshold: 0 } });
      const first = await server.connect('first');
      const second = await server.connect('second');
      expect(first.connection.socket.extensions).toContain('permessage-deflate');

      const report = server.manager.broadcast({ type: 'agent_thinking', text: 'compressed' });
      const single = second.connection.send('compressed too');
      void first.connection.terminate();
      void second.connection.terminate();

      await expect(report).resolves.toEqual({ sent: 0, rejected: 2, reasons: { transport_error: 2 } });
      await expect(single).resolves.toMatchObject({ ok: false, reason: 'transport_error' });
    });
  });
});
