/**
 * The inspector's charts: a machine's audited states (`lifecycleChart()`,
 * what the trail records and the page counts), each with room for a live
 * count, and one arrow per pair of states listing the events that move
 * between them, each with room for its count. Graphviz lays them out
 * through the same `renderDot` as `docs/*.svg`, so no label meets a box or
 * another label. The numbers are then marked on Graphviz's SVG, found by
 * the ids given here: `data-count` on each state's count, `data-key` on
 * each event's, for the page to write. Labels are set in Courier, whose
 * width Graphviz knows (0.6 em a character), and the page draws them in a
 * monospace font of that width, so what the browser shows is what Graphviz
 * measured.
 */
import type { ChartState } from '../../core/machine-graph.js';
import { transitionKey } from '../../core/machine-graph.js';
import { dotEscape, dotString } from '../chart/dot.js';
import { renderDot } from '../chart/svg.js';
import { escapeHtml } from './escape.js';

/** Characters a count may take: the page writes at most this many (`formatCount` in page-script.ts). */
export const COUNT_WIDTH = 6;

/** What Graphviz reserves for a count: as wide as the widest the page writes, every character being as wide in Courier. */
const COUNT_ROOM = '0'.repeat(COUNT_WIDTH);
/** Courier's advance, in em: what Graphviz measures every character with. */
const COURIER_EM = 0.6;

/** Where the numbers go on the SVG, by the ids Graphviz keeps. */
export interface ChartMarks {
  /** The node of each state; its second text is the count. */
  states: Array<{ id: string; state: string }>;
  /** The arrow of each pair of states; its texts are the lines, in order, each counting one transition key (`from|event|to`). */
  edges: Array<{ id: string; lines: Array<{ text: string; key: string }> }>;
}

/** One chart of the page. */
export interface LiveChart {
  /** The machine's name, e.g. `session`; prefixes the chart's ids on the page. */
  name: string;
  /** The graph Graphviz lays out. */
  dot: string;
  marks: ChartMarks;
}

export interface LiveChartOptions {
  /** The line under a state's count, e.g. `live`. */
  caption: (state: ChartState) => string;
  /** Whether each event on an arrow has a count (the page knows them for connections and sessions, not for nodes). */
  countEdges: boolean;
  /** `TB` (top to bottom) or `LR`. */
  direction: 'TB' | 'LR';
}

/**
 * How an event reads on its arrow to `target`: the event alone when every
 * variant of it goes there, else with the guards of those that do.
 */
function eventLine(state: ChartState, event: string, target: string): string {
  const variants = state.transitions.filter((t) => t.event === event);
  const here = variants.filter((t) => t.target === target);
  return here.length === variants.length ? event : `${event} [${here.map((t) => t.guard ?? 'else').join(' | ')}]`;
}

/** A Graphviz HTML-like label: the name, the count's room, the caption. */
function stateLabel(state: ChartState, caption: string): string {
  return (
    '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">' +
    `<TR><TD><B>${escapeHtml(state.name)}</B></TD></TR>` +
    `<TR><TD><FONT POINT-SIZE="18">${COUNT_ROOM}</FONT></TD></TR>` +
    `<TR><TD><FONT POINT-SIZE="9">${escapeHtml(caption)}</FONT></TD></TR>` +
    '</TABLE>>'
  );
}

/**
 * The DOT graph of a machine's audited states and the marks of its live
 * numbers. A transition that stays in its audited state is left out: the
 * trail does not record it, so there is nothing to count.
 *
 * @param {ChartState[]} lifecycle From `lifecycleChart()`
 * @param {string} name The machine's name, e.g. `connection`
 * @param {LiveChartOptions} options Captions, counted arrows, direction
 * @returns {LiveChart} The graph and its marks
 */
export function liveChart(lifecycle: readonly ChartState[], name: string, options: LiveChartOptions): LiveChart {
  const marks: ChartMarks = { states: [], edges: [] };
  const lines = [
    `digraph ${dotString(name)} {`,
    `  rankdir=${options.direction};`,
    '  bgcolor="transparent";',
    '  nodesep=0.3;',
    '  ranksep=0.35;',
    '  node [shape=box, style=rounded, fontname="Courier", fontsize=12, margin="0.12,0.04"];',
    '  edge [fontname="Courier", fontsize=10];',
    '  __start [shape=point, width=0.12, label=""];'
  ];
  lifecycle.forEach((state, i) => {
    const id = `${name}-state-${i}`;
    marks.states.push({ id, state: state.name });
    const classes = `state${state.final ? ' final' : ''}`;
    lines.push(`  ${dotString(state.name)} [id=${dotString(id)}, class=${dotString(classes)}, label=${stateLabel(state, options.caption(state))}${state.final ? ', peripheries=2' : ''}];`);
  });
  for (const state of lifecycle) if (state.initial) lines.push(`  __start -> ${dotString(state.name)};`);
  let edges = 0;
  for (const state of lifecycle) {
    const targets = new Map<string, Set<string>>();
    for (const t of state.transitions) {
      if (t.target === undefined) continue;
      let events = targets.get(t.target);
      if (!events) targets.set(t.target, (events = new Set()));
      events.add(t.event);
    }
    for (const [target, events] of targets) {
      const id = `${name}-edge-${edges++}`;
      const edgeLines = [...events].map((event) => ({ text: eventLine(state, event, target), key: transitionKey(state.name, event, target) }));
      if (options.countEdges) marks.edges.push({ id, lines: edgeLines });
      const label = edgeLines.map((line) => `${dotEscape(options.countEdges ? `${line.text} ${COUNT_ROOM}` : line.text)}\\l`).join('');
      lines.push(`  ${dotString(state.name)} -> ${dotString(target)} [id=${dotString(id)}, label="${label}"];`);
    }
  }
  lines.push('}', '');
  return { name, dot: lines.join('\n'), marks };
}

