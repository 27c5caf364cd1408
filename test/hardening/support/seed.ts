/** One fast-check seed per test file: printed, and replayable with FC_SEED. */

/**
 * The seed to run fast-check with: `FC_SEED` if set, else a fresh one.
 * Printed either way so a failing run can be replayed.
 *
 * @param {string} file Which test file, for the message
 * @returns {number} A 32-bit seed
 * @throws {RangeError} If FC_SEED is not an integer
 */
export function fastCheckSeed(file: string): number {
  const fromEnv = process.env.FC_SEED;
  const seed = fromEnv === undefined || fromEnv === '' ? (Date.now() ^ (Math.random() * 0x7fffffff)) | 0 : Number(fromEnv);
  if (!Number.isInteger(seed)) throw new RangeError(`FC_SEED must be an integer, got ${fromEnv}`);
  console.log(`${file}: fast-check seed ${seed} (replay with FC_SEED=${seed})`);
  return seed;
}
