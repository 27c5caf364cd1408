/**
 * The sessions' promise against what real use and hostile clients do
 * (#20, "What was seen"): one test per item, each over real sockets and
 * raw protocol frames where the promise is the server's, through
 * `SessionClient` where it is the client's. Each failed on the code before
 * its fix.
 */
import type { Socket } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { describe, expect, it } from 'vitest';
import { SessionClient, type ClientSocketConstructor } from '../../src/client/session-client.js';
import type { ServerFrame } from '../../src/protocol/session-protocol.js';
import { userTopic } from '../../src/sessions/session-hub.js';
import { MemoryTopicStore, type SessionRecords, type TopicStore } from '../../src/sessions/topic-store.js';
import { serverPerTest } from '../support/per-test-server.js';
import { stallClient, startServer, waitFor } from '../support/server.js';
import { isWelcome, openSessionClient, recoveryOf, type SessionTestClient } from '../support/session-client.js';

const { start, cleanup } = serverPerTest();
const ALICE = userTopic('alice');
const ROOM = 'room:secret';

/** The offsets of a topic's messages must rise by one, except right after a recovery that says where the stream continues. */
function contiguity(frames: ServerFrame[], topic: string): { offsets: number[]; breaks: string[] } {
  const offsets: number[] = [];
  const breaks: string[] = [];
  let last: number | undefined;
  for (const frame of frames) {
    if (!('topic' in frame) || frame.topic !== topic) continue;
    if (frame.type === 'recovery') last = frame.recovered ? last ?? frame.offset : frame.offset;
    if (frame.type !== 'message') continue;
    if (last !== undefined && frame.offset !== last + 1) breaks.push(`offset ${frame.offset} after ${last}`);
    offsets.push(frame.offset);
    last = frame.offset;
  }
  return { offsets, breaks };
}

type Resume = { session: string; cursors: Record<string, { epoch: string; offset: number }> };

function clientOf(port: number, user: string, resume?: Resume): SessionClient {
  const client = new SessionClient({
    url: `ws://127.0.0.1:${port}/?user=${user}`,
    WebSocket: WebSocket as unknown as ClientSocketConstructor,
    minDelayMs: 10,
    maxDelayMs: 50,
    resume
  });
  cleanup(() => client.close());
  return client;
}

/** A topic store over `memory`, with some of its methods (or session records) replaced by a test's own. */
function storeOver(memory: MemoryTopicStore, own: Partial<TopicStore> = {}): TopicStore {
  return {
    append: (t, p) => memory.append(t, p),
    position: (t) => memory.position(t),
    readAfter: (t, e, o) => memory.readAfter(t, e, o),
    forget: (t) => memory.forget(t),
    ...own
  };
}

async function welcomed(client: SessionTestClient, session?: string, topics?: Record<string, { epoch: string; offset: number }>, id?: string) {
  client.hello(session, topics, id);
  return client.next(isWelcome, 'welcome');
}

