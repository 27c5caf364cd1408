/**
 * src/sessions/subscription.ts (#20): one connection's place in one topic,
 * over a real feed and store and a connection that records the frames it
 * is given and refuses them on demand (its send buffer full). What the
 * client is told (recovery, replay, replayed), that nothing at or below
 * what it has is written again, that nothing is skipped when the socket
 * refuses a frame or the buffer overflows (the store is read once the
 * socket drained), and what the probe hears.
 */
import { describe, expect, it } from 'vitest';
import type { Connection } from '../../src/core/connection.js';
import { refused, SENT_PROMISE, type SendResult } from '../../src/core/send-result.js';
import type { RecoveryFailure } from '../../src/protocol/session-protocol.js';
import { MAX_BUFFERED_EVENTS, Subscription, type SubscriptionHost } from '../../src/sessions/subscription.js';
import { TopicFeed } from '../../src/sessions/topic-feed.js';
import { MemoryTopicStore, type TopicMessage, type TopicPosition, type TopicRead } from '../../src/sessions/topic-store.js';

const TOPIC = 'room:a';

/**
 * A connection that keeps its frames, short: `recovery:false:REASON:OFFSET`,
 * `recovery:true:OFFSET`, `m:OFFSET`, `replayed:OFFSET`. A refused frame
 * leaves its send buffer full, as a real one is (over maxBufferedBytes,
 * twice the drained mark) until {@link drain}.
 */
class FakeConnection {
  readonly frames: string[] = [];
  state = 'connected';
  readonly socket = { bufferedAmount: 0 };
  /** Frames still to refuse as backpressure. */
  refuse = 0;
  /** Refuse the frame with this number (1 = the first written). */
  refuseNth = 0;
  #count = 0;
  _sendText(text: string): Promise<SendResult> {
    if (this.refuse > 0 || ++this.#count === this.refuseNth) {
      this.refuse = Math.max(0, this.refuse - 1);
      this.socket.bufferedAmount = 200;
      return refused('backpressure');
    }
    type Frame = { type: string; recovered?: boolean; reason?: string; offset: number; topic: string; data?: unknown };
    const frame = JSON.parse(text) as Frame;
    expect(frame.topic).toBe(TOPIC);
    if (frame.type === 'recovery') this.frames.push(frame.recovered ? `recovery:true:${frame.offset}` : `recovery:false:${frame.reason}:${frame.offset}`);
    else if (frame.type === 'message') {
      expect(frame.data).toBe(frame.offset);
      this.frames.push(`m:${frame.offset}`);
    } else this.frames.push(`${frame.type}:${frame.offset}`);
    return SENT_PROMISE;
  }
}

interface Setup {
  store: MemoryTopicStore;
  feed: TopicFeed;
  connection: FakeConnection;
  subscription: Subscription;
  host: SubscriptionHost;
  probe: string[];
  unreachable: unknown[];
  publish(count?: number): Promise<void>;
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
};

async function setup(options: { readAfter?: SubscriptionHost['readAfter']; before?: number; probe?: false } = {}): Promise<Setup> {
  const store = new MemoryTopicStore({ maxEntriesPerTopic: 2 * MAX_BUFFERED_EVENTS });
  const feed = new TopicFeed(TOPIC, store);
  await feed.ready;
  const publish = async (count = 1): Promise<void> => {
    for (let i = 0; i < count; i++) {
      const { epoch, offset } = store.append(TOPIC, String(store.position(TOPIC).offset + 1));
      await feed.accept({ topic: TOPIC, epoch, offset, payload: String(offset) });
    }
  };
  await publish(options.before ?? 0);
  const probe: string[] = [];
  const unreachable: unknown[] = [];
  const connection = new FakeConnection();
  const host: SubscriptionHost = {
    readAfter: options.readAfter ?? ((topic, epoch, offset) => store.readAfter(topic, epoch, offset)),
    drainedBytes: 100,
    unreachable: (conn, topic, error) => {
      expect([conn, topic]).toEqual([connection, TOPIC]);
      unreachable.push(error);
    },
    probe: options.probe === false ? undefined : {
      recovery: (topic: string, result: 'recovered' | RecoveryFailure) => probe.push(`recovery:${topic}:${result}`),
      published: () => probe.push('published'),
      delivered: (message: TopicMessage) => probe.push(`delivered:${message.offset}`)
    }
  };
  const subscription = new Subscription(connection as unknown as Connection, feed, host);
  return { store, feed, connection, subscription, host, probe, unreachable, publish };
}

