/**
 * The subprotocol `manager.attach` selects (docs/protocol.md 1.1, 1.2, 9):
 * `ws-lifecycle.v1` whenever a client offers it, whatever the order; never
 * another `ws-lifecycle.*` version, which this server does not implement;
 * otherwise what the application's own `handleProtocols` selects, or the
 * first other one offered. ws alone selects the first offered: `v2` for
 * `ws-lifecycle.v2, ws-lifecycle.v1`, a plain connection for
 * `chat, ws-lifecycle.v1`. (Each adapter: test/adapters/adapters.test.ts.)
 */
import { WebSocket } from 'ws';
import { describe, expect, it } from 'vitest';
import { SESSION_PROTOCOL } from '../../src/protocol/session-protocol.js';
import { serverPerTest } from '../support/per-test-server.js';
import { selectedSubprotocol } from '../support/subprotocols.js';

const { start } = serverPerTest();
const NOT_SELECTED = 'error: Server sent no subprotocol';

describe('manager.attach selects the subprotocol', () => {
  it('ws-lifecycle.v1 whenever it is offered, never a version it does not implement, else the first other one', async () => {
    const server = await start({ sessions: { ttlMs: 5_000 } });
    const url = `ws://127.0.0.1:${server.port}/?user=alice`;
    expect(await selectedSubprotocol(url, ['ws-lifecycle.v2', SESSION_PROTOCOL])).toBe(SESSION_PROTOCOL);
    expect(await selectedSubprotocol(url, ['chat', SESSION_PROTOCOL])).toBe(SESSION_PROTOCOL);
    expect(await selectedSubprotocol(url, ['chat'])).toBe('chat');
    expect(await selectedSubprotocol(url, ['ws-lifecycle.v2', 'chat'])).toBe('chat');
    expect(await selectedSubprotocol(url, ['ws-lifecycle.v2'])).toBe(NOT_SELECTED);

    // Offered second, v1 gives a session connection that speaks it.
    const tab = new WebSocket(url, ['ws-lifecycle.v2', SESSION_PROTOCOL]);
    await new Promise((resolve) => tab.once('open', resolve));
    tab.send(JSON.stringify({ type: 'hello', client: 'tab' }));
    const first = await new Promise<string>((resolve) => tab.once('message', (data: Buffer) => resolve(data.toString())));
    expect(JSON.parse(first)).toMatchObject({ type: 'welcome', version: 1 });
    tab.terminate();
  });

  it("asks the application's handleProtocols when v1 is not offered, refuses another ws-lifecycle version it picks, and detach puts it back", async () => {
    const theirs = (protocols: Set<string>): string | false => (protocols.has('b') ? 'b' : ([...protocols].find((p) => p.startsWith('ws-lifecycle.')) ?? false));
    const server = await start({ sessions: { ttlMs: 5_000 } }, { handleProtocols: theirs });
    const url = `ws://127.0.0.1:${server.port}/?user=alice`;
    expect(await selectedSubprotocol(url, ['a', 'b'])).toBe('b');
    expect(await selectedSubprotocol(url, ['b', SESSION_PROTOCOL])).toBe(SESSION_PROTOCOL);
    expect(await selectedSubprotocol(url, ['ws-lifecycle.v3', 'a'])).toBe(NOT_SELECTED);
    server.detach();
    expect(server.wss.options.handleProtocols).toBe(theirs);
  });
});
