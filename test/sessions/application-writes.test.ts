/**
 * A session connection is written by the session protocol alone: its first
 * frame is `welcome` and every frame is one of the protocol's
 * (docs/protocol.md 1.4, 2.1, 6.1). An application write to it is refused
 * with `session_connection`, whichever way it goes (`connection.send`, a
 * greeting from the `connection` event, `manager.send`), and `broadcast`
 * and `sendToUser` reach it only as topic messages, while plain connections
 * get the same data as before. Checked over the raw frames by the
 * conformance checker.
 */
import { describe, expect, it } from 'vitest';
import type { Connection, SendResult } from '../../src/index.js';
import { BROADCAST_TOPIC, userTopic } from '../../src/sessions/session-hub.js';
import { checkRun, describeViolations, type ConnectionRecord } from '../../src/tools/conformance/checker.js';
import { RawSessionClient } from '../../src/tools/conformance/raw-client.js';
import { serverPerTest } from '../support/per-test-server.js';
import { waitFor } from '../support/server.js';

const { start, cleanup } = serverPerTest();

describe('application writes to a session connection', () => {
  it('are refused with session_connection: the greeting a connection listener sends, manager.send; the protocol frames still go', async () => {
    const server = await start({ sessions: { ttlMs: 5_000 } });
    const greetings: Array<{ protocol: string; result: Promise<SendResult> }> = [];
    // What the framework examples did: greet every connection as it arrives.
    server.manager.on('connection', (connection: Connection) => greetings.push({ protocol: connection.socket.protocol, result: connection.send(`welcome ${connection.userId}`) }));
    const records: ConnectionRecord[] = [];
    const tab = new RawSessionClient({ url: `ws://127.0.0.1:${server.port}/?user=alice`, user: 'alice', name: 'tab', records }).connect();
    cleanup(() => tab.stop());
    const { client: plain } = await server.connect('alice');
    await waitFor(() => tab.open && greetings.length === 2, 5_000, 'the welcome and both greetings');

    const session = server.manager.connectionsOf('alice').find((connection) => connection.socket.protocol !== '')!;
    expect(await server.manager.send(session.id, 'to the session connection')).toEqual({ ok: false, reason: 'session_connection' });
    expect(await session.send({ raw: true })).toEqual({ ok: false, reason: 'session_connection' });
    const results = await Promise.all(greetings.map(async ({ protocol, result }) => ({ protocol, result: await result })));
    expect(results.sort((a, b) => a.protocol.localeCompare(b.protocol))).toEqual([
      { protocol: '', result: { ok: true } },
      { protocol: 'ws-lifecycle.v1', result: { ok: false, reason: 'session_connection' } }
    ]);

    // broadcast and sendToUser: the plain connection gets the data, the session connection a message of its topic.
    expect(await server.manager.broadcast('to everyone')).toEqual({ sent: 2, rejected: 0, reasons: {} });
    expect(await server.manager.sendToUser('alice', 'to alice')).toEqual({ sent: 2, rejected: 0, reasons: {} });
    tab.ping();
    type Frame = { type: string; topic?: string; data?: unknown };
    const frames = (): Frame[] => tab.current!.received.map((text) => JSON.parse(String(text)) as Frame);
    await waitFor(() => plain.received.length === 3 && frames().some((frame) => frame.type === 'pong'), 5_000, 'the deliveries and the pong');
    expect(plain.received).toEqual(['welcome alice', 'to everyone', 'to alice']);
    expect(frames()[0]!.type).toBe('welcome');
    expect(frames().filter((frame) => frame.type === 'message').map(({ topic, data }) => ({ topic, data }))).toEqual([
      { topic: BROADCAST_TOPIC, data: 'to everyone' },
      { topic: userTopic('alice'), data: 'to alice' }
    ]);
    tab.markComplete();
    expect(describeViolations(checkRun({ connections: records }))).toBe('');
  });
});
