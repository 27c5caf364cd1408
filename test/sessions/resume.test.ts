/**
 * Sessions over real sockets (#11): a client that drops and comes back
 * with its token and offsets gets every message it missed, in order,
 * exactly once, then live ones; when it cannot, it is told per topic.
 */
import { describe, expect, it } from 'vitest';
import { userTopic } from '../../src/sessions/session-hub.js';
import { SESSION_CLOSE_CODES } from '../../src/protocol/session-protocol.js';
import { serverPerTest } from '../support/per-test-server.js';
import { waitFor } from '../support/server.js';
import { isWelcome, openSessionClient, recoveryOf } from '../support/session-client.js';

const { start } = serverPerTest();
const ALICE = userTopic('alice');

describe('sessions', () => {
  it('replays what a dropped tab missed, in order and once, before any live message', async () => {
    const server = await start({ sessions: { ttlMs: 5_000 } });
    const first = await openSessionClient(server.port, 'alice');
    first.hello();
    const welcome = await first.next(isWelcome, 'welcome');
    expect(welcome).toMatchObject({ resumed: false, ttlMs: 5_000 });
    // A new session is told where each stream starts.
    expect(await first.next(recoveryOf(ALICE), 'recovery')).toMatchObject({ recovered: false, reason: 'unknown_session', offset: 0 });
    for (let n = 1; n <= 3; n++) await server.manager.sendToUser('alice', { n });
    await waitFor(() => first.messages(ALICE).length === 3, 5_000, 'three live messages');
    const epoch = (await first.next(recoveryOf(ALICE), 'recovery')).epoch;
    first.ws.terminate();
    await first.closed;
    await waitFor(() => server.manager.size === 0, 5_000, 'the drop seen');

    // Published while the tab is away: kept for it.
    for (let n = 4; n <= 6; n++) expect((await server.manager.sendToUser('alice', { n })).sent).toBe(0);
    const back = await openSessionClient(server.port, 'alice');
    back.hello(welcome.session, { [ALICE]: { epoch, offset: 3 } });
    expect(await back.next(isWelcome, 'welcome')).toMatchObject({ session: welcome.session, resumed: true });
    await waitFor(() => back.frames.some((f) => f.type === 'replayed' && f.topic === ALICE), 5_000, 'replay end');
    await server.manager.sendToUser('alice', { n: 7 });
    await waitFor(() => back.messages(ALICE).length === 4, 5_000, 'replay and live');
    expect(back.messages(ALICE)).toEqual([4, 5, 6, 7].map((n) => ({ offset: n, data: { n } })));
    const kinds = back.frames.filter((f) => 'topic' in f && f.topic === ALICE).map((f) => f.type);
    expect(kinds).toEqual(['recovery', 'message', 'message', 'message', 'replayed', 'message']);
    expect(back.frames.find(recoveryOf(ALICE))).toMatchObject({ recovered: true, offset: 3 });
  });

  it('says recovered: false with the reason when it cannot: an expired session, an epoch it never had, an offset from the future', async () => {
    const server = await start({ sessions: { ttlMs: 150 } });
    const first = await openSessionClient(server.port, 'alice');
    first.hello();
    const { session } = await first.next(isWelcome, 'welcome');
    await server.manager.sendToUser('alice', 'one');
    await waitFor(() => first.messages(ALICE).length === 1, 5_000, 'one message');
    const { epoch } = (await first.next(recoveryOf(ALICE), 'recovery'));

    const twice = await openSessionClient(server.port, 'alice');
    twice.hello(session, { [ALICE]: { epoch: 'not-this-one', offset: 1 } });
    // Not this epoch: the one there is follows from its start, every message of it (no `replayed` after recovered: false).
    await waitFor(() => twice.messages(ALICE).length === 1, 5_000, 'the epoch from its start');
    expect(twice.frames.filter((f) => 'topic' in f && f.topic === ALICE)).toEqual([
      { type: 'recovery', topic: ALICE, recovered: false, reason: 'epoch_changed', epoch, offset: 0 },
      { type: 'message', topic: ALICE, epoch, offset: 1, data: 'one' }
    ]);
    const future = await openSessionClient(server.port, 'alice');
    future.hello(session, { [ALICE]: { epoch, offset: 99 } });
    expect(await future.next(recoveryOf(ALICE), 'recovery')).toMatchObject({ recovered: false, reason: 'future_offset', offset: 1 });

    for (const client of [first, twice, future]) client.ws.terminate();
    await waitFor(() => server.manager.sessions === 0, 5_000, 'the session to expire');
    const late = await openSessionClient(server.port, 'alice');
    late.hello(session, { [ALICE]: { epoch, offset: 1 } });
    expect(await late.next(isWelcome, 'welcome')).toMatchObject({ resumed: false });
    expect(await late.next(recoveryOf(ALICE), 'recovery')).toMatchObject({ recovered: false, reason: 'unknown_session' });
  });

  it("refuses another user's token without a frame of their history, and a malformed frame, closing only that connection", async () => {
    const server = await start();
    const alice = await openSessionClient(server.port, 'alice');
    alice.hello();
    const { session } = await alice.next(isWelcome, 'welcome');
    await server.manager.sendToUser('alice', 'private');
    const mallory = await openSessionClient(server.port, 'mallory');
    mallory.hello(session, { [ALICE]: { epoch: 'x', offset: 0 } });
    expect((await mallory.closed).code).toBe(SESSION_CLOSE_CODES.FORBIDDEN);
    expect(mallory.frames).toEqual([{ type: 'error', code: 'forbidden', message: 'session belongs to another user' }]);
    const broken = await openSessionClient(server.port, 'bob');
    broken.ws.send('{"type":"hello","topics":{"t":{"epoch":"e","offset":-1}}}');
    expect((await broken.closed).code).toBe(SESSION_CLOSE_CODES.PROTOCOL_ERROR);
    expect(alice.ws.readyState).toBe(alice.ws.OPEN);
    await waitFor(() => alice.messages(ALICE).length === 1, 5_000, "alice's message");
  });

  it('delivers a message the client resent after a reconnect once, and acknowledges both', async () => {
    const server = await start();
    const seen: unknown[] = [];
    server.manager.on('sessionMessage', (_connection, data) => seen.push(data));
    const first = await openSessionClient(server.port, 'alice');
    first.hello(undefined, undefined, 'tab');
    const { session } = await first.next(isWelcome, 'welcome');
    first.ws.send(JSON.stringify({ type: 'send', id: 1, data: { ask: 'weather' } }));
    await waitFor(() => seen.length === 1, 5_000, 'the first send');
    // Its ack is lost with the connection: the client sends it again on the next one, then its next message.
    first.ws.terminate();
    await first.closed;
    const second = await openSessionClient(server.port, 'alice');
    second.hello(session, undefined, 'tab');
    await second.next(isWelcome, 'welcome');
    second.ws.send(JSON.stringify({ type: 'send', id: 1, data: { ask: 'weather' } }));
    second.ws.send(JSON.stringify({ type: 'send', id: 2, data: { ask: 'news' } }));
    await waitFor(() => second.frames.filter((f) => f.type === 'ack').length === 2, 5_000, 'two acks');
    expect(seen).toEqual([{ ask: 'weather' }, { ask: 'news' }]);
  });

  it('refuses an id at or below one already sent on the same connection (4400), which a resend never is: acknowledged, it would never be delivered', async () => {
    const server = await start();
    const seen: unknown[] = [];
    server.manager.on('sessionMessage', (_connection, data) => seen.push(data));
    const client = await openSessionClient(server.port, 'alice');
    client.hello(undefined, undefined, 'tab');
    await client.next(isWelcome, 'welcome');
    for (const id of [1, 2, 1]) client.ws.send(JSON.stringify({ type: 'send', id, data: id }));
    expect((await client.closed).code).toBe(4400);
    expect(client.frames.filter((f) => f.type === 'ack' || f.type === 'error')).toMatchObject([
      { type: 'ack', id: 1 },
      { type: 'ack', id: 2 },
      { type: 'error', code: 'unexpected' }
    ]);
    expect(seen).toEqual([1, 2]);
  });

  it('a client that resent on the connection of a hello whose session was not resumed, then numbered from 1, is told (4400), not acknowledged and dropped', async () => {
    const server = await start({ sessions: { ttlMs: 5_000 } });
    const seen: unknown[] = [];
    server.manager.on('sessionMessage', (_connection, data) => seen.push(data));
    const client = await openSessionClient(server.port, 'alice');
    // A session this server does not have; the unacknowledged send 6 resent right after the hello (section 1.4).
    client.hello('a-session-that-expired', undefined, 'tab');
    client.ws.send(JSON.stringify({ type: 'send', id: 6, data: 'old-6' }));
    expect(await client.next(isWelcome, 'welcome')).toMatchObject({ resumed: false });
    for (let id = 1; id <= 3; id++) client.ws.send(JSON.stringify({ type: 'send', id, data: `new-${id}` }));
    expect((await client.closed).code).toBe(4400);
    expect(client.frames.filter((f) => f.type === 'ack').map((f) => (f as { id: number }).id)).toEqual([6]);
    expect(seen).toEqual(['old-6']);
  });

  it('keeps what is published between the upgrade and the hello for the new session', async () => {
    const server = await start();
    const client = await openSessionClient(server.port, 'alice');
    await waitFor(() => server.manager.connectionsOf('alice').length === 1, 5_000, 'the connection');
    await server.manager.sendToUser('alice', { type: 'agent_started' });
    client.hello();
    await waitFor(() => client.messages(ALICE).length === 1, 5_000, 'the early message');
    expect(client.messages(ALICE)).toEqual([{ offset: 1, data: { type: 'agent_started' } }]);
    expect(client.frames.find(recoveryOf(ALICE))).toMatchObject({ recovered: false, reason: 'unknown_session', offset: 0 });
  });

  it('leaves plain connections as they were: raw frames, no envelope', async () => {
    const server = await start();
    const { client } = await server.connect('alice');
    expect(await server.manager.sendToUser('alice', { plain: true })).toMatchObject({ sent: 1 });
    await waitFor(() => client.received.length === 1, 5_000, 'the message');
    expect(client.received).toEqual(['{"plain":true}']);
  });

  it('keeps room membership per user: a later session follows the room, unsubscribe stops it, bad names are refused', async () => {
    const server = await start({ sessions: { ttlMs: 5_000 } });
    server.manager.subscribe('alice', 'room:ops');
    // A session made after subscribe follows the room from its admission on.
    const tab = await openSessionClient(server.port, 'alice');
    tab.hello();
    await tab.next(isWelcome, 'welcome');
    expect(await tab.next(recoveryOf('room:ops'), 'room recovery')).toMatchObject({ recovered: false, reason: 'unknown_session', offset: 0 });
    expect(await server.manager.publish('room:ops', 'deploy started')).toMatchObject({ ok: true, offset: 1, report: { sent: 1 } });
    await waitFor(() => tab.messages('room:ops').length === 1, 5_000, 'room message');
    server.manager.unsubscribe('alice', 'room:ops');
    expect(await server.manager.publish('room:ops', 'deploy done')).toMatchObject({ ok: true, offset: 1, report: { sent: 0 } });

    expect(() => server.manager.subscribe('alice', '')).toThrow(/Invalid topic: ""/);
    expect(() => server.manager.subscribe('alice', 'x'.repeat(201))).toThrow(/Invalid topic: .*201 characters/);
    expect(() => server.manager.unsubscribe(undefined as unknown as string, 'room:ops')).toThrow(/Invalid userId: undefined/);
    const bad = await server.manager.publish(42 as unknown as string, 'x');
    expect(bad).toMatchObject({ ok: false, report: { sent: 0, rejected: 0 } });
    expect(bad.error).toBeInstanceOf(RangeError);
    expect(bad.error?.message).toMatch(/Invalid topic: 42/);
  });

  it('refuses a name holding an unpaired surrogate (stored as UTF-8 it would be another name): the API with a TypeError naming it, a hello with 4400', async () => {
    // A URL cannot carry an unpaired surrogate: the user `odd` is given one by authenticate.
    const server = await start({ authenticate: ({ request }) => (request?.url?.includes('odd') === true ? { userId: 'bob\udc00' } : true) });
    const lone = 'room:\ud800';
    const named = /Invalid topic: "room:\\ud800" \(expected well-formed Unicode/;
    expect(() => server.manager.subscribe('alice', lone)).toThrow(TypeError);
    expect(() => server.manager.subscribe('alice', lone)).toThrow(named);
    expect(() => server.manager.unsubscribe('alice', lone)).toThrow(named);
    const published = await server.manager.publish(lone, 'x');
    expect(published).toMatchObject({ ok: false, report: { sent: 0, rejected: 0 } });
    expect(published.error).toBeInstanceOf(TypeError);
    expect(published.error?.message).toMatch(named);
    await expect(server.manager.topicPosition(lone)).rejects.toThrow(named);
    // A paired surrogate is a character like any other.
    server.manager.subscribe('alice', 'room:\ud83d\ude00');
    expect(await server.manager.publish('room:\ud83d\ude00', 'x')).toMatchObject({ ok: true, offset: 1 });

    // A session connection of a user whose topic would hold one is refused, naming nothing of it.
    const odd = await openSessionClient(server.port, 'odd');
    expect((await odd.closed).code).toBe(1008);

    const tab = await openSessionClient(server.port, 'alice');
    tab.ws.send(JSON.stringify({ type: 'hello', topics: { [lone]: { epoch: 'e', offset: 0 } } }));
    expect((await tab.closed).code).toBe(SESSION_CLOSE_CODES.PROTOCOL_ERROR);
    expect(tab.frames).toMatchObject([{ type: 'error', code: 'malformed' }]);
    const token = await openSessionClient(server.port, 'alice');
    token.ws.send(JSON.stringify({ type: 'hello', session: 'x\udbff' }));
    expect((await token.closed).code).toBe(SESSION_CLOSE_CODES.PROTOCOL_ERROR);

    // A send's data is the application's: anything JSON allows, an unpaired surrogate included.
    const seen: unknown[] = [];
    server.manager.on('sessionMessage', (_connection, data) => seen.push(data));
    const sender = await openSessionClient(server.port, 'alice');
    sender.hello(undefined, undefined, 'tab0000000000001');
    await sender.next(isWelcome, 'welcome');
    sender.ws.send(JSON.stringify({ type: 'send', id: 1, data: { text: lone } }));
    await waitFor(() => seen.length === 1, 5_000, 'the send delivered');
    expect(seen).toEqual([{ text: lone }]);
    sender.ws.terminate();
  });

  it('drops the history of topics no session holds once the last one expires: a new epoch, never a silent gap', async () => {
    const server = await start({ sessions: { ttlMs: 100 } });
    const tab = await openSessionClient(server.port, 'alice');
    tab.hello();
    await tab.next(isWelcome, 'welcome');
    await server.manager.sendToUser('alice', 'one');
    const before = await server.manager.topicPosition(ALICE);
    expect(before.offset).toBe(1);
    tab.ws.terminate();
    await waitFor(() => server.manager.sessions === 0, 5_000, 'the session to expire');
    // The user has no session: sendToUser stores nothing, and the topic starts over.
    expect(await server.manager.sendToUser('alice', 'unseen')).toMatchObject({ sent: 0 });
    const after = await server.manager.topicPosition(ALICE);
    expect(after.offset).toBe(0);
    expect(after.epoch).not.toBe(before.epoch);
  });

  it('ends every session at shutdown, detached ones too, so no TTL timer outlives the server', async () => {
    const server = await start({ sessions: { ttlMs: 60_000 } });
    const transitions: string[] = [];
    server.manager.on('sessionTransition', (record) => transitions.push(`${record.from}->${record.to} ${record.event}`));
    const away = await openSessionClient(server.port, 'alice');
    away.hello();
    await away.next(isWelcome, 'welcome');
    away.ws.terminate();
    await waitFor(() => transitions.length === 1, 5_000, 'detached');
    const here = await openSessionClient(server.port, 'bob');
    here.hello();
    await here.next(isWelcome, 'welcome');
    expect(server.manager.sessions).toBe(2);
    await server.manager.shutdown({ timeoutMs: 1_000 });
    expect(server.manager.sessions).toBe(0);
    expect(transitions).toEqual(['attached->detached DETACH', 'attached->detached DETACH', 'detached->expired END', 'detached->expired END']);
  });

  it('sessionSnapshot: sessions by state, and the busiest topics held with where they stand and who follows them', async () => {
    const server = await start({ sessions: { ttlMs: 5_000 } });
    server.manager.subscribe('alice', 'room:x');
    const one = await openSessionClient(server.port, 'alice');
    one.hello();
    await one.next(isWelcome, 'welcome');
    const two = await openSessionClient(server.port, 'bob');
    two.hello();
    await two.next(isWelcome, 'welcome');
    await server.manager.publish('room:x', 'hi');
    await waitFor(() => one.messages('room:x').length === 1, 5_000, 'the room message');
    two.ws.terminate();
    await waitFor(() => server.manager.sessionSnapshot().sessions.detached === 1, 5_000, 'bob detached');
    const snapshot = server.manager.sessionSnapshot();
    expect(snapshot.sessions).toEqual({ attached: 1, detached: 1 });
    expect(snapshot.heldTopics).toBe(4);
    expect(snapshot.topics[0]).toEqual({ topic: 'broadcast', epoch: expect.any(String), offset: 0, connections: 1 });
    expect(snapshot.topics).toContainEqual({ topic: 'room:x', epoch: expect.any(String), offset: 1, connections: 1 });
    expect(snapshot.topics).toContainEqual({ topic: userTopic('bob'), epoch: expect.any(String), offset: 0, connections: 0 });
    expect(server.manager.sessionSnapshot(1).topics).toHaveLength(1);
  });
});
