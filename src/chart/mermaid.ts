/**
 * The chart as a Markdown page with a Mermaid `stateDiagram-v2`, which
 * GitHub renders, followed by a table of every transition.
 */
import type { ChartState } from '../machine-graph.js';
import { GENERATED_NOTE, entryLines, internalLabel, transitionLabel } from './label.js';

/**
 * The Mermaid state diagram alone: every state, every transition labelled
 * with its event (delays as `after NAME`) and guard; entry actions and
 * targetless transitions as a note on their state.
 *
 * @param {ChartState[]} chart From `readChart()`
 * @returns {string} `stateDiagram-v2` source
 */
export function mermaidDiagram(chart: readonly ChartState[]): string {
  const lines = ['stateDiagram-v2', '    direction LR'];
  for (const state of chart) {
    if (state.initial) lines.push(`    [*] --> ${state.name}`);
  }
  for (const state of chart) {
    for (const t of state.transitions) {
      if (t.target !== undefined) lines.push(`    ${t.source} --> ${t.target} : ${transitionLabel(t)}`);
    }
  }
  for (const state of chart) {
    if (state.final) lines.push(`    ${state.name} --> [*]`);
  }
  for (const state of chart) {
    const inside = [...entryLines(state), ...state.transitions.filter((t) => t.target === undefined).map(internalLabel)];
    if (inside.length === 0) continue;
    lines.push(`    note right of ${state.name}`);
    for (const line of inside) lines.push(`        ${line}`);
    lines.push('    end note');
  }
  return lines.join('\n');
}

/**
 * The Markdown page `docs/connection.md`.
 *
 * @param {ChartState[]} chart From `readChart()`
 * @returns {string} Markdown with the diagram and a transition table
 */
export function mermaidPage(chart: readonly ChartState[]): string {
  const rows = chart.flatMap((state) =>
    state.transitions.map(
      (t) =>
        `| ${t.source} | ${t.event} | ${t.guard ?? ''} | ${t.target ?? '(stays)'} | ${t.actions.join(', ')} |`
    )
  );
  return [
    '# Connection state chart',
    '',
    `<!-- ${GENERATED_NOTE} -->`,
    '',
    'Every state and transition of the connection machine, read from the machine itself.',
    'The lifecycle in prose: [lifecycle.md](lifecycle.md). The same chart as',
    '[SCXML](connection.scxml), [Graphviz DOT](connection.dot) and [SVG](connection.svg).',
    '',
    '```mermaid',
    mermaidDiagram(chart),
    '```',
    '',
    '## Transitions',
    '',
    '`after NAME` is a delayed transition: it fires when the named delay elapses in that state.',
    'A guard in brackets must hold for the transition to be taken; `(stays)` marks a transition',
    'that runs its actions without changing state.',
    '',
    '| From | Event | Guard | To | Actions |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
    '',
    '## Entry actions',
    '',
    'Run each time the state is entered, after the actions of the transition that enters it.',
    '',
    '| State | On entry |',
    '| --- | --- |',
    ...chart.map((state) => `| ${state.name} | ${state.entry.join(', ')} |`),
    ''
  ].join('\n');
}
