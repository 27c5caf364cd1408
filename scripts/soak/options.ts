/** Command-line options of `npm run soak`. */
import { parseArgs } from 'node:util';

/** How long and how hard a soak runs. */
export interface SoakOptions {
  /** Length of the main phase. */
  seconds: number;
  /** Churn before the heap baseline is taken (longer, up to 3 times, until enough connections were opened). */
  warmupSeconds: number;
  /** Client sockets open or opening at most. */
  maxLive: number;
  /** Users connections are spread over (`u1` .. `u<users>`). */
  users: number;
  /** Server operations per timer tick. */
  opsPerTick: number;
  /** Seed of the random choices (timing still varies between runs). */
  seed: number;
  /** Write heap snapshots at the baseline and at the end into this folder. */
  heapSnapshots: string | undefined;
}

export const USAGE = `Usage: npm run soak -- [--seconds N] [--warmup N] [--max-live N] [--users N] [--ops-per-tick N]
                        [--seed N] [--heap-snapshots DIR]
  --seconds         length of the main phase (default 30)
  --warmup          churn before the heap baseline (default: a quarter of --seconds, 2 to 10);
                    it goes on, up to 3 times as long, until 2000 connections were opened
  --max-live        client sockets open or opening at most, 1-5000 (default 1000)
  --users           users to spread connections over (default 200)
  --ops-per-tick    server operations per ~1 ms tick (default 10)
  --seed            seed of the random choices (default: random)
  --heap-snapshots  write heap snapshots at the baseline and the end into DIR, to see what grew`;

function number(name: string, raw: string | undefined, fallback: number, min: number, max: number, integer: boolean): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    throw new RangeError(`Invalid --${name}: ${raw} (expected ${integer ? 'an integer' : 'a number'} from ${min} to ${max})`);
  }
  return value;
}

/**
 * Parse the soak's arguments.
 *
 * @param {string[]} argv Arguments after the script name
 * @returns {SoakOptions} The options, defaults filled in
 * @throws {RangeError} On a value out of range
 * @throws {TypeError} On an unknown option (from `parseArgs`)
 */
export function parseSoakArgs(argv: string[]): SoakOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      'max-live': { type: 'string' },
      users: { type: 'string' },
      'ops-per-tick': { type: 'string' },
      seed: { type: 'string' },
      'heap-snapshots': { type: 'string' }
    },
    strict: true
  });
  const seconds = number('seconds', values.seconds, 30, 1, 24 * 3600, false);
  // The JIT keeps compiling for a while; a longer run can afford a longer warm-up before the baseline.
  const warmupByDefault = Math.min(10, Math.max(2, seconds / 4));
  return {
    seconds,
    warmupSeconds: number('warmup', values.warmup, warmupByDefault, 0.5, 600, false),
    maxLive: number('max-live', values['max-live'], 1000, 1, 5000, true),
    users: number('users', values.users, 200, 1, 1_000_000, true),
    opsPerTick: number('ops-per-tick', values['ops-per-tick'], 10, 1, 1000, true),
    seed: number('seed', values.seed, Math.floor(Math.random() * 2 ** 31), 0, 2 ** 32 - 1, true),
    heapSnapshots: values['heap-snapshots']
  };
}
