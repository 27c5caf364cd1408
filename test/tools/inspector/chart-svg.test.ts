/** The inspector's chart draws any machine's audited states, nested and guarded ones too (#9). */
import { XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { renderChartSvg } from '../../../src/tools/inspector/chart-svg.js';
import { allowedTransitions, lifecycleChart, readChart } from '../../../src/core/machine-graph.js';
import { jobMachine } from '../../machines/job.machine.js';

describe.each([
  ['connection', lifecycleChart()],
  ['job', lifecycleChart(readChart(jobMachine))]
])('the inspector chart of the %s machine', (_name, lifecycle) => {
  it('has a count per audited state and a live count per transition the trail may record', () => {
    const svg = renderChartSvg(lifecycle);
    expect(XMLValidator.validate(svg)).toBe(true);
    for (const state of lifecycle) expect(svg).toContain(`data-count="${state.name}"`);
    for (const key of allowedTransitions(lifecycle)) expect(svg).toContain(`data-key="${key}"`);
    expect(svg.match(/data-key="/g)).toHaveLength(new Set(allowedTransitions(lifecycle)).size + countRepeats(lifecycle));
  });
});

/** Guarded variants of one event between the same states share a key but each gets a label. */
function countRepeats(lifecycle: ReturnType<typeof lifecycleChart>): number {
  const keys = lifecycle.flatMap((s) => s.transitions.filter((t) => t.target !== undefined && t.target !== t.source).map((t) => `${t.source}|${t.event}|${t.target}`));
  return keys.length - new Set(keys).size;
}
