import { describe, expect, it } from 'vitest';
import { Pool } from '../../scripts/soak/pool.js';
import { createRandom } from '../../scripts/soak/random.js';

describe('Pool', () => {
  it('picks only items still in it after deletes from the middle and the end', () => {
    const pool = new Pool<string>();
    for (const item of ['a', 'b', 'c', 'd']) pool.add(item);
    pool.add('a');
    expect(pool.size).toBe(4);
    expect(pool.delete('b')).toBe(true);
    expect(pool.delete('d')).toBe(true);
    expect(pool.delete('b')).toBe(false);
    const random = createRandom(7);
    const seen = new Set<string | undefined>();
    for (let i = 0; i < 200; i++) seen.add(pool.pick(random));
    expect([...seen].sort()).toEqual(['a', 'c']);
    pool.delete('a');
    pool.delete('c');
    expect(pool.pick(random)).toBeUndefined();
  });
});
