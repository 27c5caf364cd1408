/**
 * The chart as a Markdown page with a Mermaid `stateDiagram-v2`, which
 * GitHub renders, followed by tables of every transition and of what the
 * audit trail may record.
 */
import { lifecycleChart, type ChartState } from '../../core/machine-graph.js';
import { chartNames, childrenOf, generatedNote, insideLines, transitionLabel } from './label.js';

/**
 * The Mermaid state diagram alone: parents as composite states, each with
 * its initial marker; every transition with a target, labelled with its
 * event (delays as `after NAME`) and guard; entry actions, invoked actors,
 * tags, meta and targetless transitions as descriptions of their state.
 *
 * @param {ChartState[]} chart From `readChart()`
 * @returns {string} `stateDiagram-v2` source
 */
export function mermaidDiagram(chart: readonly ChartState[]): string {
  const names = chartNames(chart);
  const lines = ['stateDiagram-v2', '    direction LR'];
  const block = (parent: string | undefined, indent: string): void => {
    for (const state of childrenOf(chart, parent)) {
      if (state.initial) lines.push(`${indent}[*] --> ${names.get(state.id)}`);
    }
    for (const state of childrenOf(chart, parent)) {
      const name = names.get(state.id)!;
      if (name !== state.name) lines.push(`${indent}state "${state.name}" as ${name}`);
      for (const line of insideLines(state)) lines.push(`${indent}${name} : ${line}`);
      if (childrenOf(chart, state.id).length > 0) {
        lines.push(`${indent}state ${name} {`);
        block(state.id, `${indent}    `);
        lines.push(`${indent}}`);
      }
      if (state.final && parent === undefined) lines.push(`${indent}${name} --> [*]`);
    }
  };
  block(undefined, '    ');
  for (const state of chart) {
    for (const t of state.transitions) {
      if (t.target !== undefined) lines.push(`    ${names.get(t.source)} --> ${names.get(t.target)} : ${transitionLabel(t)}`);
    }
  }
  return lines.join('\n');
}

/**
 * The Markdown page, e.g. `docs/connection.md`.
 *
 * @param {ChartState[]} chart From `readChart()`
 * @param {string} name The machine's name, e.g. `connection`
 * @returns {string} Markdown with the diagram and the tables
 */
export function mermaidPage(chart: readonly ChartState[], name: string): string {
  const rows = chart.flatMap((state) =>
    state.transitions.map((t) => `| ${t.source} | ${t.event} | ${t.guard ?? ''} | ${t.target ?? '(stays)'} | ${t.actions.join(', ')} |`)
  );
  const lifecycle = lifecycleChart(chart);
  const recorded = lifecycle.flatMap((state) =>
    state.transitions.filter((t) => t.target !== undefined).map((t) => `| ${t.source} | ${t.event} | ${t.guard ?? ''} | ${t.target} |`)
  );
  const title = `${name[0]!.toUpperCase()}${name.slice(1)}`;
  return [
    `# ${title} state chart`,
    '',
    `<!-- ${generatedNote(name)} -->`,
    '',
    `Every state and transition of the ${name} machine, read from the machine itself. The same`,
    `chart as [SCXML](${name}.scxml), [Graphviz DOT](${name}.dot) and [SVG](${name}.svg).`,
    '',
    '```mermaid',
    mermaidDiagram(chart),
    '```',
    '',
    '## Transitions',
    '',
    'States are named by their path from the top (`live.connected` is `connected` inside `live`);',
    "a transition declared on a parent applies in every state inside it unless a child's own",
    'transition for the same event is taken first. `after NAME` fires when the named delay elapses',
    'in that state: an XState `after` delay, or the timer the state armed with `startTimer(NAME)`',
    'on entry (armed by the binding, replaced by the next state\'s). A guard must hold for the transition to be',
    'taken (the first that holds, in order); `(stays)` runs its actions without changing state.',
    '',
    '| From | Event | Guard | To | Actions |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
    '',
    '## States',
    '',
    'Entry actions run each time the state is entered. A state that runs `reportEntry` is one the',
    'audit trail records. Tags and meta are what the runtime reads from the machine.',
    '',
    '| State | On entry | Tags | Meta |',
    '| --- | --- | --- | --- |',
    ...chart.map((state) => `| ${state.id} | ${state.entry.join(', ')} | ${state.tags.join(', ')} | ${metaText(state)} |`),
    '',
    '## What the audit trail may record',
    '',
    `The transitions between the audited states (${lifecycle.map((state) => `\`${state.name}\``).join(', ')}),`,
    'inherited from parents and taken inside children, as `ws-lifecycle audit verify` checks them.',
    '',
    '| From | Event | Guard | To |',
    '| --- | --- | --- | --- |',
    ...recorded,
    ''
  ].join('\n');
}

function metaText(state: ChartState): string {
  return Object.entries(state.meta ?? {})
    .map(([key, value]) => `${key}: ${String(value)}`)
    .join(', ');
}
