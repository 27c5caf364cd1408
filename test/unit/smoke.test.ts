import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../support/server.js';

describe('ConnectionManager over real sockets', () => {
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it('sends to a connected client and refuses once closing', async () => {
    server = await startServer({ heartbeatIntervalMs: 0 });
    const { client, connection } = await server.connect('alice');
    expect(connection.state).toBe('connected');
    await expect(connection.send({ type: 'agent_started' })).resolves.toEqual({ ok: true });
    const closed = server.manager.close(connection.id, 1000, 'done');
    expect(connection.state).toBe('closing');
    await expect(connection.send('late')).resolves.toEqual({ ok: false, reason: 'closing' });
    await expect(closed).resolves.toEqual({ code: 1000, reason: 'done', initiator: 'server' });
    await client.closed;
    expect(client.received).toEqual(['{"type":"agent_started"}']);
    expect(server.manager.size).toBe(0);
  });
});
