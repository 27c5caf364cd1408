/**
 * A peer that stops reading while the server keeps writing (#25). Under
 * `backpressurePolicy: 'reject'` its sends are refused and it stays; its
 * ping waits behind the full queue, so the heartbeat cannot judge it. It
 * used to stay `connected` for ever, pinning up to `maxBufferedBytes` and
 * the kernel's buffers. Now, once the ping has waited a heartbeat interval
 * behind a queue that did not move, it is terminated (`initiator:
 * 'timeout'`, audit event `WRITE_STALLED`), while peers that read, however
 * slowly, are kept.
 */
import { describe, expect, it } from 'vitest';
import { serverPerTest } from '../support/per-test-server.js';
import { waitFor } from '../support/server.js';
import { fillSendBuffer, stall } from './support/peers.js';

const CHUNK = 'x'.repeat(16 * 1024);

describe('a peer that stops reading', () => {
  const { start, cleanup } = serverPerTest();

  it("is terminated under 'reject' once its queue makes no progress for a heartbeat interval; a reading peer is kept", async () => {
    const server = await start({ heartbeatIntervalMs: 200, maxBufferedBytes: 64 * 1024, backpressurePolicy: 'reject' });
    const reader = await server.connect('reader');
    const stalled = await server.connect('stalled');
    stall(stalled.client);
    // Full before the first ping is due: the ping queues behind the data and is never written.
    fillSendBuffer(stalled.connection, CHUNK, 64 * 1024);
    // The server keeps writing to both, as an application streaming events would.
    let refused = 0;
    const writer = setInterval(() => {
      for (const { connection } of [reader, stalled]) {
        void connection.send(CHUNK).then((result) => {
          if (!result.ok && result.reason === 'backpressure') refused++;
        });
      }
    }, 10);
    cleanup(() => clearInterval(writer));

    await expect(stalled.connection.closed).resolves.toEqual({ code: 1006, reason: '', initiator: 'timeout' });
    expect(refused).toBeGreaterThan(0);
    expect(server.manager.history(stalled.connection.id)!.at(-1)).toMatchObject({ from: 'connected', to: 'closed', event: 'WRITE_STALLED', initiator: 'timeout' });
    // The reader got the same stream for as long, and more: it stays.
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(reader.connection.state).toBe('connected');
    clearInterval(writer);
    await waitFor(() => reader.connection.socket.bufferedAmount === 0, 5_000, 'the reader to drain');
    expect(server.manager.size).toBe(1);
  });
});
