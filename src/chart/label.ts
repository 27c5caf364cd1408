/** Wording shared by every chart format, so the formats label the machine alike. */
import type { ChartState, ChartTransition } from '../machine-graph.js';

/** Marks a file as output of the chart generators. */
export const GENERATED_NOTE = 'Generated from machines/connection.machine.ts by `npm run charts`; do not edit.';

/**
 * An edge label: the event, then the guard in brackets if there is one,
 * e.g. `after heartbeatInterval [pongOverdue]`.
 *
 * @param {ChartTransition} transition A transition of the chart
 * @returns {string} Its label
 */
export function transitionLabel(transition: ChartTransition): string {
  return transition.guard === undefined ? transition.event : `${transition.event} [${transition.guard}]`;
}

/**
 * How a targetless transition reads inside its state: `SEND / transmit`.
 *
 * @param {ChartTransition} transition A transition without a target
 * @returns {string} The label followed by its actions
 */
export function internalLabel(transition: ChartTransition): string {
  const label = transitionLabel(transition);
  return transition.actions.length === 0 ? label : `${label} / ${transition.actions.join(', ')}`;
}

/**
 * How a state's entry actions read inside it: `entry / reportEntry`.
 *
 * @param {ChartState} state A state of the chart
 * @returns {string[]} One line, or none when it runs nothing on entry
 */
export function entryLines(state: ChartState): string[] {
  return state.entry.length === 0 ? [] : [`entry / ${state.entry.join(', ')}`];
}
