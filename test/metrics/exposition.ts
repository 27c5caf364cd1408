/**
 * A reader of the Prometheus text exposition, for the metrics tests: each
 * sample's name, labels and value, and sums over the samples whose labels
 * match.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/**
 * @param {string} text A Prometheus text exposition
 * @returns {Sample[]} Every sample line, in order
 * @throws {Error} Naming a line that is neither a comment nor a sample
 */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE.exec(line);
    if (match === null) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(LABEL)) labels[key!] = value!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/**
 * The sum of the samples named `name` whose labels match: a string must be
 * equal, `undefined` must be absent; labels not named may be anything.
 *
 * @param {Sample[]} samples A parsed exposition
 * @param {string} name The sample name (`..._total`, `..._count`)
 * @param {Record<string, string | undefined>} [match] Labels to match
 * @returns {number} The sum (0 when none match)
 */
export function total(samples: readonly Sample[], name: string, match: Record<string, string | undefined> = {}): number {
  let sum = 0;
  for (const sample of samples) {
    if (sample.name !== name) continue;
    if (Object.entries(match).every(([key, value]) => sample.labels[key] === value)) sum += sample.value;
  }
  return sum;
}

/**
 * The values one label takes among the samples named `name`, each with the
 * sum of its samples.
 *
 * @param {Sample[]} samples A parsed exposition
 * @param {string} name The sample name
 * @param {string} label The label
 * @param {Record<string, string | undefined>} [match] Other labels to match, as in {@link total}
 * @returns {Record<string, number>} Value -> sum; samples without the label are left out
 */
export function byLabel(
  samples: readonly Sample[],
  name: string,
  label: string,
  match: Record<string, string | undefined> = {}
): Record<string, number> {
  const sums: Record<string, number> = {};
  for (const sample of samples) {
    const value = sample.labels[label];
    if (sample.name !== name || value === undefined) continue;
    if (!Object.entries(match).every(([key, expected]) => sample.labels[key] === expected)) continue;
    sums[value] = (sums[value] ?? 0) + sample.value;
  }
  return sums;
}
