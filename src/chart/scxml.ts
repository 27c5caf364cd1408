/**
 * The chart as W3C SCXML. A delay becomes a delayed `<send>` on entry,
 * cancelled on exit, and a transition on the event it raises: this is how
 * SCXML expresses XState's `after`.
 */
import type { ChartState, ChartTransition } from '../machine-graph.js';
import { GENERATED_NOTE } from './label.js';

/** The SCXML namespace. */
export const SCXML_NAMESPACE = 'http://www.w3.org/2005/07/scxml';

/**
 * The SCXML event name of a chart event: `after closeTimeout` (a space
 * would make two event descriptors) becomes `after.closeTimeout`.
 *
 * @param {string} event An event label from `readChart()`
 * @returns {string} A single SCXML event descriptor
 */
export function scxmlEvent(event: string): string {
  return event.replace(/ /g, '.');
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function attributes(pairs: Array<[string, string | undefined]>): string {
  return pairs
    .filter((pair): pair is [string, string] => pair[1] !== undefined)
    .map(([name, value]) => ` ${name}="${escapeXml(value)}"`)
    .join('');
}

function transitionElement(t: ChartTransition): string {
  return `    <transition${attributes([
    ['event', scxmlEvent(t.event)],
    ['cond', t.guard],
    ['target', t.target]
  ])}/>`;
}

/** The delays a state arms on entry, each once. */
function delaysOf(state: ChartState): string[] {
  return [...new Set(state.transitions.flatMap((t) => (t.delay === undefined ? [] : [t.delay])))];
}

/**
 * The SCXML document `docs/connection.scxml`: one `<state>` per state
 * (`<final>` for the final one), one `<transition>` per transition with its
 * event, guard (`cond`) and target; targetless transitions have no target.
 * Delay lengths come from the data model (`<data>` named after the delay).
 *
 * @param {ChartState[]} chart From `readChart()`
 * @returns {string} The XML text
 */
export function scxmlDocument(chart: readonly ChartState[]): string {
  const initial = chart.find((state) => state.initial)?.name;
  const delays = [...new Set(chart.flatMap(delaysOf))];
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<!-- ${GENERATED_NOTE} -->`,
    `<scxml${attributes([
      ['xmlns', SCXML_NAMESPACE],
      ['version', '1.0'],
      ['name', 'connection'],
      ['initial', initial],
      ['datamodel', 'ecmascript']
    ])}>`,
    '  <datamodel>',
    ...delays.map((delay) => `    <data id="${escapeXml(delay)}"/>`),
    '  </datamodel>'
  ];
  for (const state of chart) {
    if (state.final) {
      lines.push(`  <final id="${escapeXml(state.name)}"/>`);
      continue;
    }
    lines.push(`  <state id="${escapeXml(state.name)}">`);
    const armed = delaysOf(state);
    if (armed.length > 0) {
      lines.push('    <onentry>');
      for (const delay of armed) {
        lines.push(
          `      <send${attributes([
            ['id', `${state.name}.${delay}`],
            ['event', scxmlEvent(`after ${delay}`)],
            ['delayexpr', delay]
          ])}/>`
        );
      }
      lines.push('    </onentry>', '    <onexit>');
      for (const delay of armed) lines.push(`      <cancel sendid="${escapeXml(`${state.name}.${delay}`)}"/>`);
      lines.push('    </onexit>');
    }
    for (const t of state.transitions) lines.push(transitionElement(t));
    lines.push('  </state>');
  }
  lines.push('</scxml>', '');
  return lines.join('\n');
}
