/** A number given on a demo's command line, checked: what both cluster demos parse their options with. */

/**
 * @param {string} name The option, without its dashes (for the error)
 * @param {string | undefined} value What was given, if anything
 * @param {number} min Smallest accepted
 * @param {number} max Largest accepted
 * @returns {number | undefined} The number, or undefined when not given
 * @throws {RangeError} Naming the option and the value when it is not a number in range
 */
export function numberOption(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max) throw new RangeError(`Invalid --${name}: ${JSON.stringify(value)} (expected a number from ${min} to ${max})`);
  return n;
}
