/**
 * src/sessions/topic-feed.ts (#12): whatever order and repetition messages arrive
 * in (this process's appends and other nodes' through a broker), the
 * feed's subscribers get them once, in offset order; gaps are filled from
 * the store, and what the store no longer has is told, never skipped in
 * silence. A fast-check property over arrival orders, and the same
 * property failing against a naive feed that delivers on arrival.
 */
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { refused } from '../../src/core/send-result.js';
import { TopicFeed, type FeedEvent } from '../../src/sessions/topic-feed.js';
import { MemoryTopicStore, type TopicEntry, type TopicMessage, type TopicRead } from '../../src/sessions/topic-store.js';

const SEED = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
const TOPIC = 't';

/** Subscribe a recorder: `m:OFFSET` per message, `lost:REASON:OFFSET` per loss. */
function record(feed: TopicFeed): string[] {
  const seen: string[] = [];
  feed.subscribe(seen, (event: FeedEvent) => {
    seen.push(event.kind === 'message' ? `m:${event.message.offset}` : `${event.kind}:${event.reason}:${event.offset}`);
    return undefined;
  });
  return seen;
}

function messageAt(store: MemoryTopicStore, offset: number): TopicMessage {
  const { epoch } = store.position(TOPIC);
  return { topic: TOPIC, epoch, offset, payload: `"${offset}"` };
}

/** Delivers on arrival, as a broker subscriber without a sequencer would. */
class NaiveFeed {
  readonly seen: string[] = [];
  accept(message: TopicMessage): Promise<void> {
    this.seen.push(`m:${message.offset}`);
    return Promise.resolve();
  }
}

type Subject = { accept(m: TopicMessage): Promise<unknown>; seen: string[] };

async function arrivals(make: (store: MemoryTopicStore) => Subject, order: number[], count: number): Promise<string | undefined> {
  const store = new MemoryTopicStore();
  const feed = make(store);
  for (let i = 0; i < count; i++) store.append(TOPIC, `"${i + 1}"`);
  await Promise.all(order.map((offset) => feed.accept(messageAt(store, offset))));
  // Let any gap fill finish.
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
  const expected = Array.from({ length: count }, (_, i) => `m:${i + 1}`);
  return JSON.stringify(feed.seen) === JSON.stringify(expected) ? undefined : `delivered ${feed.seen.join(',')} for arrivals ${order.join(',')}`;
}

async function holds(make: Parameters<typeof arrivals>[0]): Promise<{ failed: boolean; counterexample?: string }> {
  // Every offset of 1..n arrives at least once (the broker), some again (this process's own append), in any order.
  const scenario = fc.integer({ min: 1, max: 30 }).chain((count) => {
    const offsets = Array.from({ length: count }, (_, i) => i + 1);
    const again = fc.array(fc.integer({ min: 1, max: count }), { maxLength: 10 });
    return fc.tuple(fc.constant(count), fc.shuffledSubarray(offsets, { minLength: count }), again);
  });
  const result = await fc.check(
    fc.asyncProperty(scenario, async ([count, order, again]) => (await arrivals(make, [...order, ...again], count)) === undefined),
    { seed: SEED, numRuns: 100 }
  );
  const example = result.counterexample?.[0];
  return { failed: result.failed, counterexample: example ? await arrivals(make, [...example[1], ...example[2]], example[0]) : undefined };
}

function realFeed(store: MemoryTopicStore): Subject {
  // The feed starts before the first message, as one made when the topic is first held.
  const feed = new TopicFeed(TOPIC, {
    position: () => ({ epoch: store.position(TOPIC).epoch, offset: 0 }),
    readAfter: (topic, epoch, offset) => store.readAfter(topic, epoch, offset)
  });
  const seen = record(feed);
  return { accept: (m) => feed.accept(m), seen };
}

