/** The Mermaid page lists every state, parent and transition of `readChart()`. */
import { describe, expect, it } from 'vitest';
import { chartNames } from '../../../src/tools/chart/label.js';
import { CHART_CASES, label } from './charts.js';

describe.each(CHART_CASES)('the Mermaid page of the $name machine', ({ chart, render }) => {
  const names = chartNames(chart);
  const diagramOf = async () => {
    const page = await render('mermaid');
    const block = /```mermaid\n([\s\S]*?)\n```/.exec(page);
    return { page, diagram: (block?.[1] ?? '').split('\n').map((line) => line.trim()) };
  };

  it('holds one stateDiagram-v2 block with each initial state marked inside its parent, the final states marked', async () => {
    const { page, diagram } = await diagramOf();
    expect(page.match(/```mermaid/g)).toHaveLength(1);
    expect(diagram[0]).toBe('stateDiagram-v2');
    for (const state of chart.filter((s) => s.initial)) expect(diagram).toContain(`[*] --> ${names.get(state.id)}`);
    for (const state of chart.filter((s) => s.final && s.parent === undefined)) expect(diagram).toContain(`${names.get(state.id)} --> [*]`);
  });

  it('draws every parent as a composite state holding its children', async () => {
    const { diagram } = await diagramOf();
    for (const parent of chart.filter((s) => chart.some((c) => c.parent === s.id))) {
      const open = diagram.indexOf(`state ${names.get(parent.id)} {`);
      expect(open, parent.id).toBeGreaterThan(0);
      const initialChild = chart.find((c) => c.parent === parent.id && c.initial)!;
      expect(diagram[open + 1]).toBe(`[*] --> ${names.get(initialChild.id)}`);
    }
  });

  it('draws every transition with a target, labelled with its event and guard, and nothing else', async () => {
    const { diagram } = await diagramOf();
    const expected = chart.flatMap((s) =>
      s.transitions.filter((t) => t.target !== undefined).map((t) => `${names.get(t.source)} --> ${names.get(t.target!)} : ${label(t)}`)
    );
    expect(diagram.filter((line) => / --> /.test(line) && !line.includes('[*]'))).toEqual(expected);
  });

  it('describes each state with its entry actions, invoked actors, tags and targetless transitions', async () => {
    const { diagram } = await diagramOf();
    for (const state of chart) {
      const name = names.get(state.id)!;
      if (state.entry.length > 0) expect(diagram).toContain(`${name} : entry / ${state.entry.join(', ')}`);
      if (state.invoke.length > 0) expect(diagram).toContain(`${name} : invoke / ${state.invoke.join(', ')}`);
      if (state.tags.length > 0) expect(diagram).toContain(`${name} : tags / ${state.tags.join(', ')}`);
      for (const t of state.transitions.filter((t) => t.target === undefined)) expect(diagram).toContain(`${name} : ${label(t)} / ${t.actions.join(', ')}`);
    }
  });

  it('has a table row for every transition and every state', async () => {
    const { page } = await diagramOf();
    for (const state of chart) {
      expect(page).toContain(`| ${state.id} | ${state.entry.join(', ')} | ${state.tags.join(', ')} |`);
      for (const t of state.transitions) {
        expect(page).toContain(`| ${t.source} | ${t.event} | ${t.guard ?? ''} | ${t.target ?? '(stays)'} | ${t.actions.join(', ')} |`);
      }
    }
  });
});
