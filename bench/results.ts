/**
 * Result rows: one per scenario, metric and baseline, with the subject's
 * median and spread over rounds and the ratio of medians. Shared by the
 * runner (which writes them), the plot and the benchmark's own test.
 */
import { spread } from './stats.js';

/** What each metric measures, its unit, and which way is better. */
export const METRICS = {
  msgs_per_sec: { unit: 'msg/s', better: 'higher' },
  connections_per_sec: { unit: 'conn/s', better: 'higher' },
  p50_latency_ms: { unit: 'ms', better: 'lower' },
  p99_latency_ms: { unit: 'ms', better: 'lower' },
  server_cpu_us_per_msg: { unit: 'us', better: 'lower' },
  server_cpu_us_per_connection: { unit: 'us', better: 'lower' },
  heap_bytes_per_connection: { unit: 'B', better: 'lower' },
  rss_bytes_per_connection: { unit: 'B', better: 'lower' },
  resume_ms: { unit: 'ms', better: 'lower' },
  lost_messages: { unit: 'msg', better: 'lower' },
  duplicated_messages: { unit: 'msg', better: 'lower' },
  heap_bytes_per_session: { unit: 'B', better: 'lower' },
  storm_total_ms: { unit: 'ms', better: 'lower' },
  storm_p50_ms: { unit: 'ms', better: 'lower' },
  storm_p99_ms: { unit: 'ms', better: 'lower' },
  server_cpu_ms: { unit: 'ms', better: 'lower' },
  client_cpu_ms: { unit: 'ms', better: 'lower' },
  peak_heap_bytes: { unit: 'B', better: 'lower' }
} as const satisfies Record<string, { unit: string; better: 'higher' | 'lower' }>;

export type Metric = keyof typeof METRICS;

export interface ResultRow {
  scenario: string;
  metric: Metric;
  unit: string;
  /** What is measured: a ws-lifecycle API. */
  subject: string;
  /** What it is compared with, measured in the same run. */
  baseline: string;
  /** The subject's median over rounds, and its spread. */
  median: number;
  min: number;
  max: number;
  /** subject median / baseline median. */
  ratio: number;
  /** The baseline's median over rounds, and its spread. */
  baseline_median: number;
  baseline_min: number;
  baseline_max: number;
  /** Rounds measured (per subject). */
  rounds: number;
}

export interface Results {
  rows: ResultRow[];
}

/** Values per subject and metric, one per round. */
export class Samples {
  readonly #values = new Map<string, number[]>();

  /** Record one round's value. */
  add(subject: string, metric: Metric, value: number): void {
    if (!Number.isFinite(value)) throw new RangeError(`${subject} ${metric}: not a finite number: ${value}`);
    const key = `${subject}\u0000${metric}`;
    const list = this.#values.get(key);
    if (list) list.push(value);
    else this.#values.set(key, [value]);
  }

  /** Record several metrics of one round. */
  addAll(subject: string, values: Partial<Record<Metric, number>>): void {
    for (const [metric, value] of Object.entries(values)) this.add(subject, metric as Metric, value);
  }

  /**
   * @returns {number[]} Every round's value
   * @throws {Error} If nothing was recorded for that subject and metric
   */
  values(subject: string, metric: Metric): number[] {
    const list = this.#values.get(`${subject}\u0000${metric}`);
    if (!list || list.length === 0) throw new Error(`No samples for ${subject} ${metric}`);
    return list;
  }

  /** One row comparing `subject` with `baseline` on `metric`. */
  row(scenario: string, metric: Metric, subject: string, baseline: string): ResultRow {
    const s = spread(this.values(subject, metric));
    const b = spread(this.values(baseline, metric));
    if (b.median === 0 && s.median !== 0) {
      throw new Error(`${scenario} ${metric}: baseline ${baseline} has median 0, so no ratio; measure more (e.g. more connections)`);
    }
    return {
      scenario,
      metric,
      unit: METRICS[metric].unit,
      subject,
      baseline,
      median: s.median,
      min: s.min,
      max: s.max,
      ratio: b.median === 0 ? 1 : s.median / b.median,
      baseline_median: b.median,
      baseline_min: b.min,
      baseline_max: b.max,
      rounds: this.values(subject, metric).length
    };
  }
}

const NUMBER_FIELDS = ['median', 'min', 'max', 'ratio', 'baseline_median', 'baseline_min', 'baseline_max', 'rounds'] as const;
const STRING_FIELDS = ['scenario', 'metric', 'unit', 'subject', 'baseline'] as const;

/**
 * Check that `value` is a results document: `{ rows: [...] }` with every
 * field present, known metrics and finite numbers.
 *
 * @param {unknown} value Parsed `results.json`
 * @returns {Results} The same value, typed
 * @throws {Error} Naming the first row and field that is wrong
 */
export function validateResults(value: unknown): Results {
  const rows = (value as { rows?: unknown } | null)?.rows;
  if (!Array.isArray(rows)) throw new Error('results: expected an object with a "rows" array');
  if (rows.length === 0) throw new Error('results: "rows" is empty');
  rows.forEach((row: Record<string, unknown>, i) => {
    for (const field of STRING_FIELDS) {
      if (typeof row[field] !== 'string' || row[field] === '') {
        throw new Error(`results: row ${i} field ${field} is ${JSON.stringify(row[field])}, expected a non-empty string`);
      }
    }
    if (!(row.metric as string in METRICS)) throw new Error(`results: row ${i} has unknown metric ${JSON.stringify(row.metric)}`);
    for (const field of NUMBER_FIELDS) {
      if (typeof row[field] !== 'number' || !Number.isFinite(row[field])) {
        throw new Error(`results: row ${i} field ${field} is ${JSON.stringify(row[field])}, expected a finite number`);
      }
    }
    if (!((row.min as number) <= (row.median as number) && (row.median as number) <= (row.max as number))) {
      throw new Error(`results: row ${i} has median ${String(row.median)} outside [${String(row.min)}, ${String(row.max)}]`);
    }
  });
  return value as Results;
}
