/**
 * src/sessions/topic-feed.ts (#12): whatever order and repetition messages arrive
 * in (this process's appends and other nodes' through a broker), the
 * feed's subscribers get them once, in offset order; gaps are filled from
 * the store, and what the store no longer has is told, never skipped in
 * silence. A fast-check property over arrival orders, and the same
 * property failing against a naive feed that delivers on arrival.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TopicFeed, type FeedEvent } from '../../src/sessions/topic-feed.js';
import { MemoryTopicStore, type TopicMessage } from '../../src/sessions/topic-store.js';

const SEED = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
const TOPIC = 't';

/** Subscribe a recorder: `m:OFFSET` per message, `lost:REASON:OFFSET` per loss. */
function record(feed: TopicFeed): string[] {
  const seen: string[] = [];
  feed.subscribe(seen, (event: FeedEvent) => {
    seen.push(event.kind === 'message' ? `m:${event.message.offset}` : `lost:${event.reason}:${event.offset}`);
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
