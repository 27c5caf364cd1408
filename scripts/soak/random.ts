/** A small seeded PRNG, so a soak run prints a seed that shapes its choices. */

/** Random helpers drawn from one seeded stream. */
export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [min, max]. */
  int(min: number, max: number): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
  /** One entry of a non-empty array. */
  pick<T>(items: readonly T[]): T;
}

/**
 * mulberry32: fast, 32-bit state, good enough to vary a workload.
 *
 * @param {number} seed Any integer
 * @returns {Random} The generator
 */
export function createRandom(seed: number): Random {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    chance: (p) => next() < p,
    pick: (items) => {
      if (items.length === 0) throw new RangeError('pick: the array is empty');
      return items[Math.floor(next() * items.length)]!;
    }
  };
}

/**
 * A chooser that returns a key of `weights` with probability proportional to
 * its weight. The table is built once; each choice allocates nothing.
 *
 * @param {Random} random The stream
 * @param {Record<K, number>} weights Non-negative weights, not all zero
 * @returns {() => K} The chooser
 * @throws {RangeError} If the weights do not add up to a positive number
 */
export function weightedChooser<K extends string>(random: Random, weights: Readonly<Record<K, number>>): () => K {
  const keys = Object.keys(weights) as K[];
  const cumulative: number[] = [];
  let total = 0;
  for (const key of keys) {
    total += weights[key];
    cumulative.push(total);
  }
  if (!(total > 0)) throw new RangeError(`weightedChooser: weights add up to ${total}, expected > 0`);
  return () => {
    const roll = random.next() * total;
    for (let i = 0; i < cumulative.length; i++) if (roll < cumulative[i]!) return keys[i]!;
    return keys[keys.length - 1]!;
  };
}
