/**
 * The server suite's cases of connecting and of topics (#24): the
 * handshake, the hello timeout, first connections, the greeting, frames
 * sent before the welcome, resumes (a publisher racing the replay, a slow
 * reader, trimmed, epoch changes live and at a resume, future offsets) and
 * rooms left and joined again. Each names the sections of
 * docs/protocol.md it checks; every frame also goes through the checker.
 */
import { SESSION_PROTOCOL } from '../../protocol/session-protocol.js';
import { BROADCAST_TOPIC, userTopic } from '../../sessions/rooms.js';
import type { RawSessionClient } from './raw-client.js';
import type { Position } from './records.js';
import { TEXT, framesOf, framesOfType, opened, type ServerContext } from './server-context.js';
import { show } from './sent.js';
import { sleep, until, type SuiteCase, type Verdict } from './suite.js';

/** The one recovery of `topic` on the client's current connection (a breach of the case when there is not exactly one). */
function recoveryOf(v: Verdict, client: RawSessionClient, topic: string): Record<string, unknown> | undefined {
  const recoveries = framesOfType(client.current, 'recovery', topic);
  v.must(recoveries.length >= 1, `no recovery of ${show(topic)} on ${client.current?.id ?? client.name} (4.2)`);
  return recoveries[0];
}

function at(frame: Record<string, unknown> | undefined): string {
  return frame === undefined ? 'none' : `recovered: ${show(frame.recovered)}, reason ${show(frame.reason)}, at ${show(frame.epoch)}:${show(frame.offset)}`;
}

/** What a resume case gets back: the client, its topic, the recovery of the resume, and what happened while it was away. */
interface Resumed<T> {
  client: RawSessionClient;
  topic: string;
  recovery: Record<string, unknown> | undefined;
  meanwhile: T;
}

/**
 * A user's client gets two messages, goes away while `meanwhile` runs
 * (given the topic, where the client stood, and the client), and resumes.
 */
type Meanwhile<T> = (topic: string, cursor: Position, client: RawSessionClient) => Promise<T>;
async function resumeAfter<T>(ctx: ServerContext, v: Verdict, meanwhile: Meanwhile<T>): Promise<Resumed<T>> {
  const user = ctx.name('u');
  const topic = userTopic(user);
  const client = await ctx.connected(user);
  const cursor = await ctx.publishTo(client, topic, 2);
  await ctx.away(client);
  const value = await meanwhile(topic, cursor, client);
  client.connect();
  await ctx.welcomed(client, 'the welcome of the resume');
  await ctx.settle();
  return { client, topic, recovery: recoveryOf(v, client, topic), meanwhile: value };
}

/** The stream goes on after a recovery: the next message reaches the client, and the case ends. */
async function goesOn(ctx: ServerContext, { client, topic }: Resumed<unknown>): Promise<void> {
  await ctx.publishTo(client, topic, 1);
  await ctx.finish([client]);
}

