/**
 * src/core/ids.ts (#14): ids held for a connection's life are random UUIDs in
 * one flat string. Node's own `randomUUID` string, kept as it comes, holds
 * a tree of concatenated pieces; the heap per kept id tells them apart.
 */
import { randomUUID } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { newId } from '../../src/core/ids.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapPerId(make: () => string): number {
  const keep: string[] = [];
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 20_000; i++) keep.push(make());
  gc();
  const bytes = (process.memoryUsage().heapUsed - before) / keep.length;
  expect(new Set(keep).size).toBe(keep.length);
  return bytes;
}

describe('newId', () => {
  it('is a random UUID (v4)', () => {
    for (let i = 0; i < 100; i++) expect(newId()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('holds a fraction of the heap of randomUUID kept as it comes', () => {
    const flat = heapPerId(newId);
    const asItComes = heapPerId(() => randomUUID());
    console.log(`heap per kept id: newId ${flat.toFixed(0)} B, randomUUID as it comes ${asItComes.toFixed(0)} B`);
    // 36 characters in one string are 56 B; Node 20's concatenation tree is about 490 B and fails the same bound.
    const BOUND = 120;
    expect(flat).toBeLessThan(BOUND);
    if (process.versions.node.startsWith('20.')) expect(asItComes).toBeGreaterThanOrEqual(BOUND);
  });
});
