/** The chart as a Graphviz DOT digraph; the SVG is rendered from it. */
import type { ChartState } from '../machine-graph.js';
import { GENERATED_NOTE, entryLines, internalLabel, transitionLabel } from './label.js';

/** Text made safe inside a DOT double-quoted string. */
function escape(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
}

/** A DOT double-quoted string. */
function quote(text: string): string {
  return `"${escape(text)}"`;
}

/**
 * The DOT text `docs/connection.dot`: a node per state (the final one
 * double-bordered, an entry point before the initial one), an edge per
 * transition with a target (delays dashed), and targetless transitions
 * listed inside their state's node.
 *
 * @param {ChartState[]} chart From `readChart()`
 * @returns {string} The digraph
 */
export function dotGraph(chart: readonly ChartState[]): string {
  const lines = [
    `// ${GENERATED_NOTE}`,
    'digraph connection {',
    '  rankdir=LR;',
    '  node [shape=box, style=rounded, fontname="Helvetica", fontsize=12];',
    '  edge [fontname="Helvetica", fontsize=10];',
    '  __start [shape=point, width=0.15, label=""];'
  ];
  for (const state of chart) {
    const internal = [...entryLines(state), ...state.transitions.filter((t) => t.target === undefined).map(internalLabel)];
    // In a label, \n ends a centred line (the name) and \l a left-aligned one.
    const label =
      internal.length === 0
        ? quote(state.name)
        : `"${escape(state.name)}\\n${internal.map((line) => `${escape(line)}\\l`).join('')}"`;
    lines.push(`  ${quote(state.name)} [label=${label}${state.final ? ', peripheries=2' : ''}];`);
  }
  for (const state of chart) {
    if (state.initial) lines.push(`  __start -> ${quote(state.name)};`);
  }
  for (const state of chart) {
    for (const t of state.transitions) {
      if (t.target === undefined) continue;
      const style = t.delay === undefined ? '' : ', style=dashed';
      lines.push(`  ${quote(t.source)} -> ${quote(t.target)} [label=${quote(transitionLabel(t))}${style}];`);
    }
  }
  lines.push('}', '');
  return lines.join('\n');
}
