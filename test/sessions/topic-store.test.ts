/**
 * src/sessions/topic-store.ts (#11): offsets with no gaps, reads that return every
 * message after a position or say why they cannot, bounds trimmed oldest
 * first and never the newest. A fast-check property over random appends,
 * reads and time, and the same property failing against a naive store
 * that returns what is left (a silent gap).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MEMORY_STORE_DEFAULTS, MemoryTopicStore, type TopicRead } from '../../src/sessions/topic-store.js';

const SEED = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);

type Op = { kind: 'append'; topic: number; size: number } | { kind: 'read'; topic: number; back: number } | { kind: 'wait'; ms: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('append' as const), topic: fc.nat(2), size: fc.integer({ min: 1, max: 300 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('read' as const), topic: fc.nat(2), back: fc.nat(1_000) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 1, max: 400 }) }) }
);

const LIMITS = { maxEntriesPerTopic: 20, maxBytesPerTopic: 3_000, maxBytes: 5_000, maxAgeMs: 1_000 };

/** Run the ops; return the first broken invariant, or undefined. */
function violation(make: (now: () => number) => MemoryTopicStore, ops: Op[]): string | undefined {
  let time = 0;
  const store = make(() => time);
  const published = new Map<string, string[]>();
  for (const step of ops) {
    if (step.kind === 'wait') {
      time += step.ms;
      continue;
    }
    const topic = `t${step.topic}`;
    const sent = published.get(topic) ?? [];
    published.set(topic, sent);
    if (step.kind === 'append') {
      const payload = `${topic}:${sent.length + 1}:${'x'.repeat(step.size)}`;
      const position = store.append(topic, payload);
      sent.push(payload);
      if (position.offset !== sent.length) return `append to ${topic} got offset ${position.offset}, expected ${sent.length}`;
      continue;
    }
    const { epoch, offset: last } = store.position(topic);
    // From one past the newest (the future) down to -1 (invalid), every position in between.
    const from = last + 1 - (step.back % (last + 3));
    const read: TopicRead = store.readAfter(topic, epoch, from);
    if (from < 0 || from > last) {
      if (read.recovered) return `read after ${from} (last ${last}) of ${topic} recovered`;
      continue;
    }
    if (!read.recovered) {
      if (read.reason !== 'trimmed') return `read after ${from} of ${topic}: ${read.reason}`;
      // Told, and continued at the oldest message still kept: what is kept follows, none of it skipped.
      if (read.offset <= from) return `read after ${from} of ${topic} said trimmed but continues at ${read.offset}`;
      const kept = (read.entries ?? []).map((e) => e.payload);
      if (JSON.stringify(kept) !== JSON.stringify(sent.slice(read.offset))) return `trimmed read after ${from} of ${topic} continues at ${read.offset} with ${kept.length} messages, expected ${read.offset + 1}..${last}`;
      const before = store.readAfter(topic, epoch, read.offset - 1);
      if (before.recovered) return `trimmed read after ${from} of ${topic} continues at ${read.offset}, but ${read.offset} is still kept: skipped`;
      continue;
    }
    const expected = sent.slice(from);
    const got = read.entries.map((e) => e.payload);
    if (JSON.stringify(got) !== JSON.stringify(expected)) return `read after ${from} of ${topic} returned offsets ${read.entries.map((e) => e.offset).join(',')}, expected ${from + 1}..${last}`;
  }
  return undefined;
}

function holds(make: (now: () => number) => MemoryTopicStore, seed: number): { failed: boolean; counterexample?: string } {
  const result = fc.check(
    fc.property(fc.array(op, { minLength: 1, maxLength: 150, size: 'max' }), (ops) => violation(make, ops) === undefined),
    { seed, numRuns: 200 }
  );
  return { failed: result.failed, counterexample: result.counterexample ? violation(make, result.counterexample[0]) : undefined };
}

/** Says trimmed and continues at the newest offset: told, but what is still kept is skipped. */
class SkipToNewestStore extends MemoryTopicStore {
  override readAfter(topic: string, epoch: string, offset: number): TopicRead {
    const read = super.readAfter(topic, epoch, offset);
    if (read.recovered || read.reason !== 'trimmed') return read;
    return { recovered: false, reason: 'trimmed', ...this.position(topic) };
  }
}

