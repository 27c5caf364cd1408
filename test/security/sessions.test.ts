/**
 * What a session client may cost and guess (#21): frames past
 * `sessions.maxFramesPerSecond` (default 500) are not read until the second
 * is over, so the connection is slowed, not closed; and a session token
 * cannot be guessed: 192 random bits, never twice the same, and a token
 * nobody was given (one a real one's neighbour) starts a new session and
 * replays nothing.
 */
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { Connection } from '../../src/index.js';
import { SESSION_PROTOCOL } from '../../src/protocol/session-protocol.js';
import { userTopic } from '../../src/sessions/session-hub.js';
import { encodeFrame, openRawWebSocket } from '../hardening/support/raw-client.js';
import { serverPerTest } from '../support/per-test-server.js';
import { waitFor } from '../support/server.js';
import { isWelcome, openSessionClient, recoveryOf, type SessionTestClient } from '../support/session-client.js';

const { start, cleanup } = serverPerTest();

/** Counts the `pong` frames a raw socket receives, whatever the chunks (they are 15 bytes, and may straddle two). */
function countingPongs(socket: Socket): { count: () => number; text: () => string } {
  const pong = Buffer.from('{"type":"pong"}');
  let count = 0;
  let seen = '';
  let tail = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    if (seen.length < 4_096) seen += chunk.toString('latin1');
    const data = Buffer.concat([tail, chunk]);
    for (let at = data.indexOf(pong); at !== -1; at = data.indexOf(pong, at + pong.length)) count++;
    tail = data.subarray(Math.max(0, data.length - pong.length + 1));
  });
  return { count: () => count, text: () => seen };
}

/** Whether the socket drained within `ms`. */
async function drainedWithin(socket: Socket, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const drained = await Promise.race([
    new Promise<boolean>((resolve) => socket.once('drain', () => resolve(true))),
    new Promise<boolean>((resolve) => (timer = setTimeout(resolve, ms, false)))
  ]);
  clearTimeout(timer);
  return drained;
}

async function welcome(client: SessionTestClient, session?: string, topics?: Record<string, { epoch: string; offset: number }>) {
  client.hello(session, topics, 'tab');
  return client.next(isWelcome, 'welcome');
}

describe('a flood of session frames', () => {
  it('past maxFramesPerSecond (default 500) the connection is not read until the second is over: slowed, not closed, nothing dropped', async () => {
    const server = await start({ sessions: { ttlMs: 5_000 } });
    const tab = await openSessionClient(server.port, 'alice');
    await welcome(tab);
    // Ten pings at a time, the next ten once they are answered: little is read ahead, so the pause shows where it falls.
    const answeredAt: number[] = [];
    tab.ws.on('message', (data) => {
      if ((JSON.parse(data.toString()) as { type: string }).type === 'pong') answeredAt.push(Date.now());
    });
    for (let sent = 0; sent < 600; sent += 10) {
      for (let i = 0; i < 10; i++) tab.ws.send('{"type":"ping"}');
      await waitFor(() => answeredAt.length === sent + 10, 5_000, `pong ${sent + 10}`);
    }
    const gaps = answeredAt.slice(1).map((at, i) => at - answeredAt[i]!);
    const longest = Math.max(...gaps);
    // The second opened with the hello (a frame too): its 500 frames end with about the 499th ping, give or take what one read held.
    const pausedAfter = gaps.indexOf(longest) + 1;
    expect(pausedAfter).toBeGreaterThanOrEqual(490);
    expect(pausedAfter).toBeLessThanOrEqual(510);
    expect(longest).toBeGreaterThan(400);
    expect(gaps.filter((gap) => gap > 400)).toHaveLength(1);
    expect(server.manager.connectionsOf('alice')[0]?.state).toBe('connected');
  }, 20_000);
});

describe('a client that asks for replies and does not read them', () => {
  it('is not read while its send buffer is at maxBufferedBytes: pings flooded unread cannot grow it, and every one is answered once it reads', async () => {
    const limit = 64 * 1024;
    // No frame rate, so the flood reaches past what the kernels' buffers take in a moment.
    const server = await start({ maxBufferedBytes: limit, sessions: { ttlMs: 5_000, maxFramesPerSecond: 0 } });
    const accepted = new Promise<Connection>((resolve) => server.manager.once('connection', resolve));
    const raw = await openRawWebSocket(server.port, { target: '/?user=alice', headers: { 'Sec-WebSocket-Protocol': SESSION_PROTOCOL } });
    cleanup(() => raw.socket.destroy());
    const connection = await accepted;
    const pongs = countingPongs(raw.socket);
    raw.write(encodeFrame({ opcode: 0x1, payload: Buffer.from(JSON.stringify({ type: 'hello', client: 'tab' })) }));
    await waitFor(() => pongs.text().includes('"welcome"'), 5_000, 'the welcome');
    raw.socket.pause();

    const chunk = Buffer.concat(Array.from({ length: 5_000 }, () => encodeFrame({ opcode: 0x1, payload: Buffer.from('{"type":"ping"}') })));
    let pings = 0;
    let largest = 0;
    // Until the server stops reading (a write not drained within a second), 300,000 pings at most: 5 MB of pongs unread.
    while (pings < 300_000) {
      const drained = raw.socket.write(chunk) || (await drainedWithin(raw.socket, 1_000));
      pings += 5_000;
      largest = Math.max(largest, connection.socket.bufferedAmount);
      if (!drained) break;
    }
    for (let i = 0; i < 20; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      largest = Math.max(largest, connection.socket.bufferedAmount);
    }
    // One reply past the limit at most: the frame read when it was just below.
    expect(largest).toBeLessThan(limit + 1_024);
    expect(connection.state).toBe('connected');

    raw.socket.resume();
    await waitFor(() => pongs.count() === pings, 30_000, `${pings} pongs`);
    expect(connection.state).toBe('connected');
  }, 60_000);
});