describe('the promise against real use and hostile input (#20)', () => {
  it('1: a frame whose type is 40 euro signs closes its connection with 4400 and the server serves the next one', async () => {
    const server = await start({ sessions: { ttlMs: 5_000 } });
    const hostile = await openSessionClient(server.port, 'mallory');
    hostile.ws.send(JSON.stringify({ type: '€'.repeat(40) }));
    expect((await hostile.closed).code).toBe(4400);
    const error = hostile.frames.find((frame) => frame.type === 'error');
    expect(error).toMatchObject({ code: 'malformed' });
    const next = await openSessionClient(server.port, 'alice');
    expect(await welcomed(next)).toMatchObject({ resumed: false });
  });

  it('2: a reader slower than its socket gets every message once and in order (64 KiB buffer, 2,000 messages of 8 KiB)', async () => {
    const store = new MemoryTopicStore({ maxEntriesPerTopic: 5_000, maxBytesPerTopic: 64 << 20, maxBytes: 128 << 20 });
    const server = await start({ maxBufferedBytes: 64 << 10, sessions: { ttlMs: 5_000, store } });
    const tab = await openSessionClient(server.port, 'alice');
    await welcomed(tab);
    await tab.next(recoveryOf(ALICE), 'recovery');
    stallClient(tab.ws);
    const text = 'x'.repeat(8 << 10);
    const reports = [];
    for (let n = 1; n <= 2_000; n++) reports.push(server.manager.sendToUser('alice', { n, text }));
    (tab.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    await waitFor(() => tab.messages(ALICE).length >= 2_000, 20_000, 'all 2,000 to the slow reader');
    await Promise.all(reports);
    const { offsets, breaks } = contiguity(tab.frames, ALICE);
    expect(breaks).toEqual([]);
    expect(offsets).toEqual(Array.from({ length: 2_000 }, (_, i) => i + 1));
  });

  it('a tab that stops reading does not hold up publish: its report counts what was handed to the connection, and the tab catches up from the store', async () => {
    // The heartbeat would end the stalled tab after two intervals: far after the publishes here.
    const store = new MemoryTopicStore({ maxEntriesPerTopic: 5_000, maxBytesPerTopic: 64 << 20, maxBytes: 128 << 20 });
    const server = await start({ heartbeatIntervalMs: 60_000, maxBufferedBytes: 1 << 20, sessions: { ttlMs: 5_000, store } });
    const stalled = await openSessionClient(server.port, undefined);
    await welcomed(stalled);
    await stalled.next(recoveryOf('broadcast'), 'recovery');
    stallClient(stalled.ws);
    const reader = await openSessionClient(server.port, 'bob');
    await welcomed(reader);
    await reader.next(recoveryOf('broadcast'), 'recovery');
    const text = 'x'.repeat(16 << 10);
    // 16 MiB: past what the kernel's buffers take and past maxBufferedBytes, so some writes wait on the stalled reader.
    let resolved = 0;
    for (let n = 1; n <= 1_024; n++) {
      const result = await Promise.race([
        server.manager.publish('broadcast', { n, text }),
        new Promise<undefined>((resolve) => setTimeout(resolve, 10_000, undefined))
      ]);
      expect(result, `publish ${n} resolved`).toBeDefined();
      expect(result!.ok).toBe(true);
      resolved++;
    }
    expect(resolved).toBe(1_024);
    await waitFor(() => reader.messages('broadcast').length === 1_024, 20_000, 'the reader has every message');
    (stalled.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    await waitFor(() => stalled.messages('broadcast').length >= 1_024, 20_000, 'the stalled tab caught up');
    expect(contiguity(stalled.frames, 'broadcast').breaks).toEqual([]);
  });

  it('4: sends after a reload, and from a duplicated tab, are delivered: each client instance numbers its own', async () => {
    const server = await start({ sessions: { ttlMs: 5_000 } });
    const delivered: unknown[] = [];
    server.manager.on('sessionMessage', (_connection, data) => delivered.push(data));
    const page = clientOf(server.port, 'alice').start();
    expect(await page.send('before reload 1')).toEqual({ ok: true });
    expect(await page.send('before reload 2')).toEqual({ ok: true });
    const saved = { session: page.session!, cursors: page.cursors };
    page.close();
    const reloaded = clientOf(server.port, 'alice', saved).start();
    const duplicate = clientOf(server.port, 'alice', saved).start();
    expect(await reloaded.send('after reload')).toEqual({ ok: true });
    expect(await duplicate.send('from the duplicate')).toEqual({ ok: true });
    expect(reloaded.session).toBe(saved.session);
    expect(delivered.sort()).toEqual(['after reload', 'before reload 1', 'before reload 2', 'from the duplicate']);
  });

  it('5: a send from the open listener goes after the sends queued while away, and all arrive', async () => {
    const server = await start({ sessions: { ttlMs: 5_000 } });
    const delivered: unknown[] = [];
    server.manager.on('sessionMessage', (_connection, data) => delivered.push(data));
    const client = clientOf(server.port, 'alice').start();
    await waitFor(() => client.state === 'open', 5_000, 'open');
    const [connection] = server.manager.connectionsOf('alice');
    await connection!.close(1012, 'restarting');
    await waitFor(() => client.state !== 'open', 5_000, 'away');
    const queued = [client.send('queued 1'), client.send('queued 2')];
    const off = client.on('state', (state) => {
      if (state !== 'open') return;
      off();
      void client.send('join');
    });
    await Promise.all(queued);
    await waitFor(() => delivered.length === 3, 5_000, 'three delivered');
    expect(delivered).toEqual(['queued 1', 'queued 2', 'join']);
  });

  it('6: a user who joined and left 300 rooms reconnects: the client drops the cursors the session no longer follows', async () => {
    const server = await start({ sessions: { ttlMs: 5_000 } });
    const client = clientOf(server.port, 'alice').start();
    await waitFor(() => client.state === 'open', 5_000, 'open');
    for (let i = 0; i < 300; i++) server.manager.subscribe('alice', `room:${i}`);
    await waitFor(() => Object.keys(client.cursors).length === 302, 5_000, 'a cursor per room');
    for (let i = 0; i < 300; i++) server.manager.unsubscribe('alice', `room:${i}`);
    await waitFor(() => Object.keys(client.cursors).length === 2, 5_000, 'cursors of rooms left dropped');
    const [connection] = server.manager.connectionsOf('alice');
    await connection!.close(1012, 'restarting');
    await waitFor(() => client.state === 'reconnecting', 5_000, 'away');
    await waitFor(() => client.state === 'open', 5_000, 'back');
    // A hello naming topics the session does not follow is no reason to refuse it either.
    const raw = await openSessionClient(server.port, 'alice');
    const lots = Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`room:${i}`, { epoch: 'e', offset: 1 }]));
    expect(await welcomed(raw, client.session, lots)).toMatchObject({ resumed: true, topics: expect.arrayContaining([ALICE, 'broadcast']) });
  });

  it('7: a resume never replays a room from before the user joined it, whatever cursor the client names', async () => {
    const server = await start({ sessions: { ttlMs: 5_000 } });
    // Bob is in the room all along: the room is held, its history kept.
    server.manager.subscribe('bob', ROOM);
    const bob = await openSessionClient(server.port, 'bob');
    await welcomed(bob);
    const tab = await openSessionClient(server.port, 'alice');
    const { session } = await welcomed(tab, undefined, undefined, 'tab-1');
    for (let n = 1; n <= 20; n++) await server.manager.publish(ROOM, { secret: n });
    server.manager.subscribe('alice', ROOM);
    const joined = await tab.next(recoveryOf(ROOM), 'the room starts where it stands');
    expect(joined).toMatchObject({ recovered: false, reason: 'new_topic', offset: 20 });
    await server.manager.publish(ROOM, { after: 21 });
    await waitFor(() => tab.messages(ROOM).length === 1, 5_000, 'the first message after joining');
    tab.ws.terminate();
    await tab.closed;
    const liar = await openSessionClient(server.port, 'alice');
    await welcomed(liar, session, { [ROOM]: { epoch: joined.epoch, offset: 0 } }, 'tab-1');
    expect(await liar.next(recoveryOf(ROOM), 'recovery')).toMatchObject({ recovered: false, reason: 'membership', offset: 20 });
    await waitFor(() => liar.messages(ROOM).length === 1, 5_000, 'what came after joining');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(liar.messages(ROOM)).toEqual([{ offset: 21, data: { after: 21 } }]);
    liar.ws.terminate();
    await liar.closed;
    // A cursor of an epoch the topic is not in (made up, or kept from before the store lost the room): the store
    // would answer epoch_changed with the whole epoch, from offset 1; the membership cuts it all the same.
    for (const epoch of ['made-up', 'x'.repeat(64)]) {
      const stale = await openSessionClient(server.port, 'alice');
      await welcomed(stale, session, { [ROOM]: { epoch, offset: 0 } }, 'tab-1');
      expect(await stale.next(recoveryOf(ROOM), 'recovery')).toMatchObject({ recovered: false, reason: 'membership', epoch: joined.epoch, offset: 20 });
      await waitFor(() => stale.messages(ROOM).length === 1, 5_000, 'what came after joining');
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(stale.messages(ROOM)).toEqual([{ offset: 21, data: { after: 21 } }]);
      stale.ws.terminate();
      await stale.closed;
    }
  });

  it('8: sessions per user are bounded: 400 connect, hello, drop keep at most 32, the oldest ended first', async () => {
    const server = await start({ sessions: { ttlMs: 60_000 } });
    const tokens: string[] = [];
    for (let i = 0; i < 400; i++) {
      const tab = await openSessionClient(server.port, 'alice');
      tokens.push((await welcomed(tab)).session);
      tab.ws.terminate();
      await tab.closed;
      await waitFor(() => server.manager.size === 0, 5_000, 'the drop seen');
    }
    expect(server.manager.sessions).toBe(32);
    const oldest = await openSessionClient(server.port, 'alice');
    await welcomed(oldest, tokens[0]);
    expect(await oldest.next(recoveryOf(ALICE), 'recovery')).toMatchObject({ recovered: false, reason: 'unknown_session' });
    const newest = await openSessionClient(server.port, 'alice');
    expect(await welcomed(newest, tokens[399])).toMatchObject({ resumed: true });
  });

  it('9: the client never throws on a frame that is not JSON: it says so and resumes', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => 'ws-lifecycle.v1' });
    await new Promise((resolve) => wss.once('listening', resolve));
    cleanup(() => new Promise((resolve) => wss.close(resolve)));
    let connections = 0;
    wss.on('connection', (ws) => {
      connections++;
      ws.on('message', () => ws.send('this is not JSON {'));
    });
    const client = clientOf((wss.address() as { port: number }).port, 'alice');
    const errors: string[] = [];
    client.on('error', ({ code }) => errors.push(code));
    client.start();
    await waitFor(() => connections >= 2, 5_000, 'a second attempt');
    expect(errors[0]).toBe('protocol');
    client.close();
    for (const ws of wss.clients) ws.terminate();
  });

  it('10: a client sending faster than its sends can be checked is not read ahead: what is in flight stays bounded', async () => {
    let pendingChecks = 0;
    const records: SessionRecords = {
      create: () => Promise.resolve(),
      get: () => Promise.resolve(undefined),
      touch: () => Promise.resolve(),
      acceptSend: () => {
        pendingChecks++;
        return new Promise((resolve) => setTimeout(() => {
          pendingChecks--;
          resolve('deliver');
        }, 1));
      },
      delivered: () => Promise.resolve()
    };
    const store = storeOver(new MemoryTopicStore(), { sessions: records });
    const server = await start({ sessions: { ttlMs: 5_000, store, maxInFlight: 16 } });
    const tab = await openSessionClient(server.port, 'alice');
    await welcomed(tab, undefined, undefined, 'fast');
    const [connection] = server.manager.connectionsOf('alice');
    let read = 0;
    connection!.socket.on('message', () => read++);
    const acks = () => tab.frames.filter((frame) => frame.type === 'ack').length;
    let worst = 0;
    const watch = setInterval(() => (worst = Math.max(worst, read - acks())), 1);
    cleanup(() => clearInterval(watch));
    const data = 'y'.repeat(16 << 10);
    for (let id = 1; id <= 2_000; id++) tab.ws.send(JSON.stringify({ type: 'send', id, data }));
    await waitFor(() => acks() === 2_000, 20_000, 'every send checked and acknowledged');
    // Read ahead of the checks: at most the limit plus what ws had already read from the socket when reading paused.
    expect(worst).toBeLessThan(16 + 64);
    expect(pendingChecks).toBe(0);
  });

  it('11: a user removed from a room before the hello gets nothing of what the room said while away from it', async () => {
    const server = await start({ sessions: { ttlMs: 5_000 } });
    server.manager.subscribe('bob', ROOM);
    const bob = await openSessionClient(server.port, 'bob');
    await welcomed(bob);
    server.manager.subscribe('alice', ROOM);
    const tab = await openSessionClient(server.port, 'alice');
    server.manager.unsubscribe('alice', ROOM);
    await welcomed(tab);
    for (let n = 1; n <= 5; n++) await server.manager.publish(ROOM, { while: 'away', n });
    server.manager.subscribe('alice', ROOM);
    expect(await tab.next(recoveryOf(ROOM), 'the room again')).toMatchObject({ recovered: false, reason: 'new_topic', offset: 5 });
    await server.manager.publish(ROOM, { back: true });
    await waitFor(() => tab.messages(ROOM).some((m) => m.offset === 6), 5_000, 'the next message');
    expect(tab.messages(ROOM)).toEqual([{ offset: 6, data: { back: true } }]);
  });

  it('a membership begun while the store could not say where the room stood is asked again: the user is not shut out of the room once the store answers', async () => {
    const memory = new MemoryTopicStore();
    let unreachable = false;
    const store = storeOver(memory, { position: (t) => (unreachable ? Promise.reject(new Error('store unreachable')) : memory.position(t)) });
    const server = await start({ sessions: { ttlMs: 5_000, store } });
    // Bob is in the room all along: the room is held, its history kept.
    server.manager.subscribe('bob', ROOM);
    const bob = await openSessionClient(server.port, 'bob');
    await welcomed(bob);
    await server.manager.publish(ROOM, { before: 1 });
    unreachable = true;
    server.manager.subscribe('alice', ROOM);
    await new Promise((resolve) => setTimeout(resolve, 20));
    unreachable = false;
    // The store answers again: a hello gets the room, starting where the store says it stands now.
    const tab = await openSessionClient(server.port, 'alice');
    await welcomed(tab);
    expect(await tab.next(recoveryOf(ROOM), 'the room')).toMatchObject({ recovered: false, offset: 1 });
    await server.manager.publish(ROOM, { after: 2 });
    await waitFor(() => tab.messages(ROOM).length === 1, 5_000, 'the next message');
    expect(tab.messages(ROOM)).toEqual([{ offset: 2, data: { after: 2 } }]);
  });

  it('12: a session that was not resumed (expired, a restart) does not stop a client for good: its next send id is where its numbering stands in the new session', async () => {
    const server = await start({ sessions: { ttlMs: 100 } });
    const delivered: unknown[] = [];
    server.manager.on('sessionMessage', (_connection, data) => delivered.push(data));
    const first = await openSessionClient(server.port, 'alice');
    const { session } = await welcomed(first, undefined, undefined, 'tab');
    for (const id of [1, 2]) first.ws.send(JSON.stringify({ type: 'send', id, data: `s${id}` }));
    await waitFor(() => first.frames.filter((frame) => frame.type === 'ack').length === 2, 5_000, 'two acks');
    first.ws.terminate();
    await waitFor(() => server.manager.sessions === 0, 5_000, 'the session expired');
    // A client written before section 3.5 keeps numbering where it was; one after it numbers from 1 again. Both go on.
    const kept = await openSessionClient(server.port, 'alice');
    expect((await welcomed(kept, session, undefined, 'tab')).resumed).toBe(false);
    kept.ws.send(JSON.stringify({ type: 'send', id: 3, data: 's3' }));
    kept.ws.send(JSON.stringify({ type: 'send', id: 4, data: 's4' }));
    kept.ws.send(JSON.stringify({ type: 'send', id: 6, data: 'skips 5' }));
    expect((await kept.closed).code).toBe(4400);
    expect(kept.frames.filter((frame) => frame.type === 'ack').map((frame) => (frame as { id: number }).id)).toEqual([3, 4]);
    expect(delivered).toEqual(['s1', 's2', 's3', 's4']);
  });

  it('12: our client tells its application of a send the lost session may have delivered, instead of sending it again; what it had not sent goes, numbered from 1', async () => {
    // A scripted server: the first connection is welcomed and never acknowledges; the next says the session is gone.
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => 'ws-lifecycle.v1' });
    await new Promise((resolve) => wss.once('listening', resolve));
    const received: Array<Record<string, unknown>[]> = [];
    wss.on('connection', (ws) => {
      const frames: Record<string, unknown>[] = [];
      received.push(frames);
      const nth = received.length;
      ws.on('message', (data) => {
        const frame = JSON.parse(String(data)) as Record<string, unknown>;
        frames.push(frame);
        if (frame.type === 'hello') ws.send(JSON.stringify({ type: 'welcome', session: `session-${nth}`, resumed: false, ttlMs: 1_000, heartbeatMs: 0, version: 1, topics: [], limits: { maxFrameBytes: 65_536, maxNameLength: 200, maxInFlight: 64, maxFramesPerSecond: 0 } }));
        if (frame.type === 'send' && nth > 1) ws.send(JSON.stringify({ type: 'ack', id: frame.id }));
      });
    });
    try {
      const address = wss.address() as { port: number };
      const client = new SessionClient({ url: `ws://127.0.0.1:${address.port}/`, WebSocket: WebSocket as unknown as ClientSocketConstructor, minDelayMs: 10, maxDelayMs: 20 });
      const states: string[] = [];
      client.on('state', (state) => states.push(state));
      client.start();
      await waitFor(() => client.state === 'open', 5_000, 'open');
      const written = client.send('written, never acknowledged');
      await waitFor(() => received[0]!.some((frame) => frame.type === 'send'), 5_000, 'the send on the wire');
      for (const ws of wss.clients) ws.terminate();
      await waitFor(() => states.includes('reconnecting'), 5_000, 'the drop');
      const unsent = client.send('queued while away');
      expect(await written).toEqual({ ok: false, reason: 'session_lost' });
      expect(await unsent).toEqual({ ok: true });
      expect(received[1]!.filter((frame) => frame.type === 'send')).toEqual([{ type: 'send', id: 1, data: 'queued while away' }]);
      client.close();
    } finally {
      for (const ws of wss.clients) ws.terminate();
      await new Promise((resolve) => wss.close(resolve));
    }
  });

  it('topicPosition rejects while the store is unreachable, instead of resolving undefined', async () => {
    const memory = new MemoryTopicStore();
    let reachable = true;
    const store = storeOver(memory, { position: (t) => (reachable ? memory.position(t) : Promise.reject(new Error('store down'))), forget: () => {} });
    const server = await start({ sessions: { ttlMs: 5_000, store } });
    reachable = false;
    const tab = await openSessionClient(server.port, 'alice');
    tab.hello();
    await expect(server.manager.topicPosition(ALICE)).rejects.toThrow('store down');
  });

  it("topic messages go through the manager's serialize, and its text must be JSON", async () => {
    const server = await start({
      serialize: (message) => JSON.stringify(message, (_key, value: unknown) => (typeof value === 'bigint' ? Number(value) : value)),
      sessions: { ttlMs: 5_000 }
    });
    const tab = await openSessionClient(server.port, 'alice');
    await welcomed(tab);
    await tab.next(recoveryOf(ALICE), 'recovery');
    await server.manager.sendToUser('alice', { n: 7n });
    await waitFor(() => tab.messages(ALICE).length === 1, 5_000, 'the message');
    expect(tab.messages(ALICE)[0]!.data).toEqual({ n: 7 });
    const notJson = await startServer({ serialize: () => 'not json', sessions: { ttlMs: 5_000 } });
    cleanup(() => notJson.stop());
    const result = await notJson.manager.publish(ROOM, { a: 1 });
    expect(result).toMatchObject({ ok: false });
    expect(result.error?.message).toContain('not JSON');
  });

  it('a frame nested deeper than JSON.stringify goes, in any member, closes its connection with 4400 and the server serves the next', async () => {
    const server = await start({ sessions: { ttlMs: 5_000 } });
    const deep = `${'['.repeat(6_000)}${']'.repeat(6_000)}`;
    for (const frame of [`{"type":${deep}}`, `{"type":"hello","session":${deep}}`, `{"type":"hello","client":{"a":${deep}}}`, `{"type":"hello","topics":{"t":${deep}}}`]) {
      const hostile = await openSessionClient(server.port, 'mallory');
      hostile.ws.send(frame);
      expect((await hostile.closed).code).toBe(4400);
    }
    const next = await openSessionClient(server.port, 'alice');
    expect(await welcomed(next)).toMatchObject({ resumed: false });
  });

  it('a member added while a publish is stored but not yet delivered here does not get it: membership begins where the store stands', async () => {
    const memory = new MemoryTopicStore();
    let release: (() => void) | undefined;
    const store = storeOver(memory, {
      // Stored at once, answered later: the message is in the store before this process delivers it.
      append: (topic, payload) => {
        const position = memory.append(topic, payload);
        return topic === ROOM && release === undefined ? new Promise((resolve) => (release = () => resolve(position))) : position;
      }
    });
    const server = await start({ sessions: { ttlMs: 5_000, store } });
    server.manager.subscribe('bob', ROOM);
    const bob = await openSessionClient(server.port, 'bob');
    await welcomed(bob);
    const tab = await openSessionClient(server.port, 'alice');
    await welcomed(tab);
    const published = server.manager.publish(ROOM, { before: 'alice joined' });
    await waitFor(() => release !== undefined, 5_000, 'the message stored');
    server.manager.subscribe('alice', ROOM);
    expect(await tab.next(recoveryOf(ROOM), 'the room starts')).toMatchObject({ recovered: false, reason: 'new_topic', offset: 1 });
    release!();
    await published;
    await waitFor(() => bob.messages(ROOM).length === 1, 5_000, 'bob gets it');
    await server.manager.publish(ROOM, { after: 'alice joined' });
    await waitFor(() => tab.messages(ROOM).length > 0, 5_000, 'what follows');
    expect(tab.messages(ROOM)).toEqual([{ offset: 2, data: { after: 'alice joined' } }]);
  });

  it('a topic nobody holds keeps nothing in a store of this process', async () => {
    const store = new MemoryTopicStore();
    const server = await start({ sessions: { ttlMs: 5_000, store } });
    for (let n = 0; n < 3; n++) expect(await server.manager.publish('room:empty', { n })).toMatchObject({ ok: true });
    expect(store.size).toBe(0);
    expect(store.bytes).toBe(0);
  });

  /** A store whose session records answer `get` only when the test says: the shared store is being asked about a token. */
  function askedStore(): { store: TopicStore; asked: () => boolean; answer: () => void } {
    let answer: (() => void) | undefined;
    const memory = new MemoryTopicStore();
    const records: SessionRecords = {
      create: () => Promise.resolve(),
      get: () => new Promise((resolve) => (answer = () => resolve({ userId: 'alice' }))),
      touch: () => Promise.resolve(),
      acceptSend: () => Promise.resolve('deliver'),
      delivered: () => Promise.resolve()
    };
    const store = storeOver(memory, { sessions: records });
    return { store, asked: () => answer !== undefined, answer: () => answer!() };
  }

  /** A server on {@link askedStore}, what its application is handed, and a tab of alice's, open, not yet said hello. */
  async function askedSetup(sessions: { maxFramesPerSecond?: number } = {}) {
    const { store, asked, answer } = askedStore();
    const server = await start({ sessions: { ttlMs: 5_000, store, ...sessions } });
    const delivered: unknown[] = [];
    server.manager.on('sessionMessage', (_connection, data) => delivered.push(data));
    const tab = await openSessionClient(server.port, 'alice');
    return { tab, delivered, asked, answer };
  }

  it('frames sent right after the hello, while the shared store is asked about the token, are handled after the welcome, in order', async () => {
    const { tab, delivered, asked, answer } = await askedSetup();
    tab.hello('a-token-made-by-another-node', undefined, 'tab');
    tab.ws.send(JSON.stringify({ type: 'send', id: 1, data: 'first' }));
    tab.ws.send(JSON.stringify({ type: 'ping' }));
    tab.ws.send(JSON.stringify({ type: 'send', id: 2, data: 'second' }));
    await waitFor(asked, 5_000, 'the record asked for');
    answer();
    await waitFor(() => delivered.length === 2, 5_000, 'both sends');
    expect(delivered).toEqual(['first', 'second']);
    // The acks in order of the sends (section 6.4), the pong whenever it is ready.
    expect(tab.frames[0]).toMatchObject({ type: 'welcome', resumed: true });
    expect(tab.frames.filter((frame) => frame.type === 'ack')).toEqual([{ type: 'ack', id: 1 }, { type: 'ack', id: 2 }]);
    expect(tab.frames.filter((frame) => frame.type === 'pong')).toHaveLength(1);
  });

  /** A hello naming a token another node made, and sends 1..count after it, in one TCP write: one read brings them all. */
  function helloWithSends(tab: SessionTestClient, count: number): void {
    const tcp = (tab.ws as unknown as { _socket: Socket })._socket;
    tcp.cork();
    tab.hello('a-token-made-by-another-node', undefined, 'tab');
    for (let id = 1; id <= count; id++) tab.ws.send(JSON.stringify({ type: 'send', id, data: id }));
    tcp.uncork();
  }

  it('a thousand sends pipelined after the hello in one write are all handled after the welcome: reading paused at the hello, so what one read brought is kept, not refused', async () => {
    const { tab, delivered, asked, answer } = await askedSetup({ maxFramesPerSecond: 0 });
    helloWithSends(tab, 1_000);
    await waitFor(asked, 5_000, 'the record asked for');
    answer();
    const acks = (): number => tab.frames.filter((frame) => frame.type === 'ack').length;
    await waitFor(() => acks() === 1_000 || tab.frames.some((frame) => frame.type === 'error'), 10_000, 'an ack for every send');
    expect(tab.frames.filter((frame) => frame.type === 'error')).toEqual([]);
    expect(delivered).toEqual(Array.from({ length: 1_000 }, (_, i) => i + 1));
    expect(tab.frames[0]).toMatchObject({ type: 'welcome', resumed: true });
    expect(tab.frames.filter((frame) => frame.type === 'ack').map((frame) => (frame as { id: number }).id)).toEqual(delivered);
  });

  it('frames kept while the hello is answered count once against maxFramesPerSecond, when they came, not again after the welcome', async () => {
    const { tab, asked, answer } = await askedSetup({ maxFramesPerSecond: 100 });
    helloWithSends(tab, 80);
    await waitFor(asked, 5_000, 'the record asked for');
    const answeredAt = Date.now();
    answer();
    const acks = (): number => tab.frames.filter((frame) => frame.type === 'ack').length;
    await waitFor(() => acks() === 80, 5_000, 'an ack for every send');
    // 81 frames in the second are within 100; counted twice (161), those past 100 waited for the next second.
    expect(Date.now() - answeredAt).toBeLessThan(500);
  });

  it('a connection refused while its hello is answered gets nothing more handled: the answer does not join it, and what it sent after the hello is not delivered', async () => {
    const { tab, delivered, asked, answer } = await askedSetup();
    tab.hello('a-token-made-by-another-node', undefined, 'tab');
    for (let id = 1; id <= 5; id++) tab.ws.send(JSON.stringify({ type: 'send', id, data: id }));
    tab.ws.send(Buffer.from('binary'));
    await waitFor(() => tab.frames.length > 0, 5_000, 'the refusal');
    // The store answers after the refusal, before the connection has closed.
    await waitFor(asked, 5_000, 'the record asked for');
    answer();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(delivered).toEqual([]);
    expect((await tab.closed).code).toBe(4400);
    expect(tab.frames.map((frame) => frame.type)).toEqual(['error']);
  });

  it('frames past maxFramesPerSecond wait for the next second, even when one read holds them all, and none is dropped', async () => {
    const server = await start({ sessions: { ttlMs: 5_000, maxFramesPerSecond: 100 } });
    const tab = await openSessionClient(server.port, 'alice');
    await welcomed(tab);
    const pongs: number[] = [];
    tab.ws.on('message', (data) => {
      if ((JSON.parse(data.toString()) as { type: string }).type === 'pong') pongs.push(performance.now());
    });
    const started = performance.now();
    // Written in one turn: the server reads them in one or two reads.
    for (let i = 0; i < 300; i++) tab.ws.send(JSON.stringify({ type: 'ping' }));
    await waitFor(() => pongs.length === 300, 10_000, 'every ping answered');
    // The window is the server's: at most 100 answered before the first second is over, and the rest later, not dropped.
    expect(pongs.filter((at) => at - started < 900).length).toBeLessThanOrEqual(100);
    expect(pongs.at(-1)! - started).toBeGreaterThan(1_500);
  });

  it('a reader slower than its socket still gets an ack for every send and a pong for every ping, once it reads: control frames are not refused for backpressure, and what it sent waits unread meanwhile', async () => {
    const server = await start({ maxBufferedBytes: 16 << 10, sessions: { ttlMs: 5_000 } });
    const delivered: unknown[] = [];
    server.manager.on('sessionMessage', (_connection, data) => delivered.push(data));
    const tab = await openSessionClient(server.port, 'alice');
    await welcomed(tab, undefined, undefined, 'tab');
    await tab.next(recoveryOf(ALICE), 'recovery');
    stallClient(tab.ws);
    const text = 'z'.repeat(16 << 10);
    const published = [];
    // Past what the kernel's buffers hold: the socket's own queue fills up.
    for (let n = 1; n <= 1_000; n++) published.push(server.manager.sendToUser('alice', { n, text }));
    await waitFor(() => server.manager.connectionsOf('alice')[0]!.socket.bufferedAmount >= 16 << 10, 5_000, 'the socket full');
    // The tab, not reading, still writes.
    for (let id = 1; id <= 5; id++) tab.ws.send(JSON.stringify({ type: 'send', id, data: `s${id}` }));
    tab.ws.send(JSON.stringify({ type: 'ping' }));
    // Not read while its own send buffer is at the limit (each send and ping asks for a reply): nothing is dropped, it waits.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(delivered).toEqual([]);
    (tab.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    await waitFor(() => delivered.length === 5, 10_000, 'the sends delivered once the tab reads');
    await Promise.all(published);
    await waitFor(() => tab.frames.filter((frame) => frame.type === 'pong').length === 1, 10_000, 'the pong');
    expect(tab.frames.filter((frame) => frame.type === 'ack').map((frame) => (frame as { id: number }).id)).toEqual([1, 2, 3, 4, 5]);
    expect(tab.frames.filter((frame) => frame.type === 'pong')).toHaveLength(1);
    expect(contiguity(tab.frames, ALICE).breaks).toEqual([]);
  });
});