/** Graphviz's SVG escapes ids as XML, `-` as `&#45;`. */
function unescapeXml(text: string): string {
  return text
    .replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)))
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&');
}

/** A state's count, centred in the room Graphviz kept for it from its left edge. */
function countText(attributes: string, state: string): string {
  const x = Number(/ x="([^"]+)"/.exec(attributes)?.[1]);
  const size = Number(/ font-size="([^"]+)"/.exec(attributes)?.[1]);
  const centre = (x + (COUNT_WIDTH * COURIER_EM * size) / 2).toFixed(2);
  const moved = attributes.replace(/ text-anchor="[^"]*"/, ' text-anchor="middle"').replace(/ x="[^"]*"/, ` x="${centre}"`);
  return `<text${moved} class="count" data-count="${escapeHtml(state)}">0</text>`;
}

/**
 * Write the marks into Graphviz's SVG: each state's count text gets
 * `data-count`, each event line of an arrow its count as a
 * `<tspan data-key>`.
 *
 * @throws {Error} Naming the mark, if Graphviz's SVG has no text where it belongs
 */
function markNumbers(svg: string, chart: LiveChart): string {
  const states = new Map(chart.marks.states.map((mark) => [mark.id, mark]));
  const edges = new Map(chart.marks.edges.map((mark) => [mark.id, mark]));
  /** Texts marked per id: 1 for a state, a line each for an arrow. */
  const marked = new Map<string, number>();
  const mark = (id: string): void => void marked.set(id, (marked.get(id) ?? 0) + 1);
  // Every node and arrow is one flat <g> with its texts in label order (no clusters, no links).
  const out = svg.replace(/<g id="([^"]+)" class="(?:node|edge)[^"]*">[\s\S]*?<\/g>/g, (group, rawId: string) => {
    const id = unescapeXml(rawId);
    const state = states.get(id);
    const edge = edges.get(id);
    if (state === undefined && edge === undefined) return group;
    let index = 0;
    return group.replace(/<text([^>]*)>([^<]*)<\/text>/g, (text, attributes: string, content: string) => {
      const i = index++;
      if (state !== undefined && i === 1 && unescapeXml(content) === COUNT_ROOM) {
        mark(id);
        return countText(attributes, state.state);
      }
      const line = edge?.lines[i];
      if (line === undefined || unescapeXml(content) !== `${line.text} ${COUNT_ROOM}`) return text;
      mark(id);
      return `<text${attributes}>${escapeHtml(line.text)} <tspan class="n" data-key="${escapeHtml(line.key)}">0</tspan></text>`;
    });
  });
  const expected = [...chart.marks.states.map((m) => [m.id, 1] as const), ...chart.marks.edges.map((m) => [m.id, m.lines.length] as const)];
  for (const [id, numbers] of expected) {
    if (marked.get(id) !== numbers) throw new Error(`Graphviz's SVG of the ${chart.name} chart has room for ${marked.get(id) ?? 0} of the ${numbers} numbers of ${id}`);
  }
  return out;
}

/**
 * Lay a chart out with Graphviz and mark its numbers, as an `<svg>`
 * element to place in the page.
 *
 * @param {LiveChart} chart From {@link liveChart}
 * @param {string} title What the chart shows, for screen readers
 * @returns {Promise<string>} The `<svg>` element, without Graphviz's XML prolog
 * @throws {Error} If the optional peer dependency `@viz-js/viz` is not installed, or a number has no room in Graphviz's SVG
 */
export async function renderLiveChart(chart: LiveChart, title: string): Promise<string> {
  const svg = await renderDot(chart.dot);
  const start = svg.indexOf('<svg');
  if (start === -1) throw new Error(`Graphviz wrote no <svg> for the ${chart.name} chart`);
  return markNumbers(svg.slice(start), chart).replace('<svg', `<svg class="chart" role="img" aria-label="${escapeHtml(title)}"`);
}