describe('the frame rate a session connection is held to', () => {
  it('is the welcome\'s maxFramesPerSecond alone: maxMessagesPerSecond, for plain connections, neither closes nor slows it', async () => {
    const server = await start({ maxMessagesPerSecond: 100, sessions: { ttlMs: 5_000 } });
    const tab = await openSessionClient(server.port, 'alice');
    expect((await welcome(tab)).limits.maxFramesPerSecond).toBe(500);
    // 200 frames at once: over the plain limit, under the advertised one.
    for (let i = 0; i < 200; i++) tab.ws.send('{"type":"ping"}');
    await waitFor(() => tab.frames.filter((frame) => frame.type === 'pong').length === 200, 5_000, '200 pongs');
    expect(server.manager.connectionsOf('alice')[0]?.state).toBe('connected');

    // A plain connection of the same manager is still closed past maxMessagesPerSecond.
    const { client } = await server.connect('bob');
    for (let i = 0; i < 200; i++) client.ws.send('hi');
    expect((await client.closed).code).toBe(1008);
  });
});

describe("another user's topics and rooms", () => {
  it("a hello that names another user's topic or a room the user is not in follows neither: the server decides the topics", async () => {
    const server = await start({ sessions: { ttlMs: 5_000 } });
    server.manager.subscribe('bob', 'room:board');
    const bob = await openSessionClient(server.port, 'bob');
    await welcome(bob);
    const bobTopic = await bob.next(recoveryOf(userTopic('bob')), 'recovery');
    const room = await bob.next(recoveryOf('room:board'), 'recovery');
    await server.manager.sendToUser('bob', { to: 'bob' });
    await server.manager.publish('room:board', { to: 'the board' });
    await waitFor(() => bob.messages(userTopic('bob')).length === 1 && bob.messages('room:board').length === 1, 5_000, "bob's messages");

    const mallory = await openSessionClient(server.port, 'mallory');
    const welcomed = await welcome(mallory, undefined, {
      [userTopic('bob')]: { epoch: bobTopic.epoch, offset: 0 },
      'room:board': { epoch: room.epoch, offset: 0 }
    });
    expect(welcomed.topics.sort()).toEqual(['broadcast', userTopic('mallory')]);
    await server.manager.sendToUser('bob', { to: 'bob', again: true });
    await server.manager.publish('room:board', { again: true });
    await waitFor(() => bob.messages('room:board').length === 2, 5_000, "bob's second message");
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(mallory.frames.filter((frame) => 'topic' in frame && frame.topic !== 'broadcast' && frame.topic !== userTopic('mallory'))).toEqual([]);
  });
});

describe('the session token', () => {
  it('is 192 random bits: 200 sessions, 200 tokens of 32 base64url characters, none alike', async () => {
    const server = await start({ sessions: { ttlMs: 5_000, maxSessionsPerUser: 1_000 } });
    const tokens = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const tab = await openSessionClient(server.port, `user-${i % 10}`);
      const { session } = await welcome(tab);
      expect(session).toMatch(/^[A-Za-z0-9_-]{32}$/);
      tokens.add(session);
      tab.ws.terminate();
    }
    expect(tokens.size).toBe(200);
    // Not a counter nor a clock: no two share a prefix of 8 characters (48 bits).
    expect(new Set([...tokens].map((token) => token.slice(0, 8))).size).toBe(200);
  });

  it("a guessed token, even a real one's neighbour, resumes nothing: a new session, told unknown_session, no message of the real one", async () => {
    const server = await start({ sessions: { ttlMs: 5_000 } });
    const alice = await openSessionClient(server.port, 'alice');
    const { session } = await welcome(alice);
    const topic = userTopic('alice');
    const { epoch } = await alice.next(recoveryOf(topic), 'recovery');
    await server.manager.sendToUser('alice', { secret: 1 });
    await waitFor(() => alice.messages(topic).length === 1, 5_000, 'the message');
    alice.ws.terminate();
    await alice.closed;

    const last = session.at(-1)!;
    const neighbour = session.slice(0, -1) + (last === 'A' ? 'B' : 'A');
    for (const guess of [neighbour, 'A'.repeat(32)]) {
      const guesser = await openSessionClient(server.port, 'alice');
      const welcomed = await welcome(guesser, guess, { [topic]: { epoch, offset: 0 } });
      expect(welcomed.resumed).toBe(false);
      expect(welcomed.session).not.toBe(session);
      expect(welcomed.session).not.toBe(guess);
      expect(await guesser.next(recoveryOf(topic), 'recovery')).toMatchObject({ recovered: false, reason: 'unknown_session' });
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(guesser.messages(topic)).toEqual([]);
      guesser.ws.terminate();
    }
  });
});
