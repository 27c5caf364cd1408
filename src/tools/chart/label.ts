/** Wording shared by every chart format, so the formats label a machine alike. */
import type { ChartState, ChartTransition } from '../../core/machine-graph.js';

/**
 * Marks a file as output of the chart generators.
 *
 * @param {string} name The machine's name: `connection` for machines/connection.machine.ts
 * @returns {string} One line
 */
export function generatedNote(name: string): string {
  return `Generated from machines/${name}.machine.ts by \`npm run charts\`; do not edit.`;
}

/**
 * An edge label: the event, then the guard in brackets if there is one,
 * e.g. `TRANSPORT_CLOSED [afterTransportError]`.
 *
 * @param {ChartTransition} transition A transition of the chart
 * @returns {string} Its label
 */
export function transitionLabel(transition: ChartTransition): string {
  return transition.guard === undefined ? transition.event : `${transition.event} [${transition.guard}]`;
}

/**
 * How a targetless transition reads inside its state: `after heartbeatInterval / sendPing`.
 *
 * @param {ChartTransition} transition A transition without a target
 * @returns {string} The label followed by its actions
 */
export function internalLabel(transition: ChartTransition): string {
  const label = transitionLabel(transition);
  return transition.actions.length === 0 ? label : `${label} / ${transition.actions.join(', ')}`;
}

/**
 * What is written inside a state: its entry actions, invoked actors, tags,
 * meta and targetless transitions, one line each.
 *
 * @param {ChartState} state A state of the chart
 * @returns {string[]} The lines; none for a plain state
 */
export function insideLines(state: ChartState): string[] {
  const lines: string[] = [];
  if (state.entry.length > 0) lines.push(`entry / ${state.entry.join(', ')}`);
  if (state.invoke.length > 0) lines.push(`invoke / ${state.invoke.join(', ')}`);
  if (state.tags.length > 0) lines.push(`tags / ${state.tags.join(', ')}`);
  for (const [key, value] of Object.entries(state.meta ?? {})) lines.push(`meta / ${key}: ${String(value)}`);
  for (const t of state.transitions) if (t.target === undefined) lines.push(internalLabel(t));
  return lines;
}

/**
 * The name each state goes by in a chart: its key where no other state
 * has that key, else its id with dots as underscores.
 *
 * @param {ChartState[]} chart From `readChart()`
 * @returns {Map<string, string>} State id -> name
 */
export function chartNames(chart: readonly ChartState[]): Map<string, string> {
  const count = new Map<string, number>();
  for (const state of chart) count.set(state.name, (count.get(state.name) ?? 0) + 1);
  return new Map(chart.map((state) => [state.id, count.get(state.name) === 1 ? state.name : state.id.replace(/\./g, '_')]));
}

/**
 * The children of `parent` (the top level for `undefined`), in definition order.
 *
 * @param {ChartState[]} chart From `readChart()`
 * @param {string | undefined} parent A state id
 * @returns {ChartState[]} Its direct children
 */
export function childrenOf(chart: readonly ChartState[], parent: string | undefined): ChartState[] {
  return chart.filter((state) => state.parent === parent);
}