describe('TopicFeed', () => {
  it('delivers every offset once and in order, whatever the arrival order and repeats (fast-check)', async () => {
    console.log(`topic-feed.test.ts: fast-check seed ${SEED} (replay with FC_SEED=${SEED})`);
    const outcome = await holds(realFeed);
    expect(outcome.counterexample).toBeUndefined();
    expect(outcome.failed).toBe(false);
  });

  it('the naive feed, which delivers on arrival, fails the same property', async () => {
    const outcome = await holds((): NaiveFeed => new NaiveFeed());
    console.log(`naive feed: failed=${outcome.failed}: ${outcome.counterexample ?? ''}`);
    expect(outcome.failed).toBe(true);
  });

  it('fills a gap from the store: only offset 5 arrives, 1 to 5 are delivered', async () => {
    const store = new MemoryTopicStore();
    const feed = new TopicFeed(TOPIC, store);
    const seen = record(feed);
    await feed.ready;
    for (let i = 1; i <= 5; i++) store.append(TOPIC, `"${i}"`);
    const report = await feed.accept(messageAt(store, 5));
    expect(report).toEqual({ sent: 0, rejected: 0, reasons: {} });
    expect(seen).toEqual(['m:1', 'm:2', 'm:3', 'm:4', 'm:5']);
    expect(feed.position).toEqual({ epoch: store.position(TOPIC).epoch, offset: 5 });
  });

  it('tells a gap the store no longer has, then goes on', async () => {
    const store = new MemoryTopicStore({ maxEntriesPerTopic: 2 });
    const feed = new TopicFeed(TOPIC, store);
    const seen = record(feed);
    await feed.ready;
    for (let i = 1; i <= 5; i++) store.append(TOPIC, `"${i}"`);
    await feed.accept(messageAt(store, 5));
    expect(seen).toEqual(['lost:trimmed:4', 'm:5']);
  });

  it('tells a new epoch (history lost), follows it, and drops late messages of the old one', async () => {
    const store = new MemoryTopicStore();
    const feed = new TopicFeed(TOPIC, store);
    const seen = record(feed);
    await feed.ready;
    store.append(TOPIC, '"1"');
    const old = messageAt(store, 1);
    await feed.accept(old);
    store.forget(TOPIC);
    store.append(TOPIC, '"a"');
    await feed.accept(messageAt(store, 1));
    await feed.accept({ ...old, offset: 2 });
    expect(seen).toEqual(['m:1', 'lost:epoch_changed:0', 'm:1']);
  });

  it('resync reads what the broker missed; close settles what waits', async () => {
    const store = new MemoryTopicStore();
    const feed = new TopicFeed(TOPIC, store);
    const seen = record(feed);
    await feed.ready;
    store.append(TOPIC, '"1"');
    store.append(TOPIC, '"2"');
    feed.resync();
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toEqual(['m:1', 'm:2']);
    feed.close();
    expect(await feed.accept(messageAt(store, 3))).toEqual({ sent: 0, rejected: 0, reasons: {} });
    expect(seen).toEqual(['m:1', 'm:2']);
  });
});

/** A source whose every answer the test gives by hand: what the feed asks, and when. */
class HandSource {
  readonly positions: Array<{ resolve: (p: { epoch: string; offset: number }) => void; reject: (e: Error) => void }> = [];
  readonly reads: Array<{ epoch: string; offset: number; resolve: (read: TopicRead) => void; reject: (e: Error) => void }> = [];
  position(): Promise<{ epoch: string; offset: number }> {
    return new Promise((resolve, reject) => this.positions.push({ resolve, reject }));
  }
  readAfter(_topic: string, epoch: string, offset: number): Promise<TopicRead> {
    return new Promise((resolve, reject) => this.reads.push({ epoch, offset, resolve, reject }));
  }
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
};
const at = (offset: number, epoch = 'e1'): TopicMessage => ({ topic: TOPIC, epoch, offset, payload: `"${offset}"` });
const entries = (...offsets: number[]): TopicEntry[] => offsets.map((offset) => ({ offset, payload: `"${offset}"`, at: 0 }));

/** A feed of a HandSource, positioned at (e1, offset). */
async function handFeed(offset = 0): Promise<{ feed: TopicFeed; source: HandSource; seen: string[] }> {
  const source = new HandSource();
  const feed = new TopicFeed(TOPIC, source);
  const seen = record(feed);
  source.positions[0]!.resolve({ epoch: 'e1', offset });
  await feed.ready;
  return { feed, source, seen };
}

