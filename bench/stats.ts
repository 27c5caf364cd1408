/** Order statistics for benchmark samples. */

/**
 * The `q`-quantile of `values` (nearest rank), e.g. 0.5 for the median.
 *
 * @throws {RangeError} If `values` is empty or `q` is outside [0, 1]
 */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) throw new RangeError('quantile of an empty sample');
  if (!(q >= 0 && q <= 1)) throw new RangeError(`Invalid quantile: ${q} (expected 0..1)`);
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1]!;
}

/** Median, minimum and maximum of a non-empty sample. */
export interface Spread {
  median: number;
  min: number;
  max: number;
}

/**
 * @param {readonly number[]} values One value per round
 * @returns {Spread} Median (mean of the middle two for an even count), min, max
 * @throws {RangeError} If `values` is empty
 */
export function spread(values: readonly number[]): Spread {
  if (values.length === 0) throw new RangeError('spread of an empty sample');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}
