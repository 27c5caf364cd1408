/**
 * The chart as SVG, laid out by Graphviz compiled to WebAssembly
 * (`@viz-js/viz`): offline, no browser, the same bytes for the same DOT.
 */
import type * as VizModule from '@viz-js/viz';
import { loadPeer } from '../../core/optional-peer.js';
import { dotGraph } from './dot.js';
import type { ChartState } from '../../core/machine-graph.js';

/**
 * Render the SVG, e.g. `docs/connection.svg`, from the DOT graph.
 *
 * @param {ChartState[]} chart From `readChart()`
 * @param {string} name The machine's name, e.g. `connection`
 * @returns {Promise<string>} The SVG text
 * @throws {Error} If the optional peer dependency `@viz-js/viz` is not installed
 */
export async function svgImage(chart: readonly ChartState[], name: string): Promise<string> {
  const viz = await loadPeer<typeof VizModule>('@viz-js/viz', 'SVG charts');
  const instance = await viz.instance();
  return instance.renderString(dotGraph(chart, name), { format: 'svg', engine: 'dot' });
}
