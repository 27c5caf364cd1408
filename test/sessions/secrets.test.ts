/**
 * The session token is a bearer secret (#21): whoever shows it resumes the
 * session. It leaves the server in `welcome` and nowhere else: no log line
 * and no audit record holds it, whatever happens to the session (new,
 * dropped, resumed, expired, refused, the store failing), even with the
 * logger at `trace`. And a token binds its session to the user it was made
 * for: an anonymous session's token gives another anonymous connection
 * only what any anonymous connection has (`broadcast`), never a user's.
 */
import fc from 'fast-check';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { sessionIdOf } from '../../src/sessions/session-registry.js';
import { userTopic } from '../../src/sessions/session-hub.js';
import { MemoryTopicStore, type SessionRecords, type TopicStore } from '../../src/sessions/topic-store.js';
import { serverPerTest } from '../support/per-test-server.js';
import { waitFor } from '../support/server.js';
import { isWelcome, openSessionClient, recoveryOf, type SessionTestClient } from '../support/session-client.js';
import { fastCheckSeed } from '../hardening/support/seed.js';

const { start } = serverPerTest();
const SEED = fastCheckSeed('secrets.test.ts');

/** A logger at trace that keeps every line it writes, as text. */
function traceLogger(): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: pino({ level: 'trace' }, { write: (line: string) => void lines.push(line) }), lines };
}

/** A store whose reads and shared records fail while `down` is set. */
function flakyStore(): { store: TopicStore; setDown: (down: boolean) => void } {
  const memory = new MemoryTopicStore();
  let down = false;
  const fail = (): Promise<never> => Promise.reject(new Error('store unreachable'));
  const records: SessionRecords = {
    create: () => (down ? fail() : Promise.resolve()),
    get: () => (down ? fail() : Promise.resolve(undefined)),
    touch: () => (down ? fail() : Promise.resolve()),
    acceptSend: () => (down ? fail() : Promise.resolve('deliver')),
    delivered: () => (down ? fail() : Promise.resolve())
  };
  const store: TopicStore = {
    append: (topic, payload) => (down ? fail() : memory.append(topic, payload)),
    position: (topic) => (down ? fail() : memory.position(topic)),
    readAfter: (topic, epoch, offset) => (down ? fail() : memory.readAfter(topic, epoch, offset)),
    forget: (topic) => memory.forget(topic),
    sessions: records
  };
  return { store, setDown: (value) => (down = value) };
}

async function welcome(client: SessionTestClient, session?: string, topics?: Record<string, { epoch: string; offset: number }>) {
  client.hello(session, topics, 'tab');
  return client.next(isWelcome, 'welcome');
}

