/**
 * Fault injection over real sockets. After each fault the other connections
 * still get every message and the registry holds only live connections.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { WebSocket } from 'ws';
import type { SendReport } from '../../src/index.js';
import { startServer, waitFor, type TestServer } from '../support/server.js';
import { expectUndisturbed, stall, tcpOf } from './support/peers.js';
import { recordProcessFaults, type ProcessFaultRecorder } from './support/process-faults.js';

describe('fault injection', () => {
  let server: TestServer | undefined;
  let recorder: ProcessFaultRecorder;
  beforeAll(() => {
    recorder = recordProcessFaults();
  });
  afterAll(() => {
    recorder.dispose();
  });
  afterEach(async () => {
    await server?.stop();
    server = undefined;
    expect(recorder.faults).toEqual([]);
  });

  async function threePeers(options: Parameters<typeof startServer>[0] = {}) {
    server = await startServer({ heartbeatIntervalMs: 0, ...options });
    return { a: await server.connect('a'), b: await server.connect('b'), victim: await server.connect('victim') };
  }

  it('a peer that terminates in the middle of a broadcast', async () => {
    const { a, b, victim } = await threePeers();
    victim.client.ws.on('message', () => {
      if (victim.client.received.length === 3) victim.client.ws.terminate();
    });
    const payload = 'p'.repeat(64 * 1024);
    const pending: Promise<SendReport>[] = [];
    for (let i = 0; i < 40; i++) {
      pending.push(server!.manager.broadcast(`${i}:${payload}`));
      // Let I/O run between broadcasts, so the termination lands among them.
      if (i % 4 === 3) await new Promise((resolve) => setImmediate(resolve));
    }
    const reports = await Promise.all(pending);
    for (const report of reports) {
      expect(report.sent).toBeGreaterThanOrEqual(2);
      expect(report.sent + report.rejected).toBeLessThanOrEqual(3);
    }
    expect(reports.some((report) => report.rejected > 0)).toBe(true);
    await expect(victim.connection.closed).resolves.toMatchObject({ code: 1006, initiator: 'peer' });
    const expected = Array.from({ length: 40 }, (_, i) => `${i}:${payload}`);
    await waitFor(() => a.client.received.length === 40 && b.client.received.length === 40, 5_000, 'all 40 at a and b');
    expect(a.client.received).toEqual(expected);
    expect(b.client.received).toEqual(expected);
    await expectUndisturbed(server!, [a.client, b.client], [a.connection, b.connection], 'after-terminate');
  });

  it('a TCP reset from the peer', async () => {
    const { a, b, victim } = await threePeers();
    tcpOf(victim.client).resetAndDestroy();
    await expect(victim.connection.closed).resolves.toMatchObject({ code: 1006, initiator: 'peer' });
    await expectUndisturbed(server!, [a.client, b.client], [a.connection, b.connection], 'after-reset');
  });

  it('a half-open peer that never answers pings is terminated by the heartbeat; healthy peers are kept', async () => {
    const { a, b, victim } = await threePeers({ heartbeatIntervalMs: 300 });
    stall(victim.client);
    await expect(victim.connection.closed).resolves.toEqual({ code: 1006, reason: '', initiator: 'timeout' });
    expect(server!.manager.history(victim.connection.id)!.at(-1)).toMatchObject({ to: 'closed', event: 'after heartbeatInterval' });
    await waitFor(() => victim.connection.socket.readyState === WebSocket.CLOSED, 5_000, 'the socket destroyed');
    // a and b answered the same pings and are still here.
    await expectUndisturbed(server!, [a.client, b.client], [a.connection, b.connection], 'after-half-open');
  });

  it('a peer that never answers the close frame is terminated by the close timeout', async () => {
    const { a, b, victim } = await threePeers({ closeTimeoutMs: 200 });
    stall(victim.client);
    const closed = server!.manager.close(victim.connection.id, 1000, 'bye');
    expect(victim.connection.state).toBe('closing');
    await expect(closed).resolves.toEqual({ code: 1006, reason: 'bye', initiator: 'timeout' });
    expect(server!.manager.history(victim.connection.id)!.at(-1)).toMatchObject({ to: 'closed', event: 'after closeTimeout' });
    await waitFor(() => victim.connection.socket.readyState === WebSocket.CLOSED, 5_000, 'the socket destroyed');
    await expectUndisturbed(server!, [a.client, b.client], [a.connection, b.connection], 'after-close-timeout');
  });

  it('an error thrown or rejected inside a message handler leaves the connection and the manager working', async () => {
    const logged: string[] = [];
    const { a, b, victim } = await threePeers({ logger: pino({ level: 'error' }, { write: (line: string) => logged.push(line) }) });
    const handled: string[] = [];
    server!.manager.on('message', (_connection, data) => {
      if (data === 'throw') throw new Error('handler failed');
    });
    // A listener that returns a rejected promise is what this test is about.
    // eslint-disable-next-line @typescript-eslint/no-misused-promises
    server!.manager.on('message', async (_connection, data) => {
      await Promise.resolve();
      if (data === 'reject') throw new Error('async handler failed');
      if (data !== 'throw') handled.push(String(data));
    });
    for (const message of ['throw', 'reject', 'after']) victim.client.ws.send(message);
    await waitFor(() => handled.includes('after'), 5_000, "'after' handled");
    expect(handled).toEqual(['after']);
    await waitFor(() => logged.length === 2, 5_000, 'both listener failures logged');
    expect(logged.map((line) => (JSON.parse(line) as { msg: string }).msg)).toEqual(['message listener threw', 'message listener rejected']);
    expect(victim.connection.state).toBe('connected');
    await expectUndisturbed(server!, [a.client, b.client, victim.client], [a.connection, b.connection, victim.connection], 'after-throw');
  });
});
