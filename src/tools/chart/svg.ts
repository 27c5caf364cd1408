/**
 * The chart as SVG, laid out by Graphviz compiled to WebAssembly
 * (`@viz-js/viz`): offline, no browser, the same bytes for the same DOT.
 */
import type * as VizModule from '@viz-js/viz';
import { loadPeer } from '../../core/optional-peer.js';
import { dotGraph } from './dot.js';
import type { ChartState } from '../../core/machine-graph.js';

/** One Graphviz instance per process: compiling the WebAssembly is the slow part. */
let viz: Promise<VizModule.Viz> | undefined;

/**
 * Lay out a DOT graph with Graphviz's `dot` engine.
 *
 * @param {string} dot A digraph
 * @returns {Promise<string>} The SVG document Graphviz writes
 * @throws {Error} If the optional peer dependency `@viz-js/viz` is not installed, or Graphviz rejects the graph
 */
export async function renderDot(dot: string): Promise<string> {
  viz ??= loadPeer<typeof VizModule>('@viz-js/viz', 'SVG charts').then((module) => module.instance());
  const instance = await viz.catch((error: unknown) => {
    // Not cached: a peer installed later is found by the next call.
    viz = undefined;
    throw error;
  });
  return instance.renderString(dot, { format: 'svg', engine: 'dot' });
}

/**
 * Render the SVG, e.g. `docs/connection.svg`, from the DOT graph.
 *
 * @param {ChartState[]} chart From `readChart()`
 * @param {string} name The machine's name, e.g. `connection`
 * @returns {Promise<string>} The SVG text
 * @throws {Error} If the optional peer dependency `@viz-js/viz` is not installed
 */
export function svgImage(chart: readonly ChartState[], name: string): Promise<string> {
  return renderDot(dotGraph(chart, name));
}
