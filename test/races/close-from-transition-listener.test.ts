/**
 * `close()` from a `transition` listener is `closing` when it returns, as
 * documented (#25): listeners are told after the actor's step, not inside
 * it, where the close would only be queued behind the step.
 */
import { describe, expect, it } from 'vitest';
import type { ConnectionState } from '../../src/index.js';
import { serverPerTest } from '../support/per-test-server.js';

describe('close() from a transition listener', () => {
  const { start } = serverPerTest();

  it('leaves the connection closing when it returns, and the audit trail in order', async () => {
    const server = await start({ heartbeatIntervalMs: 0 });
    const seen: ConnectionState[] = [];
    server.manager.on('transition', (connection, record) => {
      if (record.to !== 'connected') return;
      void connection.close(4001, 'from the listener');
      seen.push(connection.state);
    });
    const { connection, client } = await server.connect('u');
    expect(seen).toEqual(['closing']);
    await expect(client.closed).resolves.toEqual({ code: 4001, reason: 'from the listener' });
    await expect(connection.closed).resolves.toEqual({ code: 4001, reason: 'from the listener', initiator: 'server' });
    expect(server.manager.history(connection.id)!.map((r) => `${r.seq}:${r.from}->${r.to}`)).toEqual([
      '1:connecting->connected',
      '2:connected->closing',
      '3:closing->closed'
    ]);
  });
});
