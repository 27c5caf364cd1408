/**
 * Charts of the machines in four formats, each generated from
 * `readChart()` so they cannot drift from the machine, and the files they
 * are kept in under `docs/`.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AnyStateMachine } from 'xstate';
import { connectionMachine } from '../../../machines/connection.machine.js';
import { clientMachine } from '../../../machines/client.machine.js';
import { nodeMachine } from '../../../machines/node.machine.js';
import { sessionMachine } from '../../../machines/session.machine.js';
import { readChart, type ChartState } from '../../core/machine-graph.js';
import { dotGraph } from './dot.js';
import { mermaidPage } from './mermaid.js';
import { scxmlDocument } from './scxml.js';
import { svgImage } from './svg.js';

export { allowedTransitions, eventLabel, lifecycleChart, readChart, transitionKey } from '../../core/machine-graph.js';
export type { ChartState, ChartTransition } from '../../core/machine-graph.js';

/** The chart formats, in the order they are generated. */
export const CHART_FORMATS = ['mermaid', 'scxml', 'dot', 'svg'] as const;

/** One of `mermaid`, `scxml`, `dot`, `svg`. */
export type ChartFormat = (typeof CHART_FORMATS)[number];

/** The extension of each format's file. */
const EXTENSIONS: Readonly<Record<ChartFormat, string>> = Object.freeze({ mermaid: 'md', scxml: 'scxml', dot: 'dot', svg: 'svg' });

/** The machines charted under `docs/`, by name: `connection` is `machines/connection.machine.ts`. */
export const CHARTED_MACHINES: Readonly<Record<string, AnyStateMachine>> = Object.freeze({
  connection: connectionMachine,
  session: sessionMachine,
  client: clientMachine,
  node: nodeMachine
});

/**
 * @param {string} name A machine's name
 * @param {ChartFormat} format A format
 * @returns {string} The file that chart is kept in, e.g. `connection.md`
 */
export function chartFile(name: string, format: ChartFormat): string {
  return `${name}.${EXTENSIONS[format]}`;
}

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
 * @param {ChartState[]} [chart] The machine read by `readChart()`; default the connection machine
 * @param {string} [name='connection'] The machine's name, used in titles and links
 * @returns {Promise<string>} The file's text
 */
export async function renderChart(format: ChartFormat, chart: readonly ChartState[] = readChart(), name = 'connection'): Promise<string> {
  switch (format) {
    case 'mermaid':
      return mermaidPage(chart, name);
    case 'scxml':
      return scxmlDocument(chart, name);
    case 'dot':
      return dotGraph(chart, name);
    case 'svg':
      return svgImage(chart, name);
  }
}

/**
 * Write the charts of every {@link CHARTED_MACHINES} machine into a directory (created if missing).
 *
 * @param {string} dir Target directory
 * @param {readonly ChartFormat[]} [formats] Default: all four
 * @returns {Promise<string[]>} The paths written
 */
export async function writeCharts(dir: string, formats: readonly ChartFormat[] = CHART_FORMATS): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const [name, machine] of Object.entries(CHARTED_MACHINES)) {
    const chart = readChart(machine);
    for (const format of formats) {
      const path = join(dir, chartFile(name, format));
      await writeFile(path, await renderChart(format, chart, name));
      written.push(path);
    }
  }
  return written;
}

/**
 * The chart files in a directory that are missing or differ, byte for
 * byte, from what the machines generate now.
 *
 * @param {string} dir Directory holding the charts
 * @param {readonly ChartFormat[]} [formats] Default: all four
 * @returns {Promise<string[]>} Paths of stale files; empty when all are current
 */
export async function staleCharts(dir: string, formats: readonly ChartFormat[] = CHART_FORMATS): Promise<string[]> {
  const stale: string[] = [];
  for (const [name, machine] of Object.entries(CHARTED_MACHINES)) {
    const chart = readChart(machine);
    for (const format of formats) {
      const path = join(dir, chartFile(name, format));
      const current = await readFile(path).catch(() => undefined);
      if (current === undefined || !current.equals(Buffer.from(await renderChart(format, chart, name)))) stale.push(path);
    }
  }
  return stale;
}
