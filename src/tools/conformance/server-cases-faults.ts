/**
 * The server suite's cases of tokens, bad input, sends and failures (#24):
 * expired and foreign tokens, malformed and unknown frames, unknown members,
 * send ids across reconnects and client instances, the store unavailable,
 * and a silent peer. Each names the sections of docs/protocol.md it
 * checks; every frame also goes through the checker.
 */
import { SESSION_PROTOCOL } from '../../protocol/session-protocol.js';
import { BROADCAST_TOPIC, userTopic } from '../../sessions/rooms.js';
import type { RawSessionClient } from './raw-client.js';
import type { ConnectionRecord } from './records.js';
import { TEXT, describeClose, framesOfType, opened, type ServerContext } from './server-context.js';
import { show } from './sent.js';
import { sleep, until, type SuiteCase, type Verdict } from './suite.js';

/** The recovery reasons of every topic of the welcome on the client's connection, with the topics that had none. */
function unknownSession(v: Verdict, client: RawSessionClient, token: string | undefined): void {
  const welcome = framesOfType(client.current, 'welcome')[0] ?? {};
  v.must(welcome.resumed === false && welcome.session !== token, `${client.current!.id}: welcome resumed ${show(welcome.resumed)} with token ${show(welcome.session)}: a new session was due (4.1)`);
  for (const topic of Array.isArray(welcome.topics) ? (welcome.topics as string[]) : []) {
    const recovery = framesOfType(client.current, 'recovery', topic)[0];
    v.must(recovery?.recovered === false && recovery.reason === 'unknown_session', `${client.current!.id}: recovery of ${show(topic)} is ${show(recovery)}: recovered: false, unknown_session was due (4.2)`);
  }
}

/** Acknowledged sends wait until the server's application was handed `count` of the case's sends. */
async function handedOver(ctx: ServerContext, count: number): Promise<void> {
  const deadline = Date.now() + 5_000;
  let seen = 0;
  while (Date.now() < deadline) {
    seen = (await ctx.control.deliveries(`${ctx.prefix} `)).length;
    if (seen >= count) return;
    await sleep(20);
  }
  throw new Error(`the application was handed ${seen} of the ${count} sends due`);
}

/** One way to break the protocol, and the close codes it must get. */
interface Lie {
  what: string;
  /** Said after a welcome (else as the first frame). */
  afterHello: boolean;
  codes: readonly number[];
  write(client: RawSessionClient): void;
}

const LIES: readonly Lie[] = [
  { what: 'text that is not JSON', afterHello: false, codes: [4400], write: (c) => c.sendRaw('{"type":"hello"') },
  { what: 'a JSON array', afterHello: false, codes: [4400], write: (c) => c.sendRaw('[]') },
  { what: 'an object without type', afterHello: false, codes: [4400], write: (c) => c.sendRaw('{}') },
  { what: 'a frame type the server does not know', afterHello: true, codes: [4400], write: (c) => c.sendRaw({ type: 'subscribe', topic: 'room' }) },
  { what: 'a binary message', afterHello: true, codes: [4400], write: (c) => c.sendRaw(new Uint8Array([1, 2, 3])) },
  { what: 'a hello with topics: 5', afterHello: false, codes: [4400], write: (c) => c.sendRaw({ type: 'hello', topics: 5 }) },
  { what: 'a hello with a cursor at offset -1', afterHello: false, codes: [4400], write: (c) => c.sendRaw({ type: 'hello', topics: { broadcast: { epoch: 'e', offset: -1 } } }) },
  { what: 'a hello with a client id of 65 characters', afterHello: false, codes: [4400], write: (c) => c.sendRaw({ type: 'hello', client: 'a'.repeat(65) }) },
  { what: 'a hello naming a topic with an unpaired surrogate', afterHello: false, codes: [4400], write: (c) => c.sendRaw({ type: 'hello', topics: { 'room:\ud800': { epoch: 'e', offset: 0 } } }) },
  { what: 'a send before the hello', afterHello: false, codes: [4400], write: (c) => c.sendRaw({ type: 'send', id: 1, data: 1 }) },
  { what: 'a second hello', afterHello: true, codes: [4400], write: (c) => c.sendRaw({ type: 'hello' }) },
  { what: 'a send with id 0', afterHello: true, codes: [4400], write: (c) => c.sendRaw({ type: 'send', id: 0, data: 1 }) },
  { what: 'a send with id 1.5', afterHello: true, codes: [4400], write: (c) => c.sendRaw({ type: 'send', id: 1.5, data: 1 }) },
  { what: 'a send id that skips ids (1, then 3)', afterHello: true, codes: [4400], write: (c) => (c.sendRaw({ type: 'send', id: 1, data: 1 }), c.sendRaw({ type: 'send', id: 3, data: 3 })) },
  {
    what: 'a send id below one sent on the connection (2, then 1)',
    afterHello: true,
    codes: [4400],
    write: (c) => (c.sendRaw({ type: 'send', id: 2, data: 2 }), c.sendRaw({ type: 'send', id: 1, data: 1 }))
  },
  { what: 'text that is not UTF-8', afterHello: true, codes: [1007], write: (c) => c.sendTextBytes(new Uint8Array([0x22, 0xff, 0xfe, 0x22])) }
];