describe('the session token', () => {
  it('is in no log line or audit record, at trace, through new, resumed, dropped, refused, expired sessions and store failures', async () => {
    const { logger, lines } = traceLogger();
    const audit = traceLogger();
    const { store, setDown } = flakyStore();
    const server = await start({ logger, audit: audit.logger, sessions: { ttlMs: 200, store } });
    const tokens: string[] = [];

    const first = await openSessionClient(server.port, 'alice');
    const { session } = await welcome(first);
    tokens.push(session);
    const { epoch } = await first.next(recoveryOf(userTopic('alice')), 'recovery');
    first.ws.send(JSON.stringify({ type: 'send', id: 1, data: 'hello' }));
    await first.next((frame): frame is { type: 'ack'; id: number } => frame.type === 'ack', 'ack');
    first.ws.terminate();
    await first.closed;

    // Resumed; then another user shows the token (refused); then a frame that breaks the protocol.
    const again = await openSessionClient(server.port, 'alice');
    expect(await welcome(again, session, { [userTopic('alice')]: { epoch, offset: 0 } })).toMatchObject({ resumed: true });
    const thief = await openSessionClient(server.port, 'mallory');
    thief.hello(session);
    expect((await thief.closed).code).toBe(4403);
    again.ws.send(JSON.stringify({ type: 'send', id: 0, data: session }));
    expect((await again.closed).code).toBe(4400);

    // The store fails: a send is checked again until it answers, a resume is closed with 1013; both logged.
    const third = await openSessionClient(server.port, 'alice');
    await welcome(third, session);
    setDown(true);
    third.ws.send(JSON.stringify({ type: 'send', id: 2, data: 'while down' }));
    await waitFor(() => lines.some((line) => line.includes('checking the send again')), 5_000, 'the send checked again');
    const fourth = await openSessionClient(server.port, 'alice');
    fourth.hello('x'.repeat(32));
    expect((await fourth.closed).code).toBe(1013);
    setDown(false);
    await third.next((frame): frame is { type: 'ack'; id: number } => frame.type === 'ack' && frame.id === 2, 'the ack once the store is back');
    third.ws.terminate();
    await third.closed;

    // Expired: the TTL runs out with nothing attached.
    await waitFor(() => server.manager.sessions === 0, 5_000, 'the session to expire');
    const fifth = await openSessionClient(server.port, 'bob');
    tokens.push((await welcome(fifth)).session);
    await server.stop();

    const everything = [...lines, ...audit.lines];
    expect(everything.length).toBeGreaterThan(20);
    expect(everything.some((line) => line.includes('store unreachable'))).toBe(true);
    for (const token of tokens) {
      expect(everything.filter((line) => line.includes(token) || line.includes(token.slice(0, 16)))).toEqual([]);
      // The session is named in them by its id instead.
      expect(everything.some((line) => line.includes(sessionIdOf(token)))).toBe(true);
    }
  });

  it("binds a session to its user: an anonymous session's token gives another anonymous connection only broadcast, and no user's session", async () => {
    const server = await start({ sessions: { ttlMs: 5_000 } });
    const anonymous = await openSessionClient(server.port, undefined);
    const { session, topics } = await welcome(anonymous);
    expect(topics).toEqual(['broadcast']);
    anonymous.ws.terminate();
    await anonymous.closed;
    const alice = await openSessionClient(server.port, 'alice');
    const { session: aliceToken } = await welcome(alice);

    // Another anonymous connection with the token: the same session, and still only broadcast.
    const finder = await openSessionClient(server.port, undefined);
    expect(await welcome(finder, session)).toMatchObject({ resumed: true, topics: ['broadcast'] });
    // A signed-in user cannot take the anonymous session, and an anonymous connection cannot take a user's.
    const signedIn = await openSessionClient(server.port, 'bob');
    signedIn.hello(session);
    expect((await signedIn.closed).code).toBe(4403);
    const stranger = await openSessionClient(server.port, undefined);
    stranger.hello(aliceToken);
    expect((await stranger.closed).code).toBe(4403);
    expect(stranger.frames.filter((frame) => frame.type !== 'error')).toEqual([]);
  });

  it('a hello that carries it where it does not belong (wrapped, padded, as client, a topic, a cursor, the type) is refused without a piece of it in a log line, an audit record or the close reason', async () => {
    const { logger, lines } = traceLogger();
    const audit = traceLogger();
    const server = await start({ logger, audit: audit.logger, sessions: { ttlMs: 5_000 } });
    const owner = await openSessionClient(server.port, 'alice');
    const { session: token } = await welcome(owner);
    owner.ws.terminate();
    await owner.closed;
    const reasons: string[] = [];
    let run = 0;
    await fc.assert(
      fc.asyncProperty(misplacedToken, async (misplace) => {
        const tab = await openSessionClient(server.port, 'alice');
        tab.ws.send(JSON.stringify(misplace(token, ++run)));
        const { code, reason } = await tab.closed;
        reasons.push(reason);
        expect(code).toBe(4400);
      }),
      { seed: SEED, numRuns: 60 }
    );
    await server.stop();

    // Nothing of the token (9 characters of it in a row are 54 bits), and its refusals there all the same.
    const everything = [...lines, ...audit.lines, ...reasons];
    const pieces = Array.from({ length: token.length - 8 }, (_, i) => token.slice(i, i + 9));
    expect(everything.filter((line) => pieces.some((piece) => line.includes(piece)))).toEqual([]);
    expect(lines.filter((line) => line.includes('session protocol error')).length).toBeGreaterThanOrEqual(60);
  });
});

/** The token inside an array or an object. */
const wrappedToken: fc.Arbitrary<(token: string) => unknown> = fc.constantFrom(
  (token: string) => [token],
  (token: string) => ({ token }),
  (token: string) => [[token]],
  (token: string) => ({ a: { b: token } }),
  (token: string) => [1, token]
);

/** The token padded past the 200 characters a name may have. */
const paddedToken: fc.Arbitrary<(token: string) => string> = fc
  .record({ before: fc.string({ maxLength: 12 }), pad: fc.constantFrom(' ', '.', '=', 'A', '\u00e9', '\u{1F600}'), extra: fc.nat(40) })
  .map(({ before, pad, extra }) => (token: string) => before + token + pad.repeat(201 - token.length + extra));

const holdingToken = fc.oneof(wrappedToken, paddedToken);

/** A hello with the token where it does not belong (`run` makes each room a new one). */
const misplacedToken: fc.Arbitrary<(token: string, run: number) => Record<string, unknown>> = fc.oneof(
  holdingToken.map((hold) => (token: string) => ({ type: 'hello', session: hold(token) })),
  fc.oneof(holdingToken, fc.constantFrom((token: string) => `${token}!`, (token: string) => `.${token}`)).map((hold) => (token: string) => ({ type: 'hello', client: hold(token) })),
  paddedToken.map((hold) => (token: string) => ({ type: 'hello', topics: { [hold(token)]: { epoch: 'e', offset: 0 } } })),
  holdingToken.map((hold) => (token: string) => ({ type: 'hello', topics: { [token]: hold(token) } })),
  holdingToken.map((hold) => (token: string, run: number) => ({ type: 'hello', topics: { [`room:${run}`]: { epoch: hold(token), offset: 0 } } })),
  fc.oneof(holdingToken, fc.constant((token: string) => token)).map((hold) => (token: string) => ({ type: hold(token) }))
);
