/**
 * The cases of the client suite (#24). Each script plays a server, right
 * or wrong on purpose, against a client under test run as a process, and
 * checks what the client does on the wire and what it reports it handed
 * its application. Each names the sections of docs/protocol.md it checks.
 */
import { SESSION_PROTOCOL } from '../../protocol/session-protocol.js';
import type { ClientProcess } from './client-process.js';
import type { ClientContext } from './client-suite.js';
import type { ScriptedConnection, ScriptedRoute } from './scripted-server.js';
import { show } from './sent.js';
import { sleep, until, within, type SuiteCase } from './suite.js';

const T = 'user:conformance';
const B = 'broadcast';
const E = 'epoch-1';
const E2 = 'epoch-2';
const SESSION = 'conformance_session_token_000001';
const TEXT = 'ünï€😀 \u2028 "quoted" \\';
/** How long the suite watches for a reconnect that must not come (after a final close). */
const FINAL_WATCH_MS = 2_000;
/** How long a reconnect that must come may take. */
const RECONNECT_MS = 5_000;

type Frame = Record<string, unknown>;

function recovery(topic: string, recovered: boolean, epoch: string, offset: number, reason?: string): Frame {
  return { type: 'recovery', topic, recovered, epoch, offset, ...(reason === undefined ? {} : { reason }) };
}

function message(topic: string, epoch: string, offset: number, data: unknown = { n: offset, text: TEXT }): Frame {
  return { type: 'message', topic, epoch, offset, data };
}

/** The client's next connection and its hello (1.4; every frame it sent is checked against the schema when the case ends). */
async function nextHello(route: ScriptedRoute, index: number): Promise<{ conn: ScriptedConnection; hello: Frame }> {
  const conn = await route.connection(index, index === 0 ? 10_000 : RECONNECT_MS);
  return { conn, hello: await conn.hello() };
}

/** The cursor a hello names for a topic, as `epoch:offset` (`none` when it names none). */
function cursorIn(hello: Frame, topic: string): string {
  const cursor = (hello.topics as Record<string, { epoch?: unknown; offset?: unknown }> | null | undefined)?.[topic];
  return cursor === undefined || cursor === null ? 'none' : `${String(cursor.epoch)}:${String(cursor.offset)}`;
}

/** Welcome a hello: a session (resumed or new) following `topics`, each told where it starts. */
function open(conn: ScriptedConnection, topics: readonly string[], starts: Readonly<Record<string, Frame>> = {}, resumed = false): void {
  conn.welcome({ session: SESSION, topics: [...topics], resumed });
  for (const topic of topics) conn.send(starts[topic] ?? recovery(topic, false, E, 0, resumed ? 'new_topic' : 'unknown_session'));
}

/** What the client reported of a topic's messages, as `epoch:offset`. */
function delivered(client: ClientProcess, topic: string): string[] {
  return client.of('message', topic).map((e) => `${String(e.epoch)}:${String(e.offset)}`);
}

/** Wait for the client to report a message; only events after the first `since` count (a message may come twice, after a recovery). */
function waitMessage(client: ClientProcess, topic: string, epoch: string, offset: number, since = 0): Promise<unknown> {
  const counted = new Set(client.events.slice(0, since));
  return client.waitFor(`message ${epoch}:${offset} of ${topic}`, (e) => !counted.has(e) && e.event === 'message' && e.topic === topic && e.epoch === epoch && e.offset === offset);
}

/** Close with `code` and return the next connection's hello: a client retries every code but the final ones (7). */
type Reconnect = { conn: ScriptedConnection; hello: Frame; delayMs: number };
async function closeAndReturn(route: ScriptedRoute, conn: ScriptedConnection, index: number, code: number): Promise<Reconnect> {
  conn.closeWith(code, 'conformance');
  const next = await nextHello(route, index);
  // From the close frame's sending to the next upgrade's end: never shorter than the client's own wait.
  return { ...next, delayMs: next.conn.openedAt - conn.closedAt! };
}

/** The final codes the suite sends, and how a server says each: before or after the welcome, with which error. */
const FINALS: ReadonlyArray<{ code: number; welcome: boolean; error?: string }> = [
  { code: 4403, welcome: false, error: 'forbidden' },
  { code: 4400, welcome: true, error: 'malformed' },
  { code: 1008, welcome: true },
  { code: 1009, welcome: true, error: 'too_large' }
];

