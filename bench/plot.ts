/**
 * Draw bench/results.json as a plain SVG: throughput relative to each
 * baseline (with the targets), broadcast latency in milliseconds, and
 * memory per connection. With --markdown, also put the results table into
 * that file between its `<!-- results:start -->` and `<!-- results:end -->`
 * markers, so the prose and the numbers cannot drift apart.
 *
 *   npx tsx bench/plot.ts [bench/results.json] [docs/benchmarks.svg] [--markdown docs/benchmarks.md]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { validateResults, type Metric, type ResultRow, type Results } from './results.js';
import { formatNumber, formatTable, targetFor } from './targets.js';

const START = '<!-- results:start -->';
const END = '<!-- results:end -->';

/**
 * `markdown` with the text between the results markers replaced by `table`.
 *
 * @throws {Error} If the markers are missing or out of order
 */
export function replaceResultsTable(markdown: string, table: string): string {
  const start = markdown.indexOf(START);
  const end = markdown.indexOf(END);
  if (start < 0 || end < start) throw new Error(`Expected ${START} followed by ${END} in the Markdown file`);
  return `${markdown.slice(0, start + START.length)}\n${table}\n${markdown.slice(end)}`;
}

const WIDTH = 960;
const LEFT = 330;
const RIGHT = 40;
const BAR = 16;
const GAP = 6;
const COLORS = { subject: '#2f6db5', baseline: '#b0b7c3', missed: '#c0392b', met: '#2e8b57', grid: '#d9dde3' };

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function text(x: number, y: number, content: string, attrs = ''): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${escape(content)}</text>`;
}

/** A panel: its SVG body and height. */
interface Panel {
  svg: string[];
  height: number;
}

function title(y: number, label: string, note: string): string[] {
  return [text(10, y, label, 'font-size="15" font-weight="bold"'), text(10, y + 16, note, 'font-size="11" fill="#555"')];
}

/** Bars of subject / baseline ratios for the "higher is better" rate metrics. */
function throughputPanel(rows: ResultRow[], top: number): Panel {
  const rates = rows.filter((row) => row.metric === 'msgs_per_sec' || row.metric === 'connections_per_sec');
  const max = Math.max(2, ...rates.map((row) => row.ratio)) * 1.05;
  const plotWidth = WIDTH - LEFT - RIGHT;
  const x = (ratio: number): number => LEFT + (ratio / max) * plotWidth;
  const svg = title(top + 16, 'Throughput relative to baseline (higher is better)', 'bar: ratio of medians (this module / baseline), green = target met, red = missed, blue = no target; line: min-max over rounds; tick: target');
  let y = top + 44;
  for (const tick of [0, 0.5, 1, 1.5, 2, 2.5, 3].filter((t) => t <= max)) {
    svg.push(`<line x1="${x(tick)}" y1="${y - 4}" x2="${x(tick)}" y2="${y + rates.length * (BAR + GAP)}" stroke="${tick === 1 ? '#555' : COLORS.grid}" ${tick === 1 ? 'stroke-dasharray="4 3"' : ''}/>`);
    svg.push(text(x(tick), y + rates.length * (BAR + GAP) + 12, `${tick}x`, 'font-size="10" text-anchor="middle" fill="#555"'));
  }
  for (const row of rates) {
    const target = targetFor(row);
    const color = target ? (target.met(row) ? COLORS.met : COLORS.missed) : COLORS.subject;
    svg.push(text(LEFT - 8, y + BAR - 4, `${row.scenario}: ${row.subject} / ${row.baseline}`, 'font-size="11" text-anchor="end"'));
    svg.push(`<rect x="${LEFT}" y="${y}" width="${(x(row.ratio) - LEFT).toFixed(1)}" height="${BAR}" fill="${color}" opacity="0.85"/>`);
    // The subject's spread over rounds, against the baseline's median.
    const lo = row.min / row.baseline_median;
    const hi = row.max / row.baseline_median;
    svg.push(`<line x1="${x(lo).toFixed(1)}" y1="${y + BAR / 2}" x2="${x(Math.min(hi, max)).toFixed(1)}" y2="${y + BAR / 2}" stroke="#222" stroke-width="1"/>`);
    if (target) {
      const goal = Number(/[\d.]+/.exec(target.text)?.[0]);
      if (Number.isFinite(goal)) svg.push(`<line x1="${x(goal)}" y1="${y - 2}" x2="${x(goal)}" y2="${y + BAR + 2}" stroke="#000" stroke-width="2"/>`);
    }
    const labelX = Math.min(Math.max(x(row.ratio), x(Math.min(hi, max))) + 4, WIDTH - 42);
    svg.push(text(labelX, y + BAR - 4, `${row.ratio.toFixed(2)}x`, 'font-size="11"'));
    y += BAR + GAP;
  }
  return { svg, height: y - top + 24 };
}

/** Grouped bars in absolute units: one group per scenario, one bar per subject or baseline. */
function absolutePanel(rows: ResultRow[], metrics: readonly Metric[], top: number, heading: string, note: string): Panel {
  const groups = new Map<string, { name: string; median: number; min: number; max: number; subject: boolean }[]>();
  for (const row of rows.filter((r) => metrics.includes(r.metric))) {
    const key = `${row.scenario} ${row.metric}`;
    const bars = groups.get(key) ?? [];
    if (!bars.some((bar) => bar.name === row.subject)) {
      bars.push({ name: row.subject, median: row.median, min: row.min, max: row.max, subject: true });
    }
    if (!bars.some((bar) => bar.name === row.baseline)) {
      bars.push({ name: row.baseline, median: row.baseline_median, min: row.baseline_min, max: row.baseline_max, subject: false });
    }
    groups.set(key, bars);
  }
  const svg = title(top + 16, heading, note);
  if (groups.size === 0) return { svg, height: 40 };
  const plotWidth = WIDTH - LEFT - RIGHT - 60;
  let y = top + 44;
  for (const [key, bars] of groups) {
    // Each group on its own scale: 1,000 and 10,000 connections differ tenfold.
    const max = Math.max(...bars.map((bar) => bar.max)) * 1.05 || 1;
    const x = (value: number): number => LEFT + (value / max) * plotWidth;
    svg.push(text(10, y + 11, key, 'font-size="12" font-weight="bold"'));
    y += 16;
    for (const bar of bars) {
      svg.push(text(LEFT - 8, y + BAR - 4, bar.name, 'font-size="11" text-anchor="end"'));
      svg.push(`<rect x="${LEFT}" y="${y}" width="${(x(bar.median) - LEFT).toFixed(1)}" height="${BAR}" fill="${bar.subject ? COLORS.subject : COLORS.baseline}"/>`);
      svg.push(`<line x1="${x(bar.min).toFixed(1)}" y1="${y + BAR / 2}" x2="${x(bar.max).toFixed(1)}" y2="${y + BAR / 2}" stroke="#222"/>`);
      svg.push(text(x(bar.max) + 4, y + BAR - 4, formatNumber(bar.median), 'font-size="11"'));
      y += BAR + GAP;
    }
    y += 6;
  }
  return { svg, height: y - top + 10 };
}

/**
 * The SVG document for a results file.
 *
 * @param {Results} results Validated results
 * @returns {string} SVG text
 */
export function renderSvg(results: Results): string {
  const panels: Panel[] = [];
  let top = 0;
  const add = (make: (top: number) => Panel): void => {
    const panel = make(top);
    panels.push(panel);
    top += panel.height;
  };
  add((t) => throughputPanel(results.rows, t));
  add((t) =>
    absolutePanel(
      results.rows.filter((row) => row.scenario.startsWith('broadcast-')),
      ['p50_latency_ms', 'p99_latency_ms'],
      t,
      'Broadcast latency, ms (lower is better)',
      'from the broadcast call until the last client has the message; bar: median over rounds, line: min-max; each group on its own scale'
    )
  );
  add((t) =>
    absolutePanel(
      results.rows,
      ['heap_bytes_per_connection', 'rss_bytes_per_connection'],
      t,
      'Memory per idle connection, bytes (lower is better)',
      'server process only, after a full GC; bar: median over rounds, line: min-max; each group on its own scale'
    )
  );
  const body = panels.flatMap((panel) => panel.svg).join('\n  ');
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${Math.ceil(top)}" ` +
    `viewBox="0 0 ${WIDTH} ${Math.ceil(top)}" font-family="sans-serif">\n` +
    `  <rect width="100%" height="100%" fill="white"/>\n  ${body}\n</svg>\n`
  );
}

function main(argv: string[]): void {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { markdown: { type: 'string' } } });
  const input = positionals[0] ?? 'bench/results.json';
  const output = positionals[1] ?? 'docs/benchmarks.svg';
  const results = validateResults(JSON.parse(readFileSync(input, 'utf8')));
  writeFileSync(output, renderSvg(results));
  process.stderr.write(`wrote ${output} from ${input} (${results.rows.length} rows)\n`);
  if (values.markdown !== undefined) {
    writeFileSync(values.markdown, replaceResultsTable(readFileSync(values.markdown, 'utf8'), formatTable(results.rows)));
    process.stderr.write(`updated the results table in ${values.markdown}\n`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) main(process.argv.slice(2));
