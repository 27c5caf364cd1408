/**
 * Ids held for as long as what they name lives: a connection's, a topic
 * epoch's. Node 20's `crypto.randomUUID` builds its string by concatenation,
 * which V8 keeps as a tree of 14 pieces: 491 B of heap per id, where the
 * same 36 characters in one string take 57 B. Copying it once through bytes
 * costs about 0.4 us and saves 434 B per idle connection (#14, heap
 * snapshots in docs/benchmarks.md).
 */
import { randomUUID } from 'node:crypto';

/** @returns {string} A random UUID (v4) in one flat string */
export function newId(): string {
  return Buffer.from(randomUUID(), 'latin1').toString('latin1');
}