/** Hands back what is left after a trim as if nothing were missing: a silent gap. */
class NaiveStore extends MemoryTopicStore {
  override readAfter(topic: string, epoch: string, offset: number): TopicRead {
    const read = super.readAfter(topic, epoch, offset);
    if (read.recovered || read.reason !== 'trimmed') return read;
    let after = offset;
    let rest = super.readAfter(topic, epoch, after);
    while (!rest.recovered) rest = super.readAfter(topic, epoch, ++after);
    return rest;
  }
}

describe('MemoryTopicStore', () => {
  it('numbers each topic 1, 2, 3... and reads every message after a position, or says it was trimmed (fast-check)', () => {
    console.log(`topic-store.test.ts: fast-check seed ${SEED} (replay with FC_SEED=${SEED})`);
    const outcome = holds((now) => new MemoryTopicStore({ ...LIMITS, now }), SEED);
    expect(outcome.counterexample).toBeUndefined();
    expect(outcome.failed).toBe(false);
  });

  it('the naive store, which hands back what is left, fails the same property', () => {
    const outcome = holds((now) => new NaiveStore({ ...LIMITS, now }), SEED);
    console.log(`naive store: failed=${outcome.failed}: ${outcome.counterexample ?? ''}`);
    expect(outcome.failed).toBe(true);
  });

  it('a store that says trimmed and continues at its newest offset, skipping what it still keeps, fails the same property', () => {
    const outcome = holds((now) => new SkipToNewestStore({ ...LIMITS, now }), SEED);
    console.log(`skip-to-newest store: failed=${outcome.failed}: ${outcome.counterexample ?? ''}`);
    expect(outcome.counterexample).toMatch(/skipped|continues at/);
  });

  it('keeps the bounds, oldest first, and always the newest message', () => {
    let time = 0;
    const store = new MemoryTopicStore({ ...LIMITS, now: () => time });
    for (let i = 0; i < 50; i++) store.append('a', 'x'.repeat(100));
    const read = store.readAfter('a', store.position('a').epoch, 30);
    expect(read).toMatchObject({ recovered: true });
    expect(read.recovered && read.entries.map((e) => e.offset)).toEqual(Array.from({ length: 20 }, (_, i) => 31 + i));
    // 20 kept (31..50): the stream continues after 30, with all of them.
    const trimmed = store.readAfter('a', store.position('a').epoch, 29);
    expect(trimmed).toMatchObject({ recovered: false, reason: 'trimmed', offset: 30 });
    expect(!trimmed.recovered && trimmed.entries?.map((e) => e.offset)).toEqual(Array.from({ length: 20 }, (_, i) => 31 + i));
    store.append('b', 'y'.repeat(4_000));
    expect(store.bytes).toBeLessThanOrEqual(LIMITS.maxBytes);
    expect(store.readAfter('b', store.position('b').epoch, 0)).toMatchObject({ recovered: true });
    // Older than maxAgeMs: trimmed on the next read, all but the newest.
    time += LIMITS.maxAgeMs + 1;
    expect(store.readAfter('a', store.position('a').epoch, 48)).toMatchObject({ recovered: false, reason: 'trimmed' });
    const newest = store.readAfter('a', store.position('a').epoch, 49);
    expect(newest.recovered && newest.entries.map((e) => e.offset)).toEqual([50]);
  });

  it('tells a changed epoch and an offset from the future apart from a gap', () => {
    const store = new MemoryTopicStore();
    store.append('t', 'one');
    const { epoch } = store.position('t');
    // The cursor's epoch is gone and the new one is whole: it continues from the new epoch's start, with its messages.
    expect(store.readAfter('t', 'another-epoch', 0)).toEqual({ recovered: false, reason: 'epoch_changed', epoch, offset: 0, entries: [{ offset: 1, payload: 'one', at: expect.any(Number) }] });
    expect(store.readAfter('t', epoch, 5)).toEqual({ recovered: false, reason: 'future_offset', epoch, offset: 1 });
    expect(store.readAfter('t', epoch, 1)).toEqual({ recovered: true, epoch, entries: [] });
    // Nothing published yet is not a gap: a resume from 0 recovers.
    const fresh = store.position('quiet');
    expect(store.readAfter('quiet', fresh.epoch, 0)).toEqual({ recovered: true, epoch: fresh.epoch, entries: [] });
  });

  it('forgets the topic appended to longest ago past maxTopics; a resume from it is told epoch_changed', () => {
    const store = new MemoryTopicStore({ maxTopics: 2 });
    store.append('a', '"a1"');
    const b = store.append('b', '"b1"');
    store.append('a', '"a2"');
    // A third topic: b, appended to longest ago, goes with its bytes.
    store.append('c', '"c1"');
    expect(store.size).toBe(2);
    expect(store.bytes).toBe(3 * 4);
    expect(store.readAfter('a', store.position('a').epoch, 0)).toMatchObject({ recovered: true });
    // b comes back as a new topic: what a client held of it is told, not gapped.
    expect(store.readAfter('b', b.epoch, 1)).toMatchObject({ recovered: false, reason: 'epoch_changed', offset: 0 });
  });

  it('forget drops a topic and its bytes; the topic comes back in a new epoch', () => {
    const store = new MemoryTopicStore();
    const old = store.append('a', '"a1"');
    store.append('b', '"b1"');
    store.forget('a');
    store.forget('never-seen');
    expect(store.size).toBe(1);
    expect(store.bytes).toBe(4);
    expect(store.readAfter('a', old.epoch, 1)).toMatchObject({ recovered: false, reason: 'epoch_changed', offset: 0 });
  });

  it('a cursor of a lost history continues from the new epoch\'s start while the store holds all of it, else from its oldest message kept', () => {
    const store = new MemoryTopicStore({ maxEntriesPerTopic: 3 });
    const old = store.append('a', '"old"');
    store.forget('a');
    const fresh = [store.append('a', '"1"'), store.append('a', '"2"')];
    expect(store.readAfter('a', old.epoch, 1)).toEqual({
      recovered: false,
      reason: 'epoch_changed',
      epoch: fresh[0]!.epoch,
      offset: 0,
      entries: [{ offset: 1, payload: '"1"', at: expect.any(Number) }, { offset: 2, payload: '"2"', at: expect.any(Number) }]
    });
    // Four messages, three kept: offset 1 is gone, so the stream continues after 1, with 2..4, never replayed with a hole.
    store.append('a', '"3"');
    store.append('a', '"4"');
    expect(store.readAfter('a', old.epoch, 1)).toEqual({
      recovered: false,
      reason: 'epoch_changed',
      epoch: fresh[0]!.epoch,
      offset: 1,
      entries: ['"2"', '"3"', '"4"'].map((payload, i) => ({ offset: i + 2, payload, at: expect.any(Number) }))
    });
  });

  it('refuses a bound that is not a positive number, naming it', () => {
    expect(() => new MemoryTopicStore({ maxBytes: 0 })).toThrow(new RangeError('Invalid option maxBytes: 0 (expected a number > 0)'));
  });

  it('has the documented defaults; an option left undefined takes its default, one that is not a number is refused', () => {
    const MiB = 1_048_576;
    expect(MEMORY_STORE_DEFAULTS).toEqual({
      maxEntriesPerTopic: 1_000,
      maxBytesPerTopic: MiB,
      maxBytes: 64 * MiB,
      maxAgeMs: 120_000,
      maxTopics: 100_000
    });
    const store = new MemoryTopicStore({ maxEntriesPerTopic: undefined, maxBytes: undefined });
    for (let i = 0; i < 1_001; i++) store.append('a', 'x');
    expect(store.readAfter('a', store.position('a').epoch, 1)).toMatchObject({ recovered: true });
    expect(store.readAfter('a', store.position('a').epoch, 0)).toMatchObject({ recovered: false, reason: 'trimmed', offset: 1 });
    expect(() => new MemoryTopicStore({ maxBytes: '5' as unknown as number })).toThrow(new RangeError('Invalid option maxBytes: 5 (expected a number > 0)'));
  });

  it('counts a payload by its bytes: UTF-8 for text, the length of a Buffer', () => {
    const store = new MemoryTopicStore();
    store.append('a', '"é"');
    store.append('a', Buffer.from([1, 2, 3]));
    expect(store.bytes).toBe(4 + 3);
  });

  it('over the total it drops only what it must: other topics first, then its own oldest one by one, up to exactly the bound', () => {
    const store = new MemoryTopicStore({ maxBytes: 12 });
    const a = [store.append('a', '"a1"'), store.append('a', '"a2"'), store.append('a', '"a3"')];
    // Exactly at the bound: nothing dropped.
    expect(store.bytes).toBe(12);
    expect(store.readAfter('a', a[0]!.epoch, 0)).toMatchObject({ recovered: true });
    // One more: a's oldest goes, and only it.
    store.append('a', '"a4"');
    expect(store.bytes).toBe(12);
    expect(store.readAfter('a', a[0]!.epoch, 0)).toMatchObject({ recovered: false, reason: 'trimmed', offset: 1 });
    expect(store.readAfter('a', a[0]!.epoch, 1)).toMatchObject({ recovered: true });
    // Another topic: a gives up all it can (its newest stays), b keeps its own.
    store.append('b', '"b1"');
    store.append('b', '"b2"');
    expect(store.bytes).toBe(12);
    expect(store.readAfter('a', a[0]!.epoch, 3)).toMatchObject({ recovered: true });
    expect(store.readAfter('a', a[0]!.epoch, 2)).toMatchObject({ recovered: false, reason: 'trimmed', offset: 3 });
    expect(store.readAfter('b', store.position('b').epoch, 0)).toMatchObject({ recovered: true });
  });

  it('at exactly the total bound another topic keeps its history; a message over the bound by itself is kept, as the newest always is', () => {
    const store = new MemoryTopicStore({ maxBytes: 12 });
    const { epoch } = store.append('a', '"a1"');
    store.append('a', '"a2"');
    store.append('b', '"b1"');
    expect(store.bytes).toBe(12);
    expect(store.readAfter('a', epoch, 0)).toMatchObject({ recovered: true });
    const big = store.append('c', `"${'x'.repeat(20)}"`);
    expect(store.bytes).toBe(4 + 4 + 22);
    expect(store.readAfter('c', big.epoch, 0)).toMatchObject({ recovered: true });
    // The same in a topic that already dropped messages: its older ones go, the big one stays.
    const trimmed = new MemoryTopicStore({ maxBytes: 12, maxEntriesPerTopic: 2 });
    for (const payload of ['"a1"', '"a2"', '"a3"']) trimmed.append('a', payload);
    const last = trimmed.append('a', `"${'x'.repeat(20)}"`);
    expect(trimmed.bytes).toBe(22);
    expect(trimmed.readAfter('a', last.epoch, 3)).toMatchObject({ recovered: true, entries: [{ offset: 4 }] });
  });

  it('trims a topic over its byte bound, oldest first', () => {
    const store = new MemoryTopicStore({ maxBytesPerTopic: 8 });
    const { epoch } = store.append('a', '"a1"');
    store.append('a', '"a2"');
    store.append('a', '"a3"');
    expect(store.bytes).toBe(8);
    expect(store.readAfter('a', epoch, 0)).toMatchObject({ recovered: false, reason: 'trimmed', offset: 1 });
  });

  it('keeps a topic at exactly its byte bound and a message exactly maxAgeMs old', () => {
    let time = 0;
    const store = new MemoryTopicStore({ maxBytesPerTopic: 8, maxAgeMs: 100, now: () => time });
    const { epoch } = store.append('a', '"a1"');
    store.append('a', '"a2"');
    time = 100;
    expect(store.readAfter('a', epoch, 0)).toMatchObject({ recovered: true });
    time = 101;
    expect(store.readAfter('a', epoch, 0)).toMatchObject({ recovered: false, reason: 'trimmed', offset: 1 });
  });

  it('an offset below 0 or not an integer is future_offset, told where the topic stands', () => {
    const store = new MemoryTopicStore();
    const { epoch } = store.append('a', '"a1"');
    for (const offset of [-1, 0.5, Number.NaN]) expect(store.readAfter('a', epoch, offset)).toEqual({ recovered: false, reason: 'future_offset', epoch, offset: 1 });
  });

  it('reads the right messages after many were trimmed (dropped entries are released in chunks)', () => {
    const store = new MemoryTopicStore({ maxEntriesPerTopic: 10 });
    const { epoch } = store.position('a');
    for (let i = 1; i <= 300; i++) {
      store.append('a', String(i));
      const read = store.readAfter('a', epoch, i - 1);
      expect(read.recovered && read.entries.map((entry) => entry.payload)).toEqual([String(i)]);
    }
    const read = store.readAfter('a', epoch, 290);
    expect(read.recovered && read.entries.map((entry) => entry.offset)).toEqual(Array.from({ length: 10 }, (_, i) => 291 + i));
    expect(store.readAfter('a', epoch, 289)).toMatchObject({ recovered: false, reason: 'trimmed', offset: 290 });
  });
});
