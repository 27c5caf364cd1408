/**
 * Charts of the connection machine in four formats, each generated from
 * `readChart()` so they cannot drift from the machine, and the files they
 * are kept in under `docs/`.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readChart, type ChartState } from '../machine-graph.js';
import { dotGraph } from './dot.js';
import { mermaidPage } from './mermaid.js';
import { scxmlDocument } from './scxml.js';
import { svgImage } from './svg.js';

/** The chart formats, in the order they are generated. */
export const CHART_FORMATS = ['mermaid', 'scxml', 'dot', 'svg'] as const;

/** One of `mermaid`, `scxml`, `dot`, `svg`. */
export type ChartFormat = (typeof CHART_FORMATS)[number];

/** The file each format is kept in. */
export const CHART_FILES: Readonly<Record<ChartFormat, string>> = Object.freeze({
  mermaid: 'connection.md',
  scxml: 'connection.scxml',
  dot: 'connection.dot',
  svg: 'connection.svg'
});

/**
 * @param {string} value A format name from the user
 * @returns {boolean} Whether it is a {@link ChartFormat}
 */
export function isChartFormat(value: string): value is ChartFormat {
  return (CHART_FORMATS as readonly string[]).includes(value);
}

/**
 * Generate one chart. The output depends on the machine only (no dates,
 * no paths), so it can be compared with the committed file.
 *
 * @param {ChartFormat} format Which chart
 * @param {ChartState[]} [chart] The machine read by `readChart()`
 * @returns {Promise<string>} The file's text
 */
export async function renderChart(format: ChartFormat, chart: readonly ChartState[] = readChart()): Promise<string> {
  switch (format) {
    case 'mermaid':
      return mermaidPage(chart);
    case 'scxml':
      return scxmlDocument(chart);
    case 'dot':
      return dotGraph(chart);
    case 'svg':
      return svgImage(chart);
  }
}

/**
 * Write charts into a directory (created if missing).
 *
 * @param {string} dir Target directory
 * @param {readonly ChartFormat[]} [formats] Default: all four
 * @returns {Promise<string[]>} The paths written
 */
export async function writeCharts(dir: string, formats: readonly ChartFormat[] = CHART_FORMATS): Promise<string[]> {
  const chart = readChart();
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const format of formats) {
    const path = join(dir, CHART_FILES[format]);
    await writeFile(path, await renderChart(format, chart));
    written.push(path);
  }
  return written;
}

/**
 * The chart files in a directory that are missing or differ, byte for
 * byte, from what the machine generates now.
 *
 * @param {string} dir Directory holding the charts
 * @param {readonly ChartFormat[]} [formats] Default: all four
 * @returns {Promise<string[]>} Paths of stale files; empty when all are current
 */
export async function staleCharts(dir: string, formats: readonly ChartFormat[] = CHART_FORMATS): Promise<string[]> {
  const chart = readChart();
  const stale: string[] = [];
  for (const format of formats) {
    const path = join(dir, CHART_FILES[format]);
    const current = await readFile(path).catch(() => undefined);
    if (current === undefined || !current.equals(Buffer.from(await renderChart(format, chart)))) stale.push(path);
  }
  return stale;
}
