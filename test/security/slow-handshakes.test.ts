/**
 * A client that opens and then says nothing holds a socket, a connection
 * and, for a session connection, its user's topics (#21). Each step before
 * a connection is useful is bounded: `identifyTimeoutMs` before the
 * handshake (test/hardening/upgrade-edges.test.ts), `handshakeTimeoutMs`
 * while `authenticate` runs (test/hardening/admission.test.ts), and here
 * `sessions.helloTimeoutMs`: a session connection that never says hello
 * is closed with 4408, and one that does in time is welcomed.
 */
import { describe, expect, it } from 'vitest';
import { SESSION_CLOSE_CODES } from '../../src/protocol/session-protocol.js';
import { serverPerTest } from '../support/per-test-server.js';
import { waitFor } from '../support/server.js';
import { isWelcome, openSessionClient } from '../support/session-client.js';
import { within } from './support.js';

const { start } = serverPerTest();

describe('a session connection that never says hello', () => {
  it('is closed with 4408 once sessions.helloTimeoutMs is over, and leaves nothing behind', async () => {
    const server = await start({ sessions: { ttlMs: 5_000, helloTimeoutMs: 300 } });
    const opened = Date.now();
    const silent = await openSessionClient(server.port, 'alice');
    const prompt = await openSessionClient(server.port, 'alice');
    prompt.hello(undefined, undefined, 'tab');
    await prompt.next(isWelcome, 'welcome');
    const { code, reason } = await within(silent.closed, 5_000, 'close of the silent connection');
    expect({ code, reason }).toEqual({ code: SESSION_CLOSE_CODES.HELLO_TIMEOUT, reason: 'no hello' });
    expect(Date.now() - opened).toBeGreaterThanOrEqual(250);
    await waitFor(() => server.manager.connectionsOf('alice').length === 1, 5_000, 'the silent connection to leave the registry');
    expect(server.manager.connectionsOf('alice').map((c) => c.state)).toEqual(['connected']);
    expect(server.manager.sessions).toBe(1);
  });
});