export const CLIENT_CASES: ReadonlyArray<SuiteCase<ClientContext>> = [
  {
    name: 'handshake',
    title: 'asks for ws-lifecycle.v1; hello first, with a client id and no session; reports recoveries and messages as sent (1.1, 1.4, 3.2, 4.3)',
    timeoutMs: 15_000,
    async run(ctx, v) {
      const { client, route } = ctx.start();
      const { conn, hello } = await nextHello(route, 0);
      v.must(conn.protocols.includes(SESSION_PROTOCOL), `the client asked for ${show(conn.protocols)}, not ${SESSION_PROTOCOL} (1.1)`);
      v.must(hello.session === undefined || hello.session === null, `the first hello names a session, ${show(hello.session)}, that no server gave (3.1)`);
      v.must(typeof hello.client === 'string', 'the hello has no client id: its sends cannot be deduplicated across reconnects (3.2)');
      v.should(typeof hello.client === 'string' && hello.client.length >= 11, `the client id ${show(hello.client)} is too short for 64 random bits (3.2)`);
      open(conn, [T, B]);
      const sent = [{ text: TEXT }, [1, 'ü', null], 'plain'];
      sent.forEach((data, i) => conn.send(message(T, E, i + 1, data)));
      conn.send(message(B, E, 1, null));
      await waitMessage(client, T, E, 3);
      await waitMessage(client, B, E, 1);
      const got = client.of('message', T).map((e) => JSON.stringify(e.data));
      v.must(JSON.stringify(got) === JSON.stringify(sent.map((d) => JSON.stringify(d))), `the messages of ${T} were reported with data ${show(got)}, not as sent (4.3)`);
      v.must(client.of('recovery').length === 2, `${client.of('recovery').length} recoveries reported, not 2 (docs/conformance.md)`);
    }
  },
  {
    name: 'no-subprotocol',
    title: 'a server whose 101 selects no subprotocol: the client says nothing on it and does not try it again (1.2)',
    timeoutMs: 15_000,
    async run(ctx, v) {
      const { client, route } = ctx.start('client', false);
      const first = await route.connection(0, 10_000);
      await sleep(FINAL_WATCH_MS);
      v.must(first.heard.length === 0, `the client sent ${show(first.heard[0]?.text)} on a connection whose 101 selected no subprotocol (1.2)`);
      // A browser's WebSocket fails such a handshake as it fails a dropped network (1006): see docs/conformance.md.
      v.should(route.connections.length === 1, `the client tried the server again ${route.connections.length - 1} times within ${FINAL_WATCH_MS} ms (1.2: it does not speak the protocol)`);
      v.should(client.of('closed').length > 0, 'the client did not report that it stopped (1.2)');
    }
  },
  {
    name: 'cursor-reset',
    title: 'after recovered: false the cursor is the recovery\'s, even when lower (future_offset, epoch_changed): the next messages are delivered, the next hello names it (5.1-5.4)',
    timeoutMs: 20_000,
    async run(ctx, v) {
      const { client, route } = ctx.start();
      let { conn } = await nextHello(route, 0);
      open(conn, [T, B]);
      for (let n = 1; n <= 5; n++) conn.send(message(T, E, n));
      await waitMessage(client, T, E, 5);
      let hello: Frame;
      ({ conn, hello } = await closeAndReturn(route, conn, 1, 1001));
      v.must(hello.session === SESSION, `the hello after a reconnect names session ${show(hello.session)}, not the welcome's (3.1)`);
      v.must(cursorIn(hello, T) === `${E}:5`, `the resume names cursor ${cursorIn(hello, T)} of ${T}; ${E}:5, the last message, was due (5.2)`);
      const since = client.events.length;
      open(conn, [T, B], { [T]: recovery(T, false, E, 2, 'future_offset'), [B]: recovery(B, true, E, 0) }, true);
      conn.send({ type: 'replayed', topic: B, offset: 0 }, message(T, E, 3), message(T, E, 4));
      await waitMessage(client, T, E, 4, since).catch((error: Error) => v.must(false, `${error.message}: messages 3 and 4 after recovered: false at 2 (future_offset) were dropped (5.3)`));
      ({ conn, hello } = await closeAndReturn(route, conn, 2, 1001));
      v.must(cursorIn(hello, T) === `${E}:4`, `after future_offset at 2 and messages 3, 4 the resume names ${cursorIn(hello, T)}; ${E}:4 was due (5.3)`);
      open(conn, [T, B], { [T]: recovery(T, false, E2, 0, 'epoch_changed'), [B]: recovery(B, true, E, 0) }, true);
      conn.send({ type: 'replayed', topic: B, offset: 0 }, message(T, E2, 1));
      await waitMessage(client, T, E2, 1).catch((error: Error) => v.must(false, `${error.message}: the first message of a new epoch was dropped (5.3)`));
      ({ conn, hello } = await closeAndReturn(route, conn, 3, 1001));
      v.must(cursorIn(hello, T) === `${E2}:1`, `after epoch_changed and message ${E2}:1 the resume names ${cursorIn(hello, T)}; ${E2}:1 was due (5.3)`);
      v.must(client.of('recovery', T).filter((e) => e.recovered === false).length === 3, `${client.of('recovery', T).length} recoveries of ${T} reported, 3 were due (docs/conformance.md)`);
    }
  },
  {
    name: 'duplicates',
    title: 'a message at or below the cursor is dropped, live or right after a replay\'s recovery (5.2)',
    timeoutMs: 15_000,
    async run(ctx, v) {
      const { client, route } = ctx.start();
      let { conn } = await nextHello(route, 0);
      open(conn, [T, B]);
      for (const n of [1, 2, 3, 2, 3, 4]) conn.send(message(T, E, n));
      await waitMessage(client, T, E, 4);
      const resumed = await closeAndReturn(route, conn, 1, 1001);
      conn = resumed.conn;
      v.must(cursorIn(resumed.hello, T) === `${E}:4`, `the resume names cursor ${cursorIn(resumed.hello, T)}; ${E}:4 was due (5.2)`);
      open(conn, [T, B], { [T]: recovery(T, true, E, 4), [B]: recovery(B, true, E, 0) }, true);
      conn.send(message(T, E, 4), message(T, E, 5), { type: 'replayed', topic: T, offset: 5 }, { type: 'replayed', topic: B, offset: 0 });
      await waitMessage(client, T, E, 5);
      await sleep(100);
      const got = delivered(client, T);
      v.must(JSON.stringify(got) === JSON.stringify([1, 2, 3, 4, 5].map((n) => `${E}:${n}`)), `the client handed over ${show(got)}: each offset once, in order, was due (5.2)`);
    }
  },
  {
    name: 'gaps',
    title: 'a message past a gap, or of a topic before its recovery: the client closes (1000) and resumes from its cursor rather than skip (5.6)',
    timeoutMs: 20_000,
    async run(ctx, v) {
      const { client, route } = ctx.start();
      let { conn } = await nextHello(route, 0);
      open(conn, [T, B]);
      conn.send(message(T, E, 1), message(T, E, 3));
      const closed = await within(() => conn.close !== undefined, 2_000);
      v.should(closed && conn.close?.by === 'client' && conn.close.code === 1000, `after message 3 where 2 was due the connection was ${closed ? `closed with ${conn.close!.code} by the ${conn.close!.by}` : 'left open'}: a close (1000) and a resume were due (5.6)`);
      if (!closed) conn.closeWith(1001);
      const resumed = await nextHello(route, 1);
      conn = resumed.conn;
      v.should(cursorIn(resumed.hello, T) === `${E}:1`, `the resume after the gap names ${cursorIn(resumed.hello, T)}; ${E}:1, the last before the gap, was due (5.6)`);
      // B is followed but gets no recovery on this connection: a message of it breaks 5.6 too.
      conn.welcome({ session: SESSION, topics: [T, B], resumed: true });
      conn.send(recovery(T, true, E, 1), message(T, E, 2), message(T, E, 3), { type: 'replayed', topic: T, offset: 3 }, message(B, E, 1));
      await waitMessage(client, T, E, 3);
      const second = await within(() => conn.close !== undefined, 2_000);
      v.should(second && conn.close?.by === 'client', `a message of ${B} before its recovery left the connection ${second ? `closed with ${conn.close!.code} by the ${conn.close!.by}` : 'open'}: a close and a resume were due (5.6)`);
      const got = delivered(client, T);
      v.must(new Set(got).size === got.length, `the client handed over an offset twice: ${show(got)} (5.2)`);
      v.should(JSON.stringify(got) === JSON.stringify([1, 2, 3].map((n) => `${E}:${n}`)), `the client handed over ${show(got)}; 1, 2, 3 in order was due (5.6)`);
    }
  },
  {
    name: 'unknown-frames',
    title: 'frame types and members it does not know are ignored, a recovery reason it does not know is any recovered: false (2.3, 4.2, 9)',
    timeoutMs: 15_000,
    async run(ctx, v) {
      const { client, route } = ctx.start();
      const { conn } = await nextHello(route, 0);
      conn.send({ type: 'welcome', session: SESSION, resumed: false, ttlMs: 60_000, heartbeatMs: 0, version: 1, topics: [T], limits: { maxFrameBytes: 1 << 20, maxNameLength: 200, maxInFlight: 64, maxFramesPerSecond: 0 }, future: { x: [1] } });
      conn.send({ type: 'shiny-new', topic: T, offset: 99 }, { ...recovery(T, false, E, 0, 'unknown_session'), hint: 'new member' });
      conn.send({ ...message(T, E, 1), priority: 'high' }, { type: 'another-new' }, recovery(T, false, E, 5, 'reason_from_the_future'), message(T, E, 6));
      await waitMessage(client, T, E, 6).catch((error: Error) => v.must(false, `${error.message} (2.3, 4.2)`));
      v.must(conn.close === undefined, `the client closed the connection (${conn.close?.code ?? ''}) on frames it should ignore (2.3)`);
      const { hello } = await closeAndReturn(route, conn, 1, 1001);
      v.must(cursorIn(hello, T) === `${E}:6`, `after a recovery of an unknown reason at 5 and message 6 the resume names ${cursorIn(hello, T)}; ${E}:6 was due (4.2)`);
      v.must(delivered(client, T).join() === `${E}:1,${E}:6`, `the client handed over ${show(delivered(client, T))}; 1 and 6 were due (2.3)`);
    }
  },
  {
    name: 'close-retry',
    title: 'after 1000, 1001, 1011, 4408, a reserved 4xxx code and a dropped connection the client resumes its session within seconds (7)',
    timeoutMs: 30_000,
    async run(ctx, v) {
      const { route } = ctx.start();
      let { conn } = await nextHello(route, 0);
      open(conn, [T]);
      const codes = [1000, 1001, 1011, 4408, 4999, 1006];
      for (const [i, code] of codes.entries()) {
        if (code === 1006) conn.cut();
        else conn.closeWith(code);
        let hello: Frame;
        try {
          ({ conn, hello } = await nextHello(route, i + 1));
        } catch (error) {
          v.must(false, `after ${code} the client did not resume: ${(error as Error).message} (7)`);
          return;
        }
        v.must(hello.session === SESSION, `the hello after ${code} names session ${show(hello.session)}, not the welcome's (3.1, 7)`);
        open(conn, [T], { [T]: recovery(T, true, E, 0) }, true);
        conn.send({ type: 'replayed', topic: T, offset: 0 });
      }
    }
  },
  {
    name: 'close-slow',
    title: 'after 1012 and 1013 the client waits at least a second before it reconnects (7)',
    timeoutMs: 20_000,
    async run(ctx, v) {
      const { route } = ctx.start();
      let { conn } = await nextHello(route, 0);
      open(conn, [T]);
      for (const [i, code] of [1012, 1013].entries()) {
        let delayMs: number;
        ({ conn, delayMs } = await closeAndReturn(route, conn, i + 1, code));
        v.should(delayMs >= 1_000, `the client reconnected ${delayMs} ms after ${code}; at least 1 s was due (7)`);
        open(conn, [T], { [T]: recovery(T, true, E, 0) }, true);
      }
    }
  },
  {
    name: 'close-final',
    title: 'after 4403 (no welcome), 4400, 1008 and 1009 the client does not reconnect and reports the code (7)',
    timeoutMs: 20_000,
    async run(ctx, v) {
      const runs = FINALS.map((final) => ({ final, ...ctx.start(String(final.code)) }));
      await Promise.all(runs.map(async ({ final, route }) => {
        const { conn } = await nextHello(route, 0);
        if (final.welcome) open(conn, [T]);
        if (final.error !== undefined) conn.send({ type: 'error', code: final.error, message: 'refused by the conformance suite' });
        conn.closeWith(final.code, 'conformance');
      }));
      await sleep(FINAL_WATCH_MS);
      for (const { final, client, route } of runs) {
        v.must(route.connections.length === 1, `after ${final.code} the client connected again ${route.connections.length - 1} times within ${FINAL_WATCH_MS} ms: the code is final (7)`);
        const reported = client.of('closed').map((e) => e.code);
        v.should(reported.includes(final.code), `after ${final.code} the client reported ${reported.length === 0 ? 'no closed event' : `closed ${show(reported)}`} (7: it stops and reports it)`);
      }
    }
  },
  {
    name: 'heartbeat',
    title: 'answers WebSocket pings; a server gone silent is pinged, given up and resumed on a new connection (8.1, 8.2)',
    timeoutMs: 40_000,
    async run(ctx, v) {
      const { route } = ctx.start();
      const { conn } = await nextHello(route, 0);
      v.must(await conn.ping(), 'the client did not answer a WebSocket ping within 2 s (8.1)');
      open(conn, [T]);
      // Silent from now on: no pong, no answer to a ping frame, nothing.
      conn.silent = true;
      const gaveUp = await within(() => route.connections.length > 1, 30_000);
      const pinged = conn.frames('ping').length > 0 || conn.pings > 0;
      v.should(pinged, 'the client never pinged the silent server, with a ping frame or a WebSocket ping (8.2)');
      v.should(gaveUp, 'the client did not give the silent connection up within 30 s (8.2)');
      if (!gaveUp) return;
      const next = await nextHello(route, 1);
      v.must(next.hello.session === SESSION, `the hello after giving up names session ${show(next.hello.session)}, not the welcome's (8.2)`);
      v.note(`pinged with ${conn.frames('ping').length} ping frames and ${conn.pings} WebSocket pings; gave up after ${next.conn.openedAt - conn.openedAt} ms`);
    }
  },
  {
    name: 'resend-order',
    title: 'send ids from 1 up by one; after a welcome the unacknowledged ones go again in id order, with the same client id, before any new one (3.2, 3.3)',
    timeoutMs: 15_000,
    async run(ctx, v) {
      const { client, route } = ctx.start();
      const first = await nextHello(route, 0);
      open(first.conn, [T]);
      for (const data of ['a', 'b', 'c']) client.tell({ do: 'send', data: { data, text: TEXT } });
      await until(() => first.conn.frames('send').length >= 3, 5_000, 'three sends');
      const ids = (conn: ScriptedConnection): unknown[] => conn.frames('send').map((f) => f.id);
      const datas = (conn: ScriptedConnection): unknown[] => conn.frames('send').map((f) => (f.data as { data?: unknown } | undefined)?.data);
      v.must(JSON.stringify(ids(first.conn)) === '[1,2,3]', `the sends have ids ${show(ids(first.conn))}; 1, 2, 3 were due (3.3)`);
      first.conn.send({ type: 'ack', id: 1 });
      const second = await closeAndReturn(route, first.conn, 1, 1001);
      v.must(second.hello.client === first.hello.client, `the hello after a reconnect names client ${show(second.hello.client)}, not ${show(first.hello.client)} (3.2)`);
      client.tell({ do: 'send', data: { data: 'd', text: TEXT } });
      await sleep(100);
      open(second.conn, [T], { [T]: recovery(T, true, E, 0) }, true);
      await until(() => second.conn.frames('send').length >= 3, 5_000, 'the resends and the new send');
      v.must(JSON.stringify(ids(second.conn)) === '[2,3,4]', `after the welcome the sends have ids ${show(ids(second.conn))}; 2 and 3 again, then 4, were due (3.3)`);
      v.must(JSON.stringify(datas(second.conn)) === '["b","c","d"]', `after the welcome the sends carry ${show(datas(second.conn))}; b, c, d were due (3.3)`);
      for (const id of [2, 3, 4]) second.conn.send({ type: 'ack', id });
      client.tell({ do: 'send', data: { data: 'e' } });
      await until(() => second.conn.frames('send').length >= 4, 5_000, 'a send after the acks');
      v.must(ids(second.conn)[3] === 5, `the next new send has id ${show(ids(second.conn)[3])}; 5 was due (3.3)`);
    }
  },
  {
    name: 'drop-topics',
    title: 'the cursors of topics left (unsubscribed) or no longer in welcome.topics are not named again (4.1, 4.4, 5.5)',
    timeoutMs: 15_000,
    async run(ctx, v) {
      const left = 'room:left';
      const dropped = 'room:dropped';
      const { client, route } = ctx.start();
      let { conn } = await nextHello(route, 0);
      open(conn, [T, left, dropped]);
      conn.send(message(left, E, 1), message(dropped, E, 1), { type: 'unsubscribed', topic: left });
      await client.waitFor(`unsubscribed of ${left}`, (e) => e.event === 'unsubscribed' && e.topic === left).catch((error: Error) => v.must(false, `${error.message} (docs/conformance.md)`));
      let hello: Frame;
      ({ conn, hello } = await closeAndReturn(route, conn, 1, 1001));
      v.should(cursorIn(hello, left) === 'none', `the resume names a cursor of ${left}, which the session left (4.4)`);
      v.must(cursorIn(hello, dropped) === `${E}:1`, `the resume names ${cursorIn(hello, dropped)} for ${dropped}; ${E}:1 was due (5.2)`);
      open(conn, [T], { [T]: recovery(T, true, E, 0) }, true);
      conn.send({ type: 'replayed', topic: T, offset: 0 });
      ({ hello } = await closeAndReturn(route, conn, 2, 1001));
      v.should(cursorIn(hello, dropped) === 'none', `the next hello names a cursor of ${dropped}, which the last welcome did not list (4.1, 5.5)`);
    }
  }
];