export const SERVER_CASES: ReadonlyArray<SuiteCase<ServerContext>> = [
  {
    name: 'handshake',
    title: 'the 101 selects ws-lifecycle.v1; the welcome: version 1, the own topics, limits; a recovery per topic (1.1, 4.1, 4.2, 6.1, 8.3)',
    timeoutMs: 10_000,
    async run(ctx, v) {
      const user = ctx.name('u');
      const socket = ctx.socket(user);
      await opened(socket);
      v.must(socket.protocol === SESSION_PROTOCOL, `the 101 selected ${show(socket.protocol)}, not ${SESSION_PROTOCOL} (1.1)`);
      socket.close(1000);
      const client = await ctx.connected(user);
      await ctx.settle();
      const welcome = framesOfType(client.current, 'welcome')[0] ?? {};
      v.must(welcome.version === 1, `welcome.version is ${show(welcome.version)}, not 1 (4.1, 9)`);
      const topics = Array.isArray(welcome.topics) ? (welcome.topics as unknown[]) : [];
      for (const topic of [userTopic(user), BROADCAST_TOPIC]) v.must(topics.includes(topic), `welcome.topics lacks ${show(topic)} (10)`);
      for (const topic of topics) {
        const recoveries = framesOfType(client.current, 'recovery', topic as string);
        v.must(recoveries.length === 1, `${recoveries.length} recoveries of ${show(topic)} after the welcome: one was due (4.2)`);
      }
      await ctx.finish([client]);
    }
  },
  {
    name: 'hello-timeout',
    title: 'a connection that says no hello is closed with 4408 after the hello timeout, having been sent nothing (1.4)',
    timeoutMs: 20_000,
    async run(ctx, v) {
      if (ctx.helloTimeoutMs > 15_000) return v.skip(`the hello timeout is ${ctx.helloTimeoutMs} ms, longer than the suite waits`);
      const client = ctx.client(ctx.name('u'), { holdHello: true }).connect();
      await until(() => client.socketOpen || client.current?.close !== undefined, 5_000, 'the upgrade');
      const openedAt = Date.now();
      const code = await ctx.closed(client, ctx.helloTimeoutMs + 5_000);
      const elapsed = Date.now() - openedAt;
      v.must(code === 4408, `closed with ${code}: 4408 was due (1.4, 7)`);
      v.must(elapsed >= ctx.helloTimeoutMs - 100, `closed ${elapsed} ms after the upgrade, before the hello timeout of ${ctx.helloTimeoutMs} ms (1.4)`);
      v.should(elapsed <= ctx.helloTimeoutMs + 1_500, `closed ${elapsed} ms after the upgrade, long after the hello timeout of ${ctx.helloTimeoutMs} ms (1.4)`);
      v.must(client.current!.received.length === 0, `${client.current!.received.length} frames were sent before any hello (1.4)`);
      await ctx.check();
    }
  },
  {
    name: 'first-connection',
    title: 'a new session (no token, or one never issued): resumed false, a new token, recovered: false unknown_session at where each topic stands, the rooms included (4.1, 4.2, 10)',
    timeoutMs: 10_000,
    async run(ctx, v) {
      const user = ctx.name('u');
      const room = ctx.name('room');
      await ctx.join(user, room);
      await ctx.control.publish(room, 2);
      const topics = [userTopic(user), BROADCAST_TOPIC, room];
      const before = await Promise.all(topics.map((topic) => ctx.control.position(topic)));
      const token = 'A'.repeat(32);
      const fresh = await ctx.connected(user);
      const lied = await ctx.connected(user, { session: token, cursors: { [room]: { epoch: 'not-an-epoch', offset: 5 } } });
      await ctx.settle();
      for (const client of [fresh, lied]) {
        const welcome = framesOfType(client.current, 'welcome')[0] ?? {};
        v.must(welcome.resumed === false, `${client.current!.id}: welcome.resumed is ${show(welcome.resumed)} for a session the server never issued (4.1)`);
        v.must(typeof welcome.session === 'string' && welcome.session !== token, `${client.current!.id}: the welcome's token ${show(welcome.session)} is not a new one (4.1)`);
        topics.forEach((topic, i) => {
          const recovery = recoveryOf(v, client, topic);
          const ok = recovery?.recovered === false && recovery.reason === 'unknown_session' && recovery.epoch === before[i]!.epoch && recovery.offset === before[i]!.offset;
          v.must(ok, `${client.current!.id}: recovery of ${show(topic)}: ${at(recovery)}; recovered: false, unknown_session at ${before[i]!.epoch}:${before[i]!.offset} was due (4.2)`);
        });
      }
      const last = await ctx.control.publish(userTopic(user), 1);
      await Promise.all([ctx.reaches(fresh, userTopic(user), last), ctx.reaches(lied, userTopic(user), last)]);
      await ctx.finish([fresh, lied]);
    }
  },
  {
    name: 'greeting',
    title: 'a message published between the upgrade and the hello is delivered: the stream starts where the topic stood at the upgrade (10)',
    timeoutMs: 10_000,
    async run(ctx, v) {
      const user = ctx.name('u');
      const topic = userTopic(user);
      const client = ctx.client(user, { holdHello: true }).connect();
      await until(() => client.socketOpen, 5_000, 'the upgrade');
      const before = await ctx.control.position(topic);
      const greeting = await ctx.control.publish(topic, 1, { data: { greeting: TEXT } });
      client.hello();
      await ctx.welcomed(client);
      await ctx.settle();
      const recovery = recoveryOf(v, client, topic);
      v.must(recovery?.offset === before.offset && recovery.epoch === before.epoch, `recovery of ${show(topic)}: ${at(recovery)}; where the topic stood at the upgrade, ${before.epoch}:${before.offset}, was due (10)`);
      const delivered = framesOfType(client.current, 'message', topic).some((m) => m.epoch === greeting.epoch && m.offset === greeting.offset);
      v.must(delivered, `the greeting ${greeting.epoch}:${greeting.offset}, published after the upgrade and before the hello, never came (10)`);
      await ctx.finish([client]);
    }
  },
  {
    name: 'early-frames',
    title: 'send and ping right after the hello, before the welcome: the welcome comes first, then the ack and the pongs (1.4, 3.4, 6.1)',
    timeoutMs: 10_000,
    async run(ctx, v) {
      const client = ctx.client(ctx.name('u'), { holdHello: true }).connect();
      await until(() => client.socketOpen, 5_000, 'the upgrade');
      client.hello();
      client.sendRaw({ type: 'send', id: 1, data: { early: TEXT } });
      client.ping();
      client.ping();
      await ctx.welcomed(client);
      await until(() => framesOfType(client.current, 'ack').length >= 1 && framesOfType(client.current, 'pong').length >= 2, 5_000, 'the ack and two pongs');
      v.must(framesOf(client.current)[0]?.type === 'welcome', 'the first frame is not the welcome (6.1)');
      await ctx.finish([client], { deliveries: true });
    }
  },
  {
    name: 'resume-race',
    title: 'a resume while a publisher races the replay (before the hello and during it): recovered: true from the cursor, every message once, in order, then replayed (4.2, 6.2)',
    timeoutMs: 15_000,
    async run(ctx, v) {
      const user = ctx.name('u');
      const topic = userTopic(user);
      const client = ctx.client(user, { holdHello: true }).connect();
      await until(() => client.socketOpen, 5_000, 'the upgrade');
      client.hello();
      await ctx.welcomed(client);
      const cursor = await ctx.publishTo(client, topic, 3);
      await ctx.away(client);
      await ctx.control.publish(topic, 5);
      client.connect();
      await until(() => client.socketOpen, 5_000, 'the second upgrade');
      // Published while the hello is held: the server has them for this connection before it knows the cursor.
      await ctx.control.publish(topic, 5);
      client.hello();
      const last = await ctx.control.publish(topic, 20);
      await ctx.welcomed(client, 'the welcome of the resume');
      await ctx.reaches(client, topic, last).catch((error: Error) => v.must(false, error.message));
      const recovery = recoveryOf(v, client, topic);
      v.must(recovery?.recovered === true && recovery.epoch === cursor.epoch && recovery.offset === cursor.offset, `recovery of the resume: ${at(recovery)}; recovered: true at the cursor ${cursor.epoch}:${cursor.offset} was due (4.2)`);
      await ctx.finish([client]);
    }
  },
  {
    name: 'slow-reader',
    title: 'a reader that stops reading during a flood of 5 MiB gets every message in order, or a recovery where history is gone: never a silent gap (6.2, 10)',
    timeoutMs: 30_000,
    async run(ctx, v) {
      const user = ctx.name('u');
      const topic = userTopic(user);
      const client = await ctx.connected(user);
      // Slow, not stopped: it reads a little now and then, so it still answers the server's pings (8.1).
      let flooding = true;
      const flood = ctx.control.publish(topic, 640, { bytes: 8 * 1024 }).finally(() => (flooding = false));
      for (let round = 0; flooding && round < 400; round++) {
        client.pause();
        await sleep(60);
        client.resume();
        await sleep(15);
      }
      await flood;
      await ctx.settle(200);
      // One more once it reads again: a gap at the flood's end shows as this message arriving past it.
      const last = await ctx.control.publish(topic, 1);
      // Reached or not, every frame goes through the checker: a silent gap is named there.
      await ctx.reaches(client, topic, last, 20_000).catch((error: Error) => v.must(false, error.message));
      const lost = framesOfType(client.current, 'recovery', topic).filter((frame) => frame.recovered === false && frame.reason === 'trimmed').length;
      v.note(`${framesOfType(client.current, 'message', topic).length} of 641 messages came; ${lost} trimmed recoveries`);
      await ctx.finish([client]);
    }
  },
  {
    name: 'trimmed',
    title: 'a resume from a cursor whose history was trimmed: recovered: false trimmed, the stream goes on after its offset (4.2, 5.3)',
    timeoutMs: 10_000,
    async run(ctx, v) {
      const resumed = await resumeAfter(ctx, v, async (topic) => {
        await ctx.control.publish(topic, 3);
        const trimmed = await ctx.control.trim(topic);
        return { trimmed, after: await ctx.control.publish(topic, 1) };
      });
      const { recovery, meanwhile: { trimmed, after } } = resumed;
      const ok = recovery?.recovered === false && recovery.reason === 'trimmed' && recovery.epoch === trimmed.epoch;
      const offset = recovery?.offset as number;
      v.must(ok && offset >= trimmed.offset && offset <= after.offset, `recovery: ${at(recovery)}; recovered: false, trimmed, at ${trimmed.offset} to ${after.offset} of ${trimmed.epoch} was due (4.2)`);
      await goesOn(ctx, resumed);
    }
  },
  {
    name: 'epoch-live',
    title: "a topic's history lost while connected: recovered: false epoch_changed at offset 0 of the new epoch, then its messages (4.2, 6.2)",
    timeoutMs: 10_000,
    async run(ctx, v) {
      const user = ctx.name('u');
      const topic = userTopic(user);
      const client = await ctx.connected(user);
      await ctx.publishTo(client, topic, 2);
      const lost = await ctx.control.lose(topic);
      await ctx.publishTo(client, topic, 2);
      const recovery = framesOfType(client.current, 'recovery', topic).find((frame) => frame.reason === 'epoch_changed');
      v.must(recovery?.recovered === false && recovery.epoch === lost.epoch && recovery.offset === 0, `recovery after the loss: ${at(recovery)}; recovered: false, epoch_changed at ${lost.epoch}:0 was due (4.2)`);
      await ctx.finish([client]);
    }
  },
  {
    name: 'epoch-resume',
    title: "a resume after the topic's history was lost: recovered: false epoch_changed in the new epoch (4.2, 5.3)",
    timeoutMs: 10_000,
    async run(ctx, v) {
      const resumed = await resumeAfter(ctx, v, async (topic) => {
        const lost = await ctx.control.lose(topic);
        return { lost, after: await ctx.control.publish(topic, 1) };
      });
      const { recovery, meanwhile: { lost, after } } = resumed;
      const ok = recovery?.recovered === false && recovery.reason === 'epoch_changed' && recovery.epoch === lost.epoch;
      v.must(ok && (recovery.offset as number) <= after.offset, `recovery: ${at(recovery)}; recovered: false, epoch_changed in ${lost.epoch}, at most at ${after.offset}, was due (4.2)`);
      await goesOn(ctx, resumed);
    }
  },
  {
    name: 'future-offset',
    title: 'a resume from a cursor ahead of the topic: recovered: false future_offset where the topic stands; the next message is its offset + 1 (4.2, 5.3)',
    timeoutMs: 10_000,
    async run(ctx, v) {
      const resumed = await resumeAfter(ctx, v, (topic, cursor, client) => {
        client.setCursor(topic, { epoch: cursor.epoch, offset: cursor.offset + 1_000 });
        return Promise.resolve(cursor);
      });
      const { recovery, meanwhile: cursor } = resumed;
      v.must(recovery?.recovered === false && recovery.reason === 'future_offset' && recovery.epoch === cursor.epoch && recovery.offset === cursor.offset, `recovery: ${at(recovery)}; recovered: false, future_offset at ${cursor.epoch}:${cursor.offset} was due (4.2)`);
      await goesOn(ctx, resumed);
    }
  },
  {
    name: 'unsubscribed',
    title: 'a room left: unsubscribed, nothing more of it; a hello naming it (or rooms never joined) is not refused and follows none; joined again: new_topic live, membership at a resume from before, or from another epoch (3.1, 4.2, 4.4, 10)',
    timeoutMs: 15_000,
    async run(ctx, v) {
      const user = ctx.name('u');
      const room = ctx.name('room');
      const never = ctx.name('never');
      // A bystander's session holds the room while the user is out of it: a store of one process keeps no history of a topic nobody holds (10).
      const bystander = ctx.name('bystander');
      await ctx.join(bystander, room);
      const holder = await ctx.connected(bystander);
      await ctx.join(user, room);
      const client = await ctx.connected(user, { keepAllCursors: true });
      v.must((framesOfType(client.current, 'welcome')[0]?.topics as unknown[] | undefined)?.includes(room) === true, 'welcome.topics lacks the room the user is in (4.1, 10)');
      const cursor = await ctx.publishTo(client, room, 2);
      await ctx.leave(user, room);
      await until(() => framesOfType(client.current, 'unsubscribed', room).length > 0, 5_000, `unsubscribed of ${room}`);
      await ctx.control.publish(room, 1);
      client.setCursor(never, { epoch: 'e', offset: 3 });
      client.setCursor(userTopic(ctx.name('other')), { epoch: 'e', offset: 3 });
      await ctx.away(client);
      client.connect();
      await ctx.welcomed(client, 'the welcome of a hello naming rooms the session does not follow');
      await ctx.settle();
      const topics = (framesOfType(client.current, 'welcome')[0]?.topics as unknown[] | undefined) ?? [];
      v.must(!topics.includes(room) && !topics.includes(never), `welcome.topics ${show(topics)} names a room the user is not in (4.1)`);
      v.must(framesOfType(client.current, 'recovery', room).length === 0, 'a recovery of a room the user left (4.4)');
      const from = await ctx.join(user, room);
      await until(() => framesOfType(client.current, 'recovery', room).length > 0, 5_000, `the recovery of ${room} joined again`);
      const live = framesOfType(client.current, 'recovery', room)[0];
      v.must(live?.recovered === false && live.reason === 'new_topic' && live.offset === from.offset, `recovery of the room joined again: ${at(live)}; recovered: false, new_topic at ${from.offset} was due (4.2)`);
      await ctx.publishTo(client, room, 1);
      // A cursor from the first membership: nothing from before the second may come.
      client.setCursor(room, cursor);
      await ctx.away(client);
      client.connect();
      await ctx.welcomed(client);
      await ctx.settle();
      const recovery = recoveryOf(v, client, room);
      v.must(recovery?.recovered === false && recovery.reason === 'membership' && recovery.offset === from.offset, `recovery from a cursor older than the membership: ${at(recovery)}; recovered: false, membership at ${from.offset} was due (4.2)`);
      // A cursor of an epoch the room is not in (made up, or kept from before the store lost it): nothing from before either (10).
      client.setCursor(room, { epoch: ctx.name('made-up-epoch'), offset: 0 });
      await ctx.away(client);
      client.connect();
      await ctx.welcomed(client);
      await ctx.settle();
      const stale = recoveryOf(v, client, room);
      const early = framesOfType(client.current, 'message', room).filter((frame) => frame.epoch === from.epoch && (frame.offset as number) <= from.offset);
      v.must(
        stale?.recovered === false && stale.epoch === from.epoch && (stale.offset as number) >= from.offset && early.length === 0,
        `recovery from a cursor of another epoch: ${at(stale)}, then ${early.length} messages at or below ${from.offset}; nothing from before the membership was due (4.2, 10)`
      );
      await ctx.finish([client, holder]);
    }
  }
];
