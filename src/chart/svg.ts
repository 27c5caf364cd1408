/**
 * The chart as SVG, laid out by Graphviz compiled to WebAssembly
 * (`@viz-js/viz`): offline, no browser, the same bytes for the same DOT.
 */
import { dotGraph } from './dot.js';
import type { ChartState } from '../machine-graph.js';

/**
 * Render `docs/connection.svg` from the DOT graph.
 *
 * @param {ChartState[]} chart From `readChart()`
 * @returns {Promise<string>} The SVG text
 * @throws {Error} If `@viz-js/viz` is not installed (it is a development dependency)
 */
export async function svgImage(chart: readonly ChartState[]): Promise<string> {
  let viz: typeof import('@viz-js/viz');
  try {
    viz = await import('@viz-js/viz');
  } catch {
    throw new Error('SVG output needs the package @viz-js/viz (npm install --save-dev @viz-js/viz)');
  }
  const instance = await viz.instance();
  return instance.renderString(dotGraph(chart), { format: 'svg', engine: 'dot' });
}