describe('TopicFeed, step by step (a source answered by hand)', () => {
  it('knows no position until the store answers; positionNow waits for that first answer', async () => {
    const source = new HandSource();
    const feed = new TopicFeed(TOPIC, source);
    let ready = false;
    void feed.ready.then(() => (ready = true));
    const first = feed.positionNow();
    await settle();
    expect(feed.position).toBeUndefined();
    expect(ready).toBe(false);
    source.positions[0]!.resolve({ epoch: 'e1', offset: 4 });
    expect(await first).toEqual({ epoch: 'e1', offset: 4 });
    await settle();
    expect(ready).toBe(true);
    expect(feed.positionNow()).toEqual({ epoch: 'e1', offset: 4 });
  });

  it('keeps its subscribers by key', async () => {
    const { feed, seen } = await handFeed();
    const other: string[] = [];
    feed.subscribe(other, () => void other.push('x'));
    expect([feed.size, feed.has(other), feed.has({})]).toEqual([2, true, false]);
    feed.unsubscribe(other);
    expect([feed.size, feed.has(other)]).toEqual([1, false]);
    feed.offer(at(1));
    expect(seen).toEqual(['m:1']);
    expect(other).toEqual([]);
  });

  it('delivers the next offset as it comes, without reading the store; a broker copy too', async () => {
    const { feed, source, seen } = await handFeed();
    await feed.accept(at(1));
    feed.offer(at(2));
    expect(seen).toEqual(['m:1', 'm:2']);
    expect(source.reads).toEqual([]);
  });

  it("reports the writes of this process's own publish: a subscriber that writes nothing is not counted", async () => {
    const { feed } = await handFeed();
    feed.subscribe({}, () => Promise.resolve({ ok: true }));
    // A refusal, as a connection returns it: the shared promise of that reason.
    feed.subscribe({}, () => refused('backpressure'));
    expect(await feed.accept(at(1))).toEqual({ sent: 1, rejected: 1, reasons: { backpressure: 1 } });
    // A broker's copy: written the same, nobody waits for its report.
    let writes = 0;
    feed.subscribe({}, () => {
      writes++;
      return undefined;
    });
    feed.offer(at(2));
    expect(writes).toBe(1);
  });

  it('holds what comes early until the gap is read, once per offset; a duplicate is settled empty', async () => {
    const { feed, source, seen } = await handFeed();
    feed.subscribe({}, () => Promise.resolve({ ok: true }));
    const three = feed.accept(at(3));
    const again = feed.accept(at(3));
    feed.offer(at(3));
    expect(await again).toEqual({ sent: 0, rejected: 0, reasons: {} });
    // One read at a time, from the newest delivered offset.
    expect(source.reads.map((r) => [r.epoch, r.offset])).toEqual([['e1', 0]]);
    source.reads[0]!.resolve({ recovered: true, epoch: 'e1', entries: entries(1, 2, 3) });
    expect(await three).toEqual({ sent: 1, rejected: 0, reasons: {} });
    expect(seen).toEqual(['m:1', 'm:2', 'm:3']);
    // Nothing waits any more: the fill is over, no read more.
    await settle();
    expect(source.reads).toHaveLength(1);
    // The fill is over: the next gap is read again.
    feed.offer(at(5));
    await settle();
    expect(source.reads.map((r) => r.offset)).toEqual([0, 3]);
    expect(await feed.accept(at(3))).toEqual({ sent: 0, rejected: 0, reasons: {} });
  });

  it('reads again while the store gave something and more waits, at most 8 reads per fill', async () => {
    const { feed, source, seen } = await handFeed();
    feed.offer(at(20));
    for (let pass = 0; pass < 12; pass++) {
      await settle();
      const read = source.reads[pass];
      if (read === undefined) break;
      read.resolve({ recovered: true, epoch: 'e1', entries: entries(read.offset + 1) });
    }
    await settle();
    expect(seen).toEqual(['m:1', 'm:2', 'm:3', 'm:4', 'm:5', 'm:6', 'm:7', 'm:8']);
    expect(source.reads).toHaveLength(8);
    // A resync goes on.
    feed.resync();
    await settle();
    expect(source.reads[8]?.offset).toBe(8);
  });

  it('the store has nothing after what waits: the gap before it is told trimmed, from the oldest waiting offset', async () => {
    const { feed, source, seen } = await handFeed();
    feed.offer(at(9));
    feed.offer(at(6));
    feed.offer(at(7));
    await settle();
    source.reads[0]!.resolve({ recovered: true, epoch: 'e1', entries: entries(1, 2) });
    await settle();
    // 1, 2 read, and more waits: read on.
    expect(seen).toEqual(['m:1', 'm:2']);
    expect(source.reads.map((r) => r.offset)).toEqual([0, 2]);
    source.reads[1]!.resolve({ recovered: true, epoch: 'e1', entries: [] });
    await settle();
    // Nothing newer in the store: 3..5 are gone; 6, 7 follow, 9 waits for 8 (the broker brings it).
    expect(seen).toEqual(['m:1', 'm:2', 'lost:trimmed:5', 'm:6', 'm:7']);
    expect(source.reads).toHaveLength(2);
    feed.offer(at(8));
    expect(seen.slice(-2)).toEqual(['m:8', 'm:9']);
  });

  it('a read with nothing new and nothing waiting ends the fill quietly', async () => {
    const { feed, source, seen } = await handFeed(3);
    feed.resync();
    await settle();
    source.reads[0]!.resolve({ recovered: true, epoch: 'e1', entries: [] });
    await settle();
    expect(seen).toEqual([]);
    expect(source.reads).toHaveLength(1);
    expect(feed.position).toEqual({ epoch: 'e1', offset: 3 });
  });

  it('a trimmed read with nothing waiting continues where the store says, and says so', async () => {
    const { feed, source, seen } = await handFeed(3);
    feed.resync();
    await settle();
    source.reads[0]!.resolve({ recovered: false, reason: 'trimmed', epoch: 'e1', offset: 10 });
    await settle();
    expect(seen).toEqual(['lost:trimmed:10']);
    expect(feed.position).toEqual({ epoch: 'e1', offset: 10 });
    feed.offer(at(11));
    expect(seen).toEqual(['lost:trimmed:10', 'm:11']);
  });

  it('a read that finds a new epoch follows it and reads on from its start', async () => {
    const { feed, source, seen } = await handFeed(3);
    feed.resync();
    await settle();
    source.reads[0]!.resolve({ recovered: false, reason: 'epoch_changed', epoch: 'e2', offset: 0 });
    await settle();
    expect(seen).toEqual(['lost:epoch_changed:0']);
    expect(source.reads.map((r) => [r.epoch, r.offset])).toEqual([['e1', 3], ['e2', 0]]);
    source.reads[1]!.resolve({ recovered: true, epoch: 'e2', entries: entries(1) });
    await settle();
    expect(seen).toEqual(['lost:epoch_changed:0', 'm:1']);
    // A late message of the left epoch is stale: settled empty (a broker's copy dropped), not a new epoch.
    feed.subscribe({}, () => Promise.resolve({ ok: true }));
    expect(await feed.accept(at(4, 'e1'))).toEqual({ sent: 0, rejected: 0, reasons: {} });
    feed.offer(at(5, 'e1'));
    expect(seen).toEqual(['lost:epoch_changed:0', 'm:1']);
  });

  it('a message of a new epoch drops what waited of the old one, settled empty', async () => {
    const { feed, seen } = await handFeed(1);
    feed.subscribe({}, () => Promise.resolve({ ok: true }));
    const waiting = feed.accept(at(5));
    expect(await feed.accept(at(1, 'e2'))).toEqual({ sent: 1, rejected: 0, reasons: {} });
    expect(await waiting).toEqual({ sent: 0, rejected: 0, reasons: {} });
    expect(seen).toEqual(['lost:epoch_changed:0', 'm:1']);
  });

  it('a read answered after the epoch moved on, or after close, is dropped', async () => {
    const { feed, source, seen } = await handFeed();
    feed.offer(at(3));
    await settle();
    feed.offer(at(1, 'e2'));
    source.reads[0]!.resolve({ recovered: true, epoch: 'e1', entries: entries(1, 2, 3) });
    await settle();
    expect(seen).toEqual(['lost:epoch_changed:0', 'm:1']);
    feed.offer(at(3, 'e2'));
    await settle();
    const read = source.reads.at(-1)!;
    expect([read.epoch, read.offset]).toEqual(['e2', 1]);
    feed.close();
    read.resolve({ recovered: true, epoch: 'e2', entries: entries(2, 3) });
    await settle();
    expect(seen).toEqual(['lost:epoch_changed:0', 'm:1']);
  });

  it('gives up a gap when more than 10,000 messages wait behind it, from the oldest waiting', async () => {
    const { feed, seen } = await handFeed();
    for (let offset = 10_001; offset >= 2; offset--) feed.offer(at(offset));
    // 10,000 wait, for a read still out: nothing is given up yet.
    expect(seen).toEqual([]);
    feed.offer(at(10_002));
    expect(seen.slice(0, 2)).toEqual(['lost:trimmed:1', 'm:2']);
    expect(seen).toHaveLength(10_002);
    expect(feed.position?.offset).toBe(10_002);
  });

  it('close settles what waits (before and after the position is known), and then takes nothing', async () => {
    const source = new HandSource();
    const feed = new TopicFeed(TOPIC, source);
    const seen = record(feed);
    const early = feed.accept(at(1));
    feed.close();
    expect(await early).toEqual({ sent: 0, rejected: 0, reasons: {} });
    source.positions[0]!.resolve({ epoch: 'e1', offset: 0 });
    await settle();
    expect(feed.position).toBeUndefined();
    expect(feed.size).toBe(0);
    feed.subscribe(seen, () => void seen.push('after close'));
    feed.offer(at(1));
    expect(await feed.accept(at(1))).toEqual({ sent: 0, rejected: 0, reasons: {} });
    feed.resync();
    await settle();
    expect(seen).toEqual([]);
    expect(source.positions).toHaveLength(1);

    const open = await handFeed();
    open.feed.subscribe({}, () => Promise.resolve({ ok: true }));
    const ahead = open.feed.accept(at(2));
    open.feed.close();
    expect(await ahead).toEqual({ sent: 0, rejected: 0, reasons: {} });
    // Closed with its position known: the next offset, from either path, reaches nobody.
    open.feed.subscribe(open.seen, () => void open.seen.push('after close'));
    open.feed.offer(at(1));
    expect(await open.feed.accept(at(1))).toEqual({ sent: 0, rejected: 0, reasons: {} });
    expect(open.seen).toEqual([]);
  });

  it('an answer to a second position read does not move a feed that already knows its position', async () => {
    const source = new HandSource();
    const feed = new TopicFeed(TOPIC, source);
    const seen = record(feed);
    feed.resync();
    expect(source.positions).toHaveLength(2);
    source.positions[0]!.resolve({ epoch: 'e1', offset: 0 });
    await settle();
    feed.offer(at(1));
    feed.offer(at(2));
    source.positions[1]!.resolve({ epoch: 'e1', offset: 0 });
    await settle();
    feed.offer(at(1));
    expect(seen).toEqual(['m:1', 'm:2']);
    expect(feed.position).toEqual({ epoch: 'e1', offset: 2 });
  });

  it('an unreachable store is asked again after 100 ms, doubling up to 5 s; a resync asks at once', async () => {
    vi.useFakeTimers();
    try {
      const source = new HandSource();
      const feed = new TopicFeed(TOPIC, source);
      const asked: number[] = [];
      const fail = async (): Promise<void> => {
        asked.push(Date.now());
        source.positions.at(-1)!.reject(new Error('unreachable'));
        await vi.advanceTimersByTimeAsync(0);
      };
      const start = Date.now();
      await fail();
      for (let i = 0; i < 7; i++) {
        const before = source.positions.length;
        await vi.advanceTimersByTimeAsync(1);
        while (source.positions.length === before) await vi.advanceTimersByTimeAsync(1);
        await fail();
      }
      expect(asked.map((t) => t - start)).toEqual([0, 100, 300, 700, 1_500, 3_100, 6_300, 11_300]);
      // A resync while the position is unknown asks again at once, and a success resets the delay.
      feed.resync();
      expect(source.positions).toHaveLength(9);
      source.positions[8]!.resolve({ epoch: 'e1', offset: 0 });
      await vi.advanceTimersByTimeAsync(0);
      expect(feed.position).toEqual({ epoch: 'e1', offset: 0 });
      // The retry already scheduled finds the position known and does not ask it again.
      await vi.advanceTimersByTimeAsync(6_000);
      expect(source.positions).toHaveLength(9);
      // A failed read is retried the same way, from 100 ms.
      feed.offer(at(2));
      await vi.advanceTimersByTimeAsync(0);
      source.reads[0]!.reject(new Error('unreachable'));
      await vi.advanceTimersByTimeAsync(99);
      expect(source.reads).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(1);
      expect(source.reads).toHaveLength(2);
      feed.close();
    } finally {
      vi.useRealTimers();
    }
  });
});
