/** The chart as a Graphviz DOT digraph; the SVG is rendered from it. */
import type { ChartState } from '../../core/machine-graph.js';
import { chartNames, childrenOf, generatedNote, insideLines, transitionLabel } from './label.js';

/**
 * @param {string} text Any text
 * @returns {string} It made safe inside a DOT double-quoted string
 */
export function dotEscape(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
}

/**
 * @param {string} text Any text
 * @returns {string} It as a DOT double-quoted string
 */
export function dotString(text: string): string {
  return `"${dotEscape(text)}"`;
}

/** A label: the name centred (`\n`), each inside line left-aligned (`\l`). */
function label(name: string, inside: readonly string[]): string {
  return inside.length === 0 ? dotString(name) : `"${dotEscape(name)}\\n${inside.map((line) => `${dotEscape(line)}\\l`).join('')}"`;
}

/**
 * The DOT text, e.g. `docs/connection.dot`: a node per state without
 * children (the final one double-bordered), a cluster per parent, an entry
 * point before each initial state, an edge per transition with a target
 * (delays dashed). An edge from or to a parent is drawn from its first
 * child to its initial one, clipped at the cluster (`ltail`, `lhead`).
 *
 * @param {ChartState[]} chart From `readChart()`
 * @param {string} name The machine's name, e.g. `connection`
 * @returns {string} The digraph
 */
export function dotGraph(chart: readonly ChartState[], name: string): string {
  const names = chartNames(chart);
  const isParent = (id: string): boolean => childrenOf(chart, id).length > 0;
  const cluster = (id: string): string => `cluster_${names.get(id)}`;
  const start = (parent: string | undefined): string => (parent === undefined ? '__start' : `__start_${names.get(parent)}`);
  /** The node an edge to a parent points at: its initial child, down to a node. */
  const headOf = (id: string): string => {
    const children = childrenOf(chart, id);
    if (children.length === 0) return id;
    return headOf((children.find((state) => state.initial) ?? children[0]!).id);
  };
  const lines = [
    `// ${generatedNote(name)}`,
    // Quoted: a name may be a DOT keyword (`node`, `graph`, `edge`).
    `digraph "${name}" {`,
    '  rankdir=LR;',
    '  compound=true;',
    '  node [shape=box, style=rounded, fontname="Helvetica", fontsize=12];',
    '  graph [fontname="Helvetica", fontsize=12];',
    '  edge [fontname="Helvetica", fontsize=10];'
  ];
  const block = (parent: string | undefined, indent: string): void => {
    lines.push(`${indent}${start(parent)} [shape=point, width=0.15, label=""];`);
    for (const state of childrenOf(chart, parent)) {
      const stateName = names.get(state.id)!;
      if (isParent(state.id)) {
        lines.push(`${indent}subgraph ${dotString(cluster(state.id))} {`);
        lines.push(`${indent}  label=${label(state.name, insideLines(state))};`, `${indent}  labeljust=l;`, `${indent}  style=rounded;`);
        block(state.id, `${indent}  `);
        lines.push(`${indent}}`);
      } else {
        lines.push(`${indent}${dotString(stateName)} [label=${label(state.name, insideLines(state))}${state.final ? ', peripheries=2' : ''}];`);
      }
    }
    for (const state of childrenOf(chart, parent)) {
      if (!state.initial) continue;
      const clip = isParent(state.id) ? ` [lhead=${dotString(cluster(state.id))}]` : '';
      lines.push(`${indent}${start(parent)} -> ${dotString(names.get(headOf(state.id))!)}${clip};`);
    }
  };
  block(undefined, '  ');
  for (const state of chart) {
    for (const t of state.transitions) {
      if (t.target === undefined) continue;
      const attributes = [`label=${dotString(transitionLabel(t))}`];
      if (t.delay !== undefined) attributes.push('style=dashed');
      if (isParent(t.source)) attributes.push(`ltail=${dotString(cluster(t.source))}`);
      if (isParent(t.target)) attributes.push(`lhead=${dotString(cluster(t.target))}`);
      lines.push(`  ${dotString(names.get(headOf(t.source))!)} -> ${dotString(names.get(headOf(t.target))!)} [${attributes.join(', ')}];`);
    }
  }
  lines.push('}', '');
  return lines.join('\n');
}
