/** Counting by key with a bounded number of keys, so tallies cannot grow the heap a soak measures. */

/** Keys past this many are counted under `other`. */
export const MAX_KEYS = 20;

/**
 * Add one to `table[key]`, or to `table.other` once the table has {@link MAX_KEYS} keys.
 *
 * @param {Record<string, number>} table The tally
 * @param {string} key What to count
 * @param {number} [by=1] How much to add
 */
export function tally(table: Record<string, number>, key: string, by = 1): void {
  if (!(key in table) && Object.keys(table).length >= MAX_KEYS) key = 'other';
  table[key] = (table[key] ?? 0) + by;
}

/**
 * The key to count an error under: its `code`, else the start of its message.
 *
 * @param {Error & { code?: string }} error The error
 * @returns {string} The key
 */
export function errorKey(error: Error & { code?: string }): string {
  return error.code ?? error.message.slice(0, 60);
}
