/**
 * Race: a send and a close issued in the same tick, over real sockets.
 * Whatever the order, the send either resolved ok and the peer got the
 * message, or was refused with `closing`; it never fails with an error.
 */
import { describe, expect, it } from 'vitest';
import type { Connection, ConnectionManager, SendReport, SendResult } from '../../src/index.js';
import { auditSends, type SendAudit } from '../support/send-audit.js';
import { serverPerTest } from '../support/per-test-server.js';
import { type TestClient, type TestServer } from '../support/server.js';

type Sender = (manager: ConnectionManager, connection: Connection, message: string) => Promise<SendResult | SendReport>;

/** Every way to address one connection, each reduced to "did it go out". */
const SENDERS: Record<string, Sender> = {
  'connection.send': (_manager, connection, message) => connection.send(message),
  'manager.send': (manager, connection, message) => manager.send(connection.id, message),
  'manager.sendToUser': (manager, connection, message) => manager.sendToUser(connection.userId!, message),
  'manager.broadcast with a filter': (manager, connection, message) => manager.broadcast(message, (c) => c === connection)
};

/** `{ ok: true }` / `{ ok: false, reason }` for a single result or a one-target report. */
function outcome(result: SendResult | SendReport): { ok: boolean; reason?: string } {
  if ('ok' in result) return result.ok ? { ok: true } : { ok: false, reason: result.reason };
  expect(result.sent + result.rejected).toBe(1);
  return result.sent === 1 ? { ok: true } : { ok: false, reason: Object.keys(result.reasons)[0] };
}

describe('send and close in the same tick', () => {
  const { start } = serverPerTest();

  async function open(server: TestServer, userId: string): Promise<{ client: TestClient; connection: Connection; audit: SendAudit }> {
    const { client, connection } = await server.connect(userId);
    return { client, connection, audit: auditSends(connection.socket, () => connection.state) };
  }

  for (const [via, send] of Object.entries(SENDERS)) {
    it(`${via} issued just before the close goes out, and the peer gets it before the close`, async () => {
      const server = await start({ closeTimeoutMs: 300, heartbeatIntervalMs: 0 });
      const { client, connection, audit } = await open(server, 'alice');
      const sent = send(server.manager, connection, 'before close');
      const closed = server.manager.close(connection.id, 1000, 'bye');
      expect(outcome(await sent)).toEqual({ ok: true });
      await expect(closed).resolves.toEqual({ code: 1000, reason: 'bye', initiator: 'server' });
      await expect(client.closed).resolves.toEqual({ code: 1000, reason: 'bye' });
      expect(client.received).toEqual(['before close']);
      expect(audit.attempts.map((attempt) => [attempt.legal, attempt.callbacks, attempt.error])).toEqual([[true, 1, undefined]]);
    });

    it(`${via} issued just after the close is refused with 'closing' and never reaches the peer`, async () => {
      const server = await start({ closeTimeoutMs: 300, heartbeatIntervalMs: 0 });
      const { client, connection, audit } = await open(server, 'alice');
      const closed = server.manager.close(connection.id, 1000, 'bye');
      const sent = send(server.manager, connection, 'after close');
      expect(outcome(await sent)).toEqual({ ok: false, reason: 'closing' });
      await closed;
      await client.closed;
      expect(client.received).toEqual([]);
      expect(audit.attempts).toEqual([]);
    });
  }

  it('sends interleaved with closes across tabs: each send is ok and delivered, or refused closing; never an error', async () => {
    const server = await start({ closeTimeoutMs: 300, heartbeatIntervalMs: 0 });
    const tabs = [await open(server, 'alice'), await open(server, 'alice'), await open(server, 'bob'), await open(server, 'bob')];
    const results: Array<{ tab: number; message: string; result: Promise<SendResult> }> = [];
    // One synchronous burst: sends and closes alternate, each close hitting a different tab.
    tabs.forEach(({ connection }, index) => {
      for (let k = 0; k < 3; k++) {
        const message = `m${index}.${k}`;
        results.push({ tab: index, message, result: k === 1 ? server.manager.send(connection.id, message) : connection.send(message) });
        if (k === index % 3) void connection.close(1000, 'burst');
      }
    });
    const settled = await Promise.all(results.map(async (entry) => ({ ...entry, result: await entry.result })));
    await Promise.all(tabs.flatMap(({ client, connection }) => [client.closed, connection.closed]));
    for (const { tab, message, result } of settled) {
      const { client, audit } = tabs[tab]!;
      if (result.ok) expect(client.received).toContain(message);
      else {
        expect(result).toEqual({ ok: false, reason: 'closing' });
        expect(client.received).not.toContain(message);
      }
      expect(audit.attempts.every((attempt) => attempt.legal && attempt.callbacks === 1 && attempt.error === undefined)).toBe(true);
    }
    // The close came after the k-th send on tab k (k = index % 3): exactly those went out.
    expect(settled.filter((entry) => entry.result.ok).map((entry) => entry.message)).toEqual(['m0.0', 'm1.0', 'm1.1', 'm2.0', 'm2.1', 'm2.2', 'm3.0']);
    expect(server.manager.size).toBe(0);
  });
});