export const FAULT_CASES: ReadonlyArray<SuiteCase<ServerContext>> = [
  {
    name: 'expired-token',
    title: 'a hello naming a session never issued, or one expired (after welcome.ttlMs): a new session, unknown_session for every topic (4.1, 4.2)',
    timeoutMs: 15_000,
    async run(ctx, v) {
      const user = ctx.name('u');
      const never = 'N'.repeat(32);
      const stranger = await ctx.connected(user, { session: never });
      const client = await ctx.connected(user);
      await ctx.settle();
      unknownSession(v, stranger, never);
      const ttlMs = framesOfType(client.current, 'welcome')[0]?.ttlMs as number;
      if (ttlMs > 5_000) {
        v.note(`expiry not waited for: welcome.ttlMs is ${ttlMs} ms`);
      } else {
        const token = client.session;
        client.disconnect(1000);
        await ctx.closed(client);
        await sleep(ttlMs + 500);
        client.connect();
        await ctx.welcomed(client, 'the welcome after the session expired');
        await ctx.settle();
        unknownSession(v, client, token);
      }
      await ctx.finish([stranger, client]);
    }
  },
  {
    name: 'foreign-token',
    title: "another user's token, or an anonymous session's by a signed-in user: 4403 and nothing of that session; an anonymous session follows broadcast only, and resumes anonymously (4.5, 7, 10)",
    timeoutMs: 10_000,
    async run(ctx, v) {
      const alice = ctx.name('alice');
      const bob = ctx.name('bob');
      const owner = await ctx.connected(alice);
      await ctx.control.publish(userTopic(alice), 2);
      const anonymous = await ctx.connected(undefined);
      const topics = framesOfType(anonymous.current, 'welcome')[0]?.topics;
      v.must(JSON.stringify(topics) === JSON.stringify([BROADCAST_TOPIC]), `an anonymous session's welcome.topics is ${show(topics)}, not ["broadcast"] (10)`);
      const thieves = [ctx.client(bob, { session: owner.session, cursors: owner.cursors }), ctx.client(bob, { session: anonymous.session })];
      for (const thief of thieves) {
        thief.connect();
        thief.expectClose([4403]);
        const code = await ctx.closed(thief);
        v.must(code === 4403, `a hello with a token of another user's session was ${describeClose(thief.current)}: 4403 was due (7)`);
        v.must(framesOfType(thief.current, 'error')[0]?.code === 'forbidden', `no error forbidden before the 4403 (4.5): ${show(thief.current!.received[0])}`);
      }
      anonymous.disconnect(1000);
      await ctx.closed(anonymous);
      const again = await ctx.connected(undefined, { session: anonymous.session, cursors: anonymous.cursors });
      v.must(framesOfType(again.current, 'welcome')[0]?.resumed === true, 'an anonymous connection showing an anonymous session\'s token did not resume it (10)');
      await ctx.finish([owner, again]);
    }
  },
  {
    name: 'malformed',
    title: 'frames that break the protocol (not JSON, no or an unknown type, binary, bad fields, out of order, skipped or falling send ids, not UTF-8): an error, then 4400 (1007 for bad UTF-8) (2.1-2.3, 3.3, 4.5, 7)',
    timeoutMs: 15_000,
    async run(ctx, v) {
      const user = ctx.name('u');
      await Promise.all(LIES.map(async (lie) => {
        const client = ctx.client(user, { holdHello: true }).connect();
        await until(() => client.socketOpen, 5_000, `the upgrade before ${lie.what}`);
        if (lie.afterHello) {
          client.hello();
          await ctx.welcomed(client, `the welcome before ${lie.what}`);
        }
        client.expectClose(lie.codes);
        lie.write(client);
        const code = await ctx.closed(client);
        v.must(lie.codes.includes(code), `${lie.what}: ${describeClose(client.current)}; ${lie.codes.join(' or ')} was due (7)`);
        if (code === 4400) v.must(framesOfType(client.current, 'error').length === 1, `${lie.what}: closed with 4400 without an error frame just before (4.5)`);
      }));
      await ctx.check();
    }
  },
  {
    name: 'unknown-members',
    title: 'members a server does not know, and null for optional hello fields, are ignored: welcome, acks, pong; a send without data is null (2.2, 2.3, 3)',
    timeoutMs: 10_000,
    async run(ctx, v) {
      const user = ctx.name('u');
      const nulls = ctx.client(user);
      nulls.lieInNextHello({ type: 'hello', client: null, session: null, topics: null });
      const extra = ctx.client(user);
      extra.lieInNextHello({ type: 'hello', client: extra.client, future: { member: [1, 2] } });
      for (const client of [nulls.connect(), extra.connect()]) await ctx.welcomed(client, 'the welcome of a hello with members the server may not know');
      extra.sendRaw({ type: 'send', id: 1, data: { text: TEXT }, future: true });
      extra.sendRaw({ type: 'send', id: 2 });
      extra.sendRaw({ type: 'ping', future: 1 });
      await until(() => framesOfType(extra.current, 'ack').length === 2 && framesOfType(extra.current, 'pong').length === 1, 5_000, 'two acks and a pong');
      await handedOver(ctx, 2);
      const handed = await ctx.control.deliveries(`${ctx.prefix} `);
      v.must(handed.some((d) => d.data === null), `a send without data was handed over as ${show(handed.map((d) => d.data))}, not null (3)`);
      await ctx.finish([nulls, extra], { deliveries: true });
    }
  },
  {
    name: 'sends',
    title: 'send ids per (session, client id): a resend after a reconnect is acknowledged, not delivered again; a new instance numbers from 1; without a client id nothing is deduplicated across connections (3.2, 3.3, 6.4)',
    timeoutMs: 15_000,
    async run(ctx, v) {
      const user = ctx.name('u');
      const first = await ctx.connected(user);
      for (let i = 1; i <= 3; i++) first.send({ from: 'first', i, text: TEXT });
      await until(() => first.pending.length === 0, 5_000, 'acks of three sends');
      first.disconnect(1000);
      await ctx.closed(first);
      first.connect();
      await ctx.welcomed(first, 'the welcome of the reconnect');
      // A resend of an acknowledged id, as after a lost ack: acknowledged again, never delivered again.
      first.sendRaw({ type: 'send', id: 2, data: { from: 'first', i: 2, text: TEXT } });
      first.send({ from: 'first', i: 4, text: TEXT });
      await until(() => first.pending.length === 0 && framesOfType(first.current, 'ack').length === 2, 5_000, 'acks of the resend and the new send');
      const reloaded = first.reload(`${ctx.prefix} reloaded`);
      v.defer(() => reloaded.stop());
      reloaded.connect();
      await ctx.welcomed(reloaded, 'the welcome of a new instance');
      reloaded.send({ from: 'reloaded', i: 1 });
      reloaded.send({ from: 'reloaded', i: 2 });
      await until(() => reloaded.pending.length === 0, 5_000, "acks of the new instance's sends");
      const anonymousSends = await ctx.connected(user, { client: null, session: reloaded.session });
      anonymousSends.sendRaw({ type: 'send', id: 1, data: { from: 'no client id' } });
      await until(() => framesOfType(anonymousSends.current, 'ack').length === 1, 5_000, 'the ack of a send without a client id');
      anonymousSends.disconnect(1000);
      await ctx.closed(anonymousSends);
      anonymousSends.connect();
      await ctx.welcomed(anonymousSends);
      anonymousSends.sendRaw({ type: 'send', id: 1, data: { from: 'no client id' } });
      await until(() => framesOfType(anonymousSends.current, 'ack').length === 1, 5_000, 'the ack of the send again on a new connection');
      await handedOver(ctx, 8);
      await ctx.settle();
      v.must((await ctx.control.deliveries(`${ctx.prefix} `)).length === 8, 'the application was handed more than the 8 sends due (3.3)');
      await ctx.finish([reloaded, anonymousSends], { deliveries: true });
    }
  },
  {
    name: 'store-unavailable',
    title: 'with the store unreachable a resume is closed with 1013 and nothing of its topics; a send is not refused, and acknowledged once the store is back; then the resume recovers (7)',
    timeoutMs: 20_000,
    exclusive: true,
    async run(ctx, v) {
      const user = ctx.name('u');
      const topic = userTopic(user);
      const client = await ctx.connected(user);
      const cursor = await ctx.control.publish(topic, 2);
      await ctx.reaches(client, topic, cursor);
      const sender = await ctx.connected(user);
      client.disconnect(1000);
      await ctx.closed(client);
      await ctx.control.store(false);
      v.defer(() => ctx.control.store(true));
      client.connect();
      const code = await ctx.closed(client, 8_000);
      v.must(code === 1013, `a resume while the store is unreachable was ${describeClose(client.current)}: 1013 was due (7)`);
      const sent = client.current!.received.length;
      v.must(framesOfType(client.current, 'message').length === 0 && framesOfType(client.current, 'recovery').filter((r) => r.recovered === true).length === 0, 'a resume while the store is unreachable was sent messages (7)');
      const welcomes = framesOfType(client.current, 'welcome').length;
      v.must(sent === welcomes && welcomes <= 1, `${sent} frames (${welcomes} welcome) were sent for a hello closed with 1013: at most its welcome was due, nothing of its topics (7)`);
      sender.send({ while: 'the store is away' });
      await sleep(300);
      v.must(sender.current?.close === undefined, `a connection that sent while the store was away was ${describeClose(sender.current)} (7: a send is not refused)`);
      await ctx.control.store(true);
      await until(() => sender.pending.length === 0, 5_000, 'the ack of the send made while the store was away');
      client.connect();
      await ctx.welcomed(client, 'the welcome of the resume once the store is back');
      await ctx.settle();
      const recovery = framesOfType(client.current, 'recovery', topic)[0];
      v.must(recovery?.recovered === true && recovery.offset === cursor.offset, `the resume once the store is back: ${show(recovery)}; recovered: true at ${cursor.offset} was due (4.2)`);
      await ctx.reaches(client, topic, await ctx.control.publish(topic, 1));
      await handedOver(ctx, 1);
      await ctx.finish([client, sender], { deliveries: true });
    }
  },
  {
    name: 'silent-peer',
    title: 'a peer that answers no ping is closed within two heartbeat intervals; one that answers pings but sends nothing stays open (8.1)',
    timeoutMs: 20_000,
    async run(ctx, v) {
      const user = ctx.name('u');
      const silent = ctx.socket(user, { autoPong: false });
      const quiet = ctx.socket(user);
      const [silentRecord, quietRecord] = ctx.records as [ConnectionRecord, ConnectionRecord];
      await Promise.all([opened(silent), opened(quiet)]);
      for (const socket of [silent, quiet]) socket.send(JSON.stringify({ type: 'hello' }));
      await until(() => framesOfType(silentRecord, 'welcome').length > 0 && framesOfType(quietRecord, 'welcome').length > 0, 5_000, 'two welcomes');
      const started = Date.now();
      const heartbeatMs = framesOfType(silentRecord, 'welcome')[0]!.heartbeatMs as number;
      if (heartbeatMs === 0) return v.skip('welcome.heartbeatMs is 0: the server does not ping');
      if (heartbeatMs > 5_000) return v.skip(`welcome.heartbeatMs is ${heartbeatMs} ms, longer than the suite waits`);
      await until(() => silentRecord.close !== undefined, 2 * heartbeatMs + 3_000, 'the close of a peer that answers no ping');
      const elapsed = Date.now() - started;
      v.must(elapsed <= 2 * heartbeatMs + 1_000, `a peer that answered no ping was closed ${elapsed} ms after its welcome; within two intervals of ${heartbeatMs} ms was due (8.1)`);
      await sleep(Math.max(0, started + 3 * heartbeatMs - Date.now()));
      v.must(quietRecord.close === undefined, `a peer that answers pings was ${describeClose(quietRecord)} within three heartbeat intervals (8.1)`);
      v.must(quiet.protocol === SESSION_PROTOCOL, 'the subprotocol was not selected (1.1)');
      await ctx.check();
    }
  }
];
