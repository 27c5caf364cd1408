/**
 * The chart as W3C SCXML, nested as the machine is. A delay becomes a
 * delayed `<send>` on entry, cancelled on exit, and a transition on the
 * event it raises: this is how SCXML expresses XState's `after`.
 */
import type { ChartState, ChartTransition } from '../../core/machine-graph.js';
import { childrenOf, generatedNote } from './label.js';

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

function transitionElement(t: ChartTransition, indent: string): string {
  return `${indent}<transition${attributes([
    ['event', scxmlEvent(t.event)],
    ['cond', t.guard],
    ['target', t.target],
    ['type', t.target !== undefined && !t.reenter && t.target.startsWith(`${t.source}.`) ? 'internal' : undefined]
  ])}/>`;
}

/** The delays a state arms on entry, each once. */
function delaysOf(state: ChartState): string[] {
  return [...new Set(state.transitions.flatMap((t) => (t.delay === undefined ? [] : [t.delay])))];
}

/**
 * The SCXML document, e.g. `docs/connection.scxml`: one `<state>` per
 * state (`<final>` for a final one) with its children inside, ids being
 * the state's path; one `<transition>` per transition with its event,
 * guard (`cond`) and target. Delay lengths come from the data model
 * (`<data>` named after the delay).
 *
 * @param {ChartState[]} chart From `readChart()`
 * @param {string} name The machine's name, e.g. `connection`
 * @returns {string} The XML text
 */
export function scxmlDocument(chart: readonly ChartState[], name: string): string {
  const initialOf = (parent: string | undefined): string | undefined => childrenOf(chart, parent).find((state) => state.initial)?.id;
  const delays = [...new Set(chart.flatMap(delaysOf))];
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<!-- ${generatedNote(name)} -->`,
    `<scxml${attributes([
      ['xmlns', SCXML_NAMESPACE],
      ['version', '1.0'],
      ['name', name],
      ['initial', initialOf(undefined)],
      ['datamodel', 'ecmascript']
    ])}>`,
    '  <datamodel>',
    ...delays.map((delay) => `    <data id="${escapeXml(delay)}"/>`),
    '  </datamodel>'
  ];
  const block = (parent: string | undefined, indent: string): void => {
    for (const state of childrenOf(chart, parent)) {
      if (state.final) {
        lines.push(`${indent}<final id="${escapeXml(state.id)}"/>`);
        continue;
      }
      lines.push(`${indent}<state${attributes([['id', state.id], ['initial', initialOf(state.id)]])}>`);
      const armed = delaysOf(state);
      if (armed.length > 0) {
        lines.push(`${indent}  <onentry>`);
        for (const delay of armed) {
          lines.push(
            `${indent}    <send${attributes([
              ['id', `${state.id}.${delay}`],
              ['event', scxmlEvent(`after ${delay}`)],
              ['delayexpr', delay]
            ])}/>`
          );
        }
        lines.push(`${indent}  </onentry>`, `${indent}  <onexit>`);
        for (const delay of armed) lines.push(`${indent}    <cancel sendid="${escapeXml(`${state.id}.${delay}`)}"/>`);
        lines.push(`${indent}  </onexit>`);
      }
      for (const t of state.transitions) lines.push(transitionElement(t, `${indent}  `));
      block(state.id, `${indent}  `);
      lines.push(`${indent}</state>`);
    }
  };
  block(undefined, '  ');
  lines.push('</scxml>', '');
  return lines.join('\n');
}