/** The socket's buffer empties; the subscription looks every 20 ms. */
async function drain(connection: FakeConnection): Promise<void> {
  connection.socket.bufferedAmount = 0;
  await new Promise((resolve) => setTimeout(resolve, 30));
  await settle();
}

const epochOf = (s: Setup): string => s.store.position(TOPIC).epoch;

describe('Subscription', () => {
  it('a topic started now: told where it stands, then written live; the probe hears the recovery and each live delivery', async () => {
    const s = await setup({ before: 2 });
    expect(s.subscription.state).toBe('buffering');
    expect(s.subscription.mark).toBeUndefined();
    s.subscription.start(undefined, 'new_topic', undefined);
    expect(s.subscription.state).toBe('reading');
    await settle();
    expect(s.subscription.state).toBe('live');
    await s.publish(2);
    expect(s.connection.frames).toEqual(['recovery:false:new_topic:2', 'm:3', 'm:4']);
    expect(s.probe).toEqual([`recovery:${TOPIC}:new_topic`, 'delivered:3', 'delivered:4']);
    expect(s.subscription.mark).toEqual({ epoch: epochOf(s), offset: 4 });
    // Started once: a second start changes nothing.
    s.subscription.start({ epoch: epochOf(s), offset: 0 }, 'unknown_session', undefined);
    await settle();
    expect(s.connection.frames).toHaveLength(3);
  });

  it('what came before the start waits, and the start is where the topic stood before the first of it', async () => {
    const s = await setup({ before: 1 });
    await s.publish(2);
    expect(s.connection.frames).toEqual([]);
    s.subscription.start(undefined, 'unknown_session', undefined);
    await settle();
    expect(s.connection.frames).toEqual(['recovery:false:unknown_session:1', 'm:2', 'm:3']);
    // They came live, held only while the position was read: the probe hears them delivered.
    expect(s.probe).toEqual([`recovery:${TOPIC}:unknown_session`, 'delivered:2', 'delivered:3']);
  });

  it('never below the membership: a start under the floor begins at the floor, a floor given as a promise too', async () => {
    const s = await setup({ before: 3 });
    s.subscription.start(undefined, 'new_topic', Promise.resolve({ epoch: epochOf(s), offset: 5 }));
    await settle();
    await s.publish(3);
    expect(s.connection.frames).toEqual(['recovery:false:new_topic:5', 'm:6']);

    // A floor of another epoch, or below where the topic stands, does not move the start.
    for (const floor of [{ epoch: 'other', offset: 9 }, { epoch: epochOf(s), offset: 1 }]) {
      const t = await setup({ before: 3 });
      t.subscription.start(undefined, 'new_topic', { ...floor, epoch: floor.epoch === 'other' ? 'other' : epochOf(t) });
      await settle();
      expect(t.connection.frames).toEqual(['recovery:false:new_topic:3']);
    }
  });

  it('a resume from before the membership is told `membership` at the floor, then gets what follows it', async () => {
    const s = await setup({ before: 4 });
    s.subscription.start({ epoch: epochOf(s), offset: 1 }, 'unknown_session', { epoch: epochOf(s), offset: 2 });
    await settle();
    expect(s.connection.frames).toEqual(['recovery:false:membership:2', 'm:3', 'm:4']);
    expect(s.subscription.state).toBe('live');
    // At the floor is not below it: a plain replay.
    const t = await setup({ before: 4 });
    t.subscription.start({ epoch: epochOf(t), offset: 2 }, 'unknown_session', { epoch: epochOf(t), offset: 2 });
    await settle();
    expect(t.connection.frames).toEqual(['recovery:true:2', 'm:3', 'm:4', 'replayed:4']);
  });

  it('a resume the store covers is replayed, then `replayed`, then live; replayed messages are not live deliveries', async () => {
    const s = await setup({ before: 3 });
    s.subscription.start({ epoch: epochOf(s), offset: 1 }, 'unknown_session', undefined);
    await settle();
    await s.publish();
    expect(s.connection.frames).toEqual(['recovery:true:1', 'm:2', 'm:3', 'replayed:3', 'm:4']);
    expect(s.probe).toEqual([`recovery:${TOPIC}:recovered`, 'delivered:4']);
    // Nothing to replay: replayed at the cursor.
    const t = await setup({ before: 3 });
    t.subscription.start({ epoch: epochOf(t), offset: 3 }, 'unknown_session', undefined);
    await settle();
    expect(t.connection.frames).toEqual(['recovery:true:3', 'replayed:3']);
  });

  it('a resume the store cannot cover is told why, with what the store holds after', async () => {
    const s = await setup({ before: 2 });
    s.subscription.start({ epoch: 'gone', offset: 7 }, 'unknown_session', undefined);
    await settle();
    expect(s.connection.frames).toEqual(['recovery:false:epoch_changed:0', 'm:1', 'm:2']);
    expect(s.probe).toEqual([`recovery:${TOPIC}:epoch_changed`]);
    const t = await setup({ before: 2 });
    t.subscription.start({ epoch: epochOf(t), offset: 9 }, 'unknown_session', undefined);
    await settle();
    await t.publish();
    expect(t.connection.frames).toEqual(['recovery:false:future_offset:2', 'm:3']);
  });

  it('messages that come during the replay follow it once each, without what the replay wrote', async () => {
    let answer!: (read: TopicRead) => void;
    const s = await setup({ before: 2, readAfter: () => new Promise((resolve) => (answer = resolve)) });
    s.subscription.start({ epoch: epochOf(s), offset: 0 }, 'unknown_session', undefined);
    await settle();
    await s.publish(2);
    answer(s.store.readAfter(TOPIC, epochOf(s), 0));
    await settle();
    expect(s.connection.frames).toEqual(['recovery:true:0', 'm:1', 'm:2', 'm:3', 'm:4', 'replayed:4']);
  });

  it('a message the socket refuses: behind (later ones are refused, not written), then caught up from the store once it drained', async () => {
    const s = await setup();
    s.subscription.start(undefined, 'new_topic', undefined);
    await settle();
    s.connection.refuse = 1;
    await s.publish();
    expect(s.subscription.state).toBe('behind');
    expect(await s.subscription.offer({ kind: 'message', message: { topic: TOPIC, epoch: epochOf(s), offset: 2, payload: '2' } })).toEqual({ ok: false, reason: 'backpressure' });
    await s.publish(2);
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Still at drainedBytes: it waits.
    s.connection.socket.bufferedAmount = 100;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(s.connection.frames).toEqual(['recovery:false:new_topic:0']);
    s.connection.socket.bufferedAmount = 99;
    await new Promise((resolve) => setTimeout(resolve, 50));
    await settle();
    expect(s.connection.frames).toEqual(['recovery:false:new_topic:0', 'm:1', 'm:2', 'm:3']);
    expect(s.subscription.state).toBe('live');
    await s.publish();
    expect(s.connection.frames.at(-1)).toBe('m:4');
  });

  it('a refused recovery is owed: written first once the socket drained, before any message', async () => {
    const s = await setup({ before: 1 });
    s.connection.refuse = 1;
    s.subscription.start(undefined, 'new_topic', undefined);
    await settle();
    await s.publish();
    expect(s.subscription.state).toBe('behind');
    expect(s.connection.frames).toEqual([]);
    await drain(s.connection);
    expect(s.connection.frames).toEqual(['recovery:false:new_topic:1', 'm:2']);
    // A refused `replayed` likewise: messages only after it.
    const t = await setup({ before: 2 });
    t.connection.refuseNth = 4;
    t.subscription.start({ epoch: epochOf(t), offset: 0 }, 'unknown_session', undefined);
    await settle();
    await t.publish();
    expect(t.connection.frames).toEqual(['recovery:true:0', 'm:1', 'm:2']);
    await drain(t.connection);
    // Every message once, in order, the end of the replay (once) before the first live one.
    expect(t.connection.frames).toEqual(['recovery:true:0', 'm:1', 'm:2', 'replayed:2', 'm:3']);
  });

  it('a replayed message the socket refuses ends in a catch-up, not a gap', async () => {
    const s = await setup({ before: 3 });
    s.connection.refuseNth = 3;
    s.subscription.start({ epoch: epochOf(s), offset: 0 }, 'unknown_session', undefined);
    await settle();
    expect(s.subscription.state).toBe('behind');
    expect(s.connection.frames).toEqual(['recovery:true:0', 'm:1']);
    await drain(s.connection);
    expect(s.connection.frames).toEqual(['recovery:true:0', 'm:1', 'm:2', 'm:3', 'replayed:3']);
  });

  it(`more than ${MAX_BUFFERED_EVENTS} events while it reads: the buffer is dropped and the store read instead`, async () => {
    for (const count of [MAX_BUFFERED_EVENTS + 1, MAX_BUFFERED_EVENTS]) {
      let answer!: (read: TopicRead) => void;
      let reads = 0;
      const s: Setup = await setup({
        before: 1,
        readAfter: (topic, epoch, offset) => (++reads === 1 ? new Promise((resolve) => (answer = resolve)) : s.store.readAfter(topic, epoch, offset))
      });
      s.subscription.start({ epoch: epochOf(s), offset: 0 }, 'unknown_session', undefined);
      await settle();
      // The store's answer is from before the messages that come while it is out.
      const read = s.store.readAfter(TOPIC, epochOf(s), 0);
      await s.publish(count);
      answer(read);
      await settle();
      const live = Array.from({ length: count }, (_, i) => `m:${i + 2}`);
      expect(s.connection.frames).toEqual(['recovery:true:0', 'm:1', 'replayed:1', ...live]);
      expect(s.subscription.state).toBe('live');
      // Past the bound the buffer was dropped and the store read again; at it, nothing was read again.
      expect(reads).toBe(count > MAX_BUFFERED_EVENTS ? 2 : 1);
    }
  });

  it('a gap or an unannounced epoch while live is read from the store; a loss is told once, unless behind the mark', async () => {
    const s = await setup({ before: 2 });
    s.subscription.start(undefined, 'new_topic', undefined);
    await settle();
    const epoch = epochOf(s);
    s.store.append(TOPIC, '3');
    s.store.append(TOPIC, '4');
    expect(await s.subscription.offer({ kind: 'message', message: { topic: TOPIC, epoch, offset: 4, payload: '4' } })).toEqual({ ok: false, reason: 'backpressure' });
    await settle();
    expect(s.connection.frames).toEqual(['recovery:false:new_topic:2', 'm:3', 'm:4']);
    // Behind the mark: nothing.
    expect(s.subscription.offer({ kind: 'lost', reason: 'trimmed', epoch, offset: 4 })).toBeUndefined();
    expect(s.subscription.offer({ kind: 'message', message: { topic: TOPIC, epoch, offset: 4, payload: '4' } })).toBeUndefined();
    expect(s.connection.frames).toHaveLength(3);
    // Ahead of it: told.
    expect(s.subscription.offer({ kind: 'lost', reason: 'trimmed', epoch, offset: 7 })).toBeUndefined();
    expect(s.subscription.offer({ kind: 'lost', reason: 'epoch_changed', epoch: 'e2', offset: 0 })).toBeUndefined();
    expect(s.connection.frames.slice(3)).toEqual(['recovery:false:trimmed:7', 'recovery:false:epoch_changed:0']);
    expect(s.subscription.mark).toEqual({ epoch: 'e2', offset: 0 });
    // A message of an epoch nobody announced: the store says what happened.
    s.store.forget(TOPIC);
    s.store.append(TOPIC, '1');
    const unannounced = { topic: TOPIC, epoch: epochOf(s), offset: 1, payload: '1' };
    expect(await s.subscription.offer({ kind: 'message', message: unannounced })).toEqual({ ok: false, reason: 'backpressure' });
    await settle();
    expect(s.connection.frames.slice(5)).toEqual(['recovery:false:epoch_changed:0', 'm:1']);
  });

  it('end: nothing more is written, the feed lets it go, a read still out is dropped', async () => {
    let answer!: (read: TopicRead) => void;
    const s = await setup({ before: 1, readAfter: () => new Promise((resolve) => (answer = resolve)) });
    s.subscription.start({ epoch: epochOf(s), offset: 0 }, 'unknown_session', undefined);
    await settle();
    s.subscription.end();
    s.subscription.end();
    expect(s.subscription.state).toBe('ended');
    expect(s.feed.has(s.subscription)).toBe(false);
    answer(s.store.readAfter(TOPIC, epochOf(s), 0));
    await settle();
    expect(s.subscription.offer({ kind: 'message', message: { topic: TOPIC, epoch: epochOf(s), offset: 1, payload: '1' } })).toBeUndefined();
    expect(s.connection.frames).toEqual([]);
  });

  it('a store that cannot be read closes the connection through the host, unless the subscription ended', async () => {
    const error = new Error('unreachable');
    const s = await setup({ readAfter: () => Promise.reject(error) });
    s.subscription.start({ epoch: epochOf(s), offset: 0 }, 'unknown_session', undefined);
    await settle();
    expect(s.unreachable).toEqual([error]);
    // The floor could not be read either.
    const t = await setup();
    t.subscription.start(undefined, 'new_topic', Promise.reject(error));
    await settle();
    expect(t.unreachable).toEqual([error]);
    // Behind, then the catch-up read fails.
    let fail = false;
    const u = await setup({ readAfter: (topic, epoch, offset) => (fail ? Promise.reject(error) : u.store.readAfter(topic, epoch, offset)) });
    u.subscription.start(undefined, 'new_topic', undefined);
    await settle();
    fail = true;
    u.connection.refuse = 1;
    await u.publish();
    await drain(u.connection);
    expect(u.unreachable).toEqual([error]);
    const v = await setup({ readAfter: () => Promise.reject(error) });
    v.subscription.start({ epoch: epochOf(v), offset: 0 }, 'unknown_session', undefined);
    v.subscription.end();
    await settle();
    expect(v.unreachable).toEqual([]);
  });

  it('behind on a connection no longer connected: it waits for nothing', async () => {
    const s = await setup();
    s.subscription.start(undefined, 'new_topic', undefined);
    await settle();
    s.connection.state = 'closing';
    s.connection.refuse = 1;
    await s.publish(2);
    await settle();
    expect(s.subscription.state).toBe('behind');
    // Its buffer let go as it closes: still nothing is read or written for it.
    await drain(s.connection);
    expect(s.subscription.state).toBe('behind');
    expect(s.connection.frames).toEqual(['recovery:false:new_topic:0']);
  });

  it('a cursor of another epoch whose read continues below the membership is told `membership` at the floor (nothing from before it)', async () => {
    const s = await setup({ before: 4 });
    s.subscription.start({ epoch: 'made-up', offset: 0 }, 'unknown_session', { epoch: epochOf(s), offset: 2 });
    await settle();
    expect(s.connection.frames).toEqual(['recovery:false:membership:2', 'm:3', 'm:4']);
    // At or above the floor: the store's own answer.
    const t = await setup({ before: 4 });
    t.subscription.start({ epoch: 'made-up', offset: 0 }, 'unknown_session', { epoch: epochOf(t), offset: 0 });
    await settle();
    expect(t.connection.frames).toEqual(['recovery:false:epoch_changed:0', 'm:1', 'm:2', 'm:3', 'm:4']);
    // A floor of an epoch the store lost: the cursor's read says what the store has.
    const u = await setup({ before: 2 });
    u.subscription.start({ epoch: 'made-up', offset: 0 }, 'unknown_session', { epoch: 'lost-epoch', offset: 5 });
    await settle();
    expect(u.connection.frames).toEqual(['recovery:false:epoch_changed:0', 'm:1', 'm:2']);
  });

  it('a message refused while what waited is flushed stops the flush: nothing after it is written until the catch-up', async () => {
    let answer!: (read: TopicRead) => void;
    let reads = 0;
    const s: Setup = await setup({
      before: 1,
      readAfter: (topic, epoch, offset) => (++reads === 1 ? new Promise((resolve) => (answer = resolve)) : s.store.readAfter(topic, epoch, offset))
    });
    s.subscription.start({ epoch: epochOf(s), offset: 1 }, 'unknown_session', undefined);
    await settle();
    const read = s.store.readAfter(TOPIC, epochOf(s), 1);
    await s.publish();
    expect(s.subscription.offer({ kind: 'lost', reason: 'trimmed', epoch: epochOf(s), offset: 10 })).toBeUndefined();
    s.connection.refuseNth = 3;
    answer(read);
    await settle();
    expect(s.subscription.state).toBe('behind');
    expect(s.connection.frames).toEqual(['recovery:true:1', 'replayed:1']);
    await drain(s.connection);
    expect(s.connection.frames).toEqual(['recovery:true:1', 'replayed:1', 'm:2']);
  });

  it('works without a probe', async () => {
    const s = await setup({ before: 2, probe: false });
    s.subscription.start({ epoch: epochOf(s), offset: 1 }, 'unknown_session', undefined);
    await settle();
    await s.publish();
    const t = await setup({ before: 2, probe: false });
    t.subscription.start(undefined, 'new_topic', undefined);
    await settle();
    expect(s.connection.frames).toEqual(['recovery:true:1', 'm:2', 'replayed:2', 'm:3']);
    expect(t.connection.frames).toEqual(['recovery:false:new_topic:2']);
  });

  it('ended while it waited for the floor, the store or a catch-up read: nothing is written', async () => {
    let floor!: (position: TopicPosition) => void;
    for (const cursor of [undefined, { epoch: '', offset: 0 }]) {
      const s = await setup({ before: 3 });
      if (cursor !== undefined) cursor.epoch = epochOf(s);
      s.subscription.start(cursor, 'unknown_session', new Promise((resolve) => (floor = resolve)));
      s.subscription.end();
      floor({ epoch: epochOf(s), offset: 2 });
      await settle();
      expect(s.connection.frames).toEqual([]);
    }
    let answer!: (read: TopicRead) => void;
    const t = await setup({ readAfter: () => new Promise((resolve) => (answer = resolve)) });
    t.subscription.start(undefined, 'new_topic', undefined);
    await settle();
    t.connection.refuse = 1;
    await t.publish(2);
    // Drained: the catch-up read is out.
    await drain(t.connection);
    expect(t.subscription.state).toBe('reading');
    t.subscription.end();
    answer(t.store.readAfter(TOPIC, epochOf(t), 0));
    await settle();
    expect(t.connection.frames).toEqual(['recovery:false:new_topic:0']);
  });

  it('a topic started now whose position the store could not give closes the connection through the host', async () => {
    const feed = new TopicFeed(TOPIC, { position: () => Promise.reject(new Error('unreachable')), readAfter: () => Promise.reject(new Error('unreachable')) });
    await feed.ready;
    const errors: unknown[] = [];
    const connection = new FakeConnection();
    const host: SubscriptionHost = { readAfter: () => Promise.reject(new Error('unreachable')), drainedBytes: 100, unreachable: (_c, _t, error) => errors.push(error) };
    const subscription = new Subscription(connection as unknown as Connection, feed, host);
    subscription.start(undefined, 'new_topic', undefined);
    await settle();
    feed.close();
    expect(errors).toEqual([new Error(`the position of topic ${TOPIC} is unknown: the store is unreachable`)]);
    expect(connection.frames).toEqual([]);
  });

  it('a loss told before the start does not set where it starts: the feed\'s position does', async () => {
    const s = await setup({ before: 3 });
    expect(s.subscription.offer({ kind: 'lost', reason: 'trimmed', epoch: epochOf(s), offset: 1 })).toBeUndefined();
    s.subscription.start(undefined, 'new_topic', undefined);
    await settle();
    expect(s.connection.frames[0]).toBe('recovery:false:new_topic:3');
  });
});

export type { TopicPosition };
