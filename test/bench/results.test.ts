/** The pieces of the benchmark that decide what a number means: statistics, result checks, targets. */
import { describe, expect, it } from 'vitest';
import { replaceResultsTable } from '../../bench/plot.js';
import { Samples, validateResults, type ResultRow } from '../../bench/results.js';
import { quantile, spread } from '../../bench/stats.js';
import { formatTable, targetFor } from '../../bench/targets.js';

function row(overrides: Partial<ResultRow> = {}): ResultRow {
  return {
    scenario: 'send-100B',
    metric: 'msgs_per_sec',
    unit: 'msg/s',
    subject: 'manager.send',
    baseline: 'ws.send',
    median: 95,
    min: 90,
    max: 99,
    ratio: 0.95,
    baseline_median: 100,
    baseline_min: 98,
    baseline_max: 103,
    rounds: 5,
    ...overrides
  };
}

describe('stats', () => {
  it('takes nearest-rank quantiles and the median of an even sample', () => {
    const values = [5, 1, 4, 2, 3];
    expect(quantile(values, 0.5)).toBe(3);
    expect(quantile(values, 0.99)).toBe(5);
    expect(quantile(values, 0)).toBe(1);
    expect(spread([4, 1, 3, 2])).toEqual({ median: 2.5, min: 1, max: 4 });
    expect(values).toEqual([5, 1, 4, 2, 3]);
  });

  it('refuses empty samples and quantiles outside [0, 1]', () => {
    expect(() => quantile([], 0.5)).toThrow(RangeError);
    expect(() => quantile([1], 1.5)).toThrow('Invalid quantile: 1.5');
    expect(() => spread([])).toThrow(RangeError);
  });
});

describe('Samples', () => {
  it('builds a row from the medians of subject and baseline', () => {
    const samples = new Samples();
    for (const v of [10, 30, 20]) samples.add('a', 'msgs_per_sec', v);
    for (const v of [40, 40, 50]) samples.add('b', 'msgs_per_sec', v);
    expect(samples.row('s', 'msgs_per_sec', 'a', 'b')).toEqual({
      scenario: 's',
      metric: 'msgs_per_sec',
      unit: 'msg/s',
      subject: 'a',
      baseline: 'b',
      median: 20,
      min: 10,
      max: 30,
      ratio: 0.5,
      baseline_median: 40,
      baseline_min: 40,
      baseline_max: 50,
      rounds: 3
    });
  });

  it('refuses non-finite values and rows without samples', () => {
    const samples = new Samples();
    expect(() => samples.add('a', 'msgs_per_sec', Number.NaN)).toThrow('not a finite number');
    expect(() => samples.row('s', 'msgs_per_sec', 'a', 'b')).toThrow('No samples for a msgs_per_sec');
  });
});

describe('validateResults', () => {
  it('accepts well-formed rows', () => {
    const results = { rows: [row()] };
    expect(validateResults(results)).toBe(results);
  });

  it.each([
    ['no rows array', { results: [] }, '"rows" array'],
    ['empty rows', { rows: [] }, 'empty'],
    ['a missing string field', { rows: [row({ subject: '' })] }, 'row 0 field subject'],
    ['an unknown metric', { rows: [row({ metric: 'speed' as ResultRow['metric'] })] }, 'unknown metric "speed"'],
    ['a non-finite number', { rows: [row(), row({ ratio: Number.POSITIVE_INFINITY })] }, 'row 1 field ratio'],
    ['a median outside its range', { rows: [row({ median: 100 })] }, 'outside [90, 99]']
  ])('rejects %s', (_what, value, message) => {
    expect(() => validateResults(value)).toThrow(message);
  });
});

describe('targets', () => {
  it('holds send throughput to 0.95x of ws.send', () => {
    expect(targetFor(row({ ratio: 0.95 }))?.met(row({ ratio: 0.95 }))).toBe(true);
    expect(targetFor(row({ ratio: 0.94 }))?.met(row({ ratio: 0.94 }))).toBe(false);
    expect(targetFor(row({ baseline: 'ws.send+promise' }))).toBeUndefined();
  });

  it('holds broadcast to 1.5x Socket.IO and p99 latency to 1.1x the raw loop', () => {
    const io = row({ scenario: 'broadcast-1000', subject: 'manager.broadcast', baseline: 'socket.io', ratio: 1.49 });
    expect(targetFor(io)?.met(io)).toBe(false);
    const p99 = row({ scenario: 'broadcast-1000', metric: 'p99_latency_ms', baseline: 'ws-loop', ratio: 1.1 });
    expect(targetFor(p99)?.met(p99)).toBe(true);
    expect(targetFor({ ...p99, ratio: 1.11 })?.met({ ...p99, ratio: 1.11 })).toBe(false);
  });

  it('holds extra heap per connection to 2 KiB over raw ws (#14)', () => {
    const memory = row({ scenario: 'memory-10000', metric: 'heap_bytes_per_connection', subject: 'manager', baseline: 'ws' });
    const target = targetFor({ ...memory, median: 5048, min: 5000, max: 5100, baseline_median: 3000 });
    expect(target?.met({ ...memory, median: 5048, baseline_median: 3000 })).toBe(true);
    expect(targetFor(memory)?.met({ ...memory, median: 5049, baseline_median: 3000 })).toBe(false);
  });

  it('holds no reference row to a target: raw ws with only the actor is not this module (#14)', () => {
    const reference = row({ scenario: 'churn', metric: 'connections_per_sec', subject: 'ws+actor', baseline: 'ws', ratio: 0.5 });
    expect(targetFor(reference)).toBeUndefined();
    expect(targetFor({ ...reference, subject: 'manager' })?.met({ ...reference, subject: 'manager' })).toBe(false);
  });

  it('prints a table line per row with the verdict', () => {
    const table = formatTable([row({ ratio: 0.9 }), row({ metric: 'server_cpu_us_per_msg', unit: 'us' })]).split('\n');
    expect(table).toHaveLength(4);
    expect(table[2]).toContain('>= 0.95x **missed**');
    expect(table[3]).not.toContain('0.95x');
  });
});

describe('replaceResultsTable', () => {
  it('replaces only what lies between the markers', () => {
    const doc = 'intro\n<!-- results:start -->\nold table\n<!-- results:end -->\noutro\n';
    expect(replaceResultsTable(doc, '| new |')).toBe('intro\n<!-- results:start -->\n| new |\n<!-- results:end -->\noutro\n');
  });

  it('refuses a file without the markers', () => {
    expect(() => replaceResultsTable('no markers here', '| t |')).toThrow('<!-- results:start -->');
  });
});
