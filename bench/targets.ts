/** The performance targets, as checks on result rows, and the table that shows them. */
import type { ResultRow } from './results.js';

/** A target one row is held to. */
export interface Target {
  /** e.g. `>= 0.95x`. */
  text: string;
  met(row: ResultRow): boolean;
}

const atLeast = (ratio: number): Target => ({ text: `>= ${ratio}x`, met: (row) => row.ratio >= ratio });
const atMost = (ratio: number): Target => ({ text: `<= ${ratio}x`, met: (row) => row.ratio <= ratio });
const extraAtMost = (bytes: number): Target => ({
  text: `<= +${bytes / 1024} KiB`,
  met: (row) => row.median - row.baseline_median <= bytes
});

/**
 * @param {ResultRow} row A result row
 * @returns {Target | undefined} The target for that scenario, metric and baseline, if there is one
 */
export function targetFor(row: ResultRow): Target | undefined {
  const { scenario, metric, baseline } = row;
  // Raw ws with the chart's actor and no binding measures the design's floor; the targets are this module's.
  if (row.subject === 'ws+actor') return undefined;
  if (scenario.startsWith('send-') && metric === 'msgs_per_sec' && baseline === 'ws.send') return atLeast(0.95);
  if (scenario.startsWith('broadcast-') && metric === 'msgs_per_sec') {
    if (baseline === 'ws-loop') return atLeast(0.95);
    if (baseline === 'socket.io') return atLeast(1.5);
  }
  if (scenario.startsWith('broadcast-') && metric === 'p99_latency_ms' && baseline === 'ws-loop') return atMost(1.1);
  if (scenario === 'churn' && metric === 'connections_per_sec' && baseline === 'ws') return atLeast(0.9);
  if (scenario === 'churn' && metric === 'connections_per_sec' && baseline === 'socket.io') return atLeast(2);
  // #14 halved the first target's 4 KiB.
  if (scenario.startsWith('memory-') && metric === 'heap_bytes_per_connection' && baseline === 'ws') return extraAtMost(2048);
  if (scenario.startsWith('sessions-') && metric === 'msgs_per_sec') {
    if (baseline === 'plain') return atLeast(0.9);
    if (baseline === 'socket.io') return atLeast(1.5);
  }
  if (scenario.startsWith('cluster-') && baseline === 'socket.io') {
    if (metric === 'msgs_per_sec') return atLeast(1.5);
    if (metric === 'resume_ms') return atMost(1.2);
  }
  if (scenario === 'storm-10000' && metric === 'storm_total_ms') {
    if (baseline === 'ws') return atMost(1.15);
    if (baseline === 'socket.io') return atMost(0.5);
  }
  if (metric === 'lost_messages' || metric === 'duplicated_messages') return { text: '= 0', met: (row) => row.max === 0 };
  return undefined;
}

/** A number for people: integers with separators from 100 up, 3 significant digits below. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  return Number(value.toPrecision(3)).toString();
}

/**
 * The rows as a Markdown table, with the target and whether it is met.
 *
 * @param {readonly ResultRow[]} rows Result rows
 * @returns {string} Markdown, one line per row
 */
export function formatTable(rows: readonly ResultRow[]): string {
  const lines = [
    '| scenario | metric | subject | baseline | subject median (min-max) | baseline median (min-max) | ratio | target |',
    '| --- | --- | --- | --- | ---: | ---: | ---: | --- |'
  ];
  for (const row of rows) {
    const target = targetFor(row);
    const verdict = target ? `${target.text} ${target.met(row) ? 'met' : '**missed**'}` : '';
    const s = `${formatNumber(row.median)} (${formatNumber(row.min)}-${formatNumber(row.max)})`;
    const b = `${formatNumber(row.baseline_median)} (${formatNumber(row.baseline_min)}-${formatNumber(row.baseline_max)})`;
    lines.push(
      `| ${row.scenario} | ${row.metric} | ${row.subject} | ${row.baseline} | ${s} | ${b} | ${row.ratio.toFixed(3)} | ${verdict} |`
    );
  }
  return lines.join('\n');
}
