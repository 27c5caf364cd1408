/** The DOT graph and the SVG drawn from it show every state, parent and transition. */
import { XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { chartNames } from '../../../src/tools/chart/label.js';
import { CHART_CASES, label } from './charts.js';

describe.each(CHART_CASES)('the DOT graph and SVG of the $name machine', ({ chart, render }) => {
  const names = chartNames(chart);
  const isParent = (id: string) => chart.some((s) => s.parent === id);

  it('has a cluster per parent, a node per other state, and an edge per transition with a target, delays dashed', async () => {
    const dot = await render('dot');
    for (const state of chart) {
      if (isParent(state.id)) expect(dot).toContain(`subgraph "cluster_${names.get(state.id)}" {`);
      else expect(dot).toMatch(new RegExp(`^\\s*"${names.get(state.id)}" \\[label=`, 'm'));
    }
    const edges = dot.split('\n').filter((line) => line.includes(' -> ') && !line.includes('__start'));
    const expected = chart.flatMap((s) => s.transitions.filter((t) => t.target !== undefined));
    expect(edges).toHaveLength(expected.length);
    expected.forEach((t, i) => {
      expect(edges[i]).toContain(`label="${label(t)}"`);
      expect(edges[i]!.includes('style=dashed'), edges[i]).toBe(t.delay !== undefined);
      expect(edges[i]!.includes(`ltail="cluster_${names.get(t.source)}"`), edges[i]).toBe(isParent(t.source));
    });
  });

  it('is an SVG with a node per state without children, a cluster per parent, and every edge label', async () => {
    const svg = await render('svg');
    expect(XMLValidator.validate(svg)).toBe(true);
    expect(svg).toContain('xmlns="http://www.w3.org/2000/svg"');
    const titles = (id: string, kind: string) => [...svg.matchAll(new RegExp(`<g id="${id}\\d+" class="${kind}">\\n<title>([^<]+)</title>`, 'g'))].map((m) => m[1]);
    const leaves = chart.filter((s) => !isParent(s.id)).map((s) => names.get(s.id)!);
    expect(titles('node', 'node').filter((t) => !t!.startsWith('__start')).sort()).toEqual(leaves.sort());
    expect(titles('clust', 'cluster').sort()).toEqual(chart.filter((s) => isParent(s.id)).map((s) => `cluster_${names.get(s.id)}`).sort());
    for (const t of chart.flatMap((s) => s.transitions.filter((t) => t.target !== undefined))) expect(svg).toContain(`>${label(t)}</text>`);
  });
});
