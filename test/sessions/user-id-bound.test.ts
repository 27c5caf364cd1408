/**
 * A session's user id fits its topic (docs/protocol.md 2.4): `user:<id>` is
 * a topic, at most 200 characters, so a session connection's user id has at
 * most 195. A longer one is refused a session, clearly: at the upgrade with
 * 500 (as any identity `identify` may not return), logged naming its length;
 * after it (`accept`, `authenticate`) with 1008. Before, such a session was
 * made, its `welcome` and `recovery` broke the schema and `sendToUser`
 * reached nobody, reporting nothing. A plain connection takes any user id;
 * a publish to a topic over the limit resolves `invalid_topic`, and so does
 * `sendToUser` for such a user with a shared store.
 */
import { WebSocket } from 'ws';
import { describe, expect, it } from 'vitest';
import { MemoryTopicStore, type SessionRecords, type TopicStore } from '../../src/index.js';
import { SESSION_PROTOCOL, protocolSchema } from '../../src/protocol/session-protocol.js';
import { userTopic } from '../../src/sessions/session-hub.js';
import { serverPerTest } from '../support/per-test-server.js';
import { captureLogger, waitFor } from '../support/server.js';
import { isWelcome, openSessionClient } from '../support/session-client.js';

const { start } = serverPerTest();
const longest = 'u'.repeat(195);
const tooLong = 'u'.repeat(196);

/** The HTTP status a session client's upgrade is answered with (101 when it opens). */
async function upgradeStatus(port: number, user: string): Promise<number> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/?user=${user}`, [SESSION_PROTOCOL]);
  const status = await new Promise<number>((resolve) => {
    ws.once('open', () => resolve(101));
    ws.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
    ws.once('error', () => resolve(0));
  });
  ws.terminate();
  return status;
}

describe('the user id of a session connection', () => {
  it('is refused at the upgrade with 500 past 195 characters, logged naming its length; 195 make a session whose every frame the schema takes', async () => {
    const { logger, records } = captureLogger('info');
    const server = await start({ logger, sessions: { ttlMs: 5_000 } });
    expect(await upgradeStatus(server.port, tooLong)).toBe(500);
    const logged = records.find((record) => record.msg === 'identify returned a user id that cannot have a session; upgrade refused with 500');
    expect(logged).toMatchObject({ userIdLength: 196, err: { message: expect.stringContaining('userId of 196 characters cannot have a session') } });
    expect(JSON.stringify(records)).not.toContain(tooLong);

    const tab = await openSessionClient(server.port, longest);
    tab.hello(undefined, undefined, 'tab');
    expect((await tab.next(isWelcome, 'welcome')).topics).toContain(userTopic(longest));
    expect(await server.manager.sendToUser(longest, 'hi')).toEqual({ sent: 1, rejected: 0, reasons: {} });
    await waitFor(() => tab.messages(userTopic(longest)).length === 1, 5_000, 'the message');
    expect(tab.frames.map((frame) => protocolSchema.check(frame, '#/$defs/serverFrame'))).toEqual(tab.frames.map(() => undefined));

    // A plain connection takes any user id, and sendToUser reaches it.
    const { client } = await server.connect(tooLong);
    expect(await server.manager.sendToUser(tooLong, 'plain')).toEqual({ sent: 1, rejected: 0, reasons: {} });
    await waitFor(() => client.received.length === 1, 5_000, 'the plain message');
  });

  it('is refused after the upgrade (authenticate) with 1008; a publish to a topic past 200 characters is invalid_topic', async () => {
    const { logger, records } = captureLogger('info');
    const server = await start({ logger, sessions: { ttlMs: 5_000 }, authenticate: () => ({ userId: tooLong }) });
    const tab = await openSessionClient(server.port, undefined);
    expect(await tab.closed).toEqual({ code: 1008, reason: 'user id too long for a session' });
    expect(records.some((record) => record.msg === 'user id too long for a session; session connection refused' && record.userIdLength === 196)).toBe(true);
    expect(server.manager.sessions).toBe(0);

    const published = await server.manager.publish('t'.repeat(201), 'x');
    expect(published).toMatchObject({ ok: false, reason: 'invalid_topic' });
    expect(published.error).toBeInstanceOf(RangeError);
    expect(published.error!.message).toContain('201 characters');
  });

  it('with a shared store, sendToUser to a user id too long for its topic counts invalid_topic instead of nothing', async () => {
    // A shared store publishes every sendToUser for the other processes; nothing here asks its session records.
    const store: TopicStore = Object.assign(new MemoryTopicStore(), { sessions: {} as SessionRecords });
    const server = await start({ sessions: { ttlMs: 5_000, store } });
    expect(await server.manager.sendToUser(tooLong, 'hi')).toEqual({ sent: 0, rejected: 1, reasons: { invalid_topic: 1 } });
    expect(await server.manager.sendToUser(longest, 'hi')).toEqual({ sent: 0, rejected: 0, reasons: {} });
  });
});
