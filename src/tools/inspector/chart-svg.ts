/**
 * The state chart as inline SVG, laid out from `lifecycleChart()` (the states the audit trail records): the states in
 * a row, one edge per (source, target) pair labelled with its events. Every
 * state-changing event carries a count element the page updates live.
 */
import { lifecycleChart, transitionKey, type ChartState, type ChartTransition } from '../../core/machine-graph.js';
import { escapeHtml } from './escape.js';

const BOX_W = 136;
const BOX_H = 92;
const PITCH = 300;
const MARGIN_X = 40;
const BOX_TOP = 236;
const LINE_H = 15;
/** Height of an arc's control points per column it spans. */
const ARC_PER_SPAN = 70;


interface Edge {
  source: string;
  target: string;
  transitions: ChartTransition[];
}

interface Column {
  left: number;
  cx: number;
}

/** One edge per (source, target) pair; targetless transitions loop on their source. */
function edgesOf(chart: ChartState[]): Edge[] {
  const edges = new Map<string, Edge>();
  for (const state of chart) {
    for (const t of state.transitions) {
      const target = t.target ?? t.source;
      const key = `${t.source}>${target}`;
      let edge = edges.get(key);
      if (!edge) edges.set(key, (edge = { source: t.source, target, transitions: [] }));
      edge.transitions.push(t);
    }
  }
  return [...edges.values()];
}

/** One label line: the event, its guard, and a live count if it changes state. */
function labelLine(t: ChartTransition, x: number, y: number, anchor: string): string {
  const guard = t.guard === undefined ? '' : ` [${t.guard}]`;
  const text = escapeHtml(`${t.event}${guard}`);
  const counted = t.target !== undefined && t.target !== t.source;
  const count = counted
    ? ` <tspan class="n" data-key="${escapeHtml(transitionKey(t.source, t.event, t.target!))}">0</tspan>`
    : '';
  return `<text class="label" x="${x}" y="${y}" text-anchor="${anchor}">${text}${count}</text>`;
}

/**
 * Label lines stacked from `y`: downwards, or upwards so the last line
 * sits at `y`.
 */
function label(transitions: ChartTransition[], x: number, y: number, anchor: string, upwards: boolean): string {
  const first = upwards ? y - (transitions.length - 1) * LINE_H : y;
  return transitions.map((t, i) => labelLine(t, x, first + i * LINE_H, anchor)).join('');
}

function edgeSvg(edge: Edge, from: Column, to: Column, span: number, index: number): string {
  const keys = edge.transitions
    .filter((t) => t.target !== undefined && t.target !== t.source)
    .map((t) => transitionKey(t.source, t.event, t.target!));
  const title = `<title>${escapeHtml(`${edge.source} → ${edge.target}`)}</title>`;
  const open = `<g class="edge${keys.length === 0 ? ' internal' : ''}" data-keys="${escapeHtml(keys.join(','))}">${title}`;
  const bottom = BOX_TOP + BOX_H;
  const midY = BOX_TOP + BOX_H / 2;
  if (span === 0) {
    // Actions without a change of state: a small loop under the box, labels to its left.
    const a = from.cx - 44;
    const b = from.cx - 14;
    const path = `M${a},${bottom} C${a - 14},${bottom + 46} ${b + 14},${bottom + 46} ${b},${bottom}`;
    return `${open}<path d="${path}" marker-end="url(#arrow)"/>${label(edge.transitions, a - 16, bottom + 30, 'end', false)}</g>`;
  }
  if (Math.abs(span) === 1) {
    const x1 = span > 0 ? from.left + BOX_W : from.left;
    const x2 = span > 0 ? to.left : to.left + BOX_W;
    const lines = label(edge.transitions, (x1 + x2) / 2, midY - 9, 'middle', true);
    return `${open}<path d="M${x1},${midY} L${x2},${midY}" marker-end="url(#arrow)"/>${lines}</g>`;
  }
  // Longer edges arc above (from an even column) or below (odd), the wider ones outside.
  const above = Math.min(index, index + span) % 2 === 0;
  const inset = Math.max(12, 40 - 20 * (Math.abs(span) - 2));
  const sx = from.cx + Math.sign(span) * inset;
  const ex = to.cx - Math.sign(span) * inset;
  const y = above ? BOX_TOP : bottom;
  const h = ARC_PER_SPAN * Math.abs(span) * (above ? -1 : 1);
  const path = `M${sx},${y} C${sx},${y + h} ${ex},${y + h} ${ex},${y}`;
  const apex = y + 0.75 * h;
  const lines = above
    ? label(edge.transitions, (sx + ex) / 2, apex - 8, 'middle', true)
    : label(edge.transitions, (sx + ex) / 2, apex + 18, 'middle', false);
  return `${open}<path d="${path}" marker-end="url(#arrow)"/>${lines}</g>`;
}

function stateSvg(state: ChartState, column: Column): string {
  const name = escapeHtml(state.name);
  const inner = state.final
    ? `<rect class="inner" x="${column.left + 4}" y="${BOX_TOP + 4}" width="${BOX_W - 8}" height="${BOX_H - 8}" rx="7"/>`
    : '';
  return (
    `<g class="state state-${name}" data-state="${name}">` +
    `<rect x="${column.left}" y="${BOX_TOP}" width="${BOX_W}" height="${BOX_H}" rx="10"/>${inner}` +
    `<text class="name" x="${column.cx}" y="${BOX_TOP + 24}" text-anchor="middle">${name}</text>` +
    `<text class="count" x="${column.cx}" y="${BOX_TOP + 60}" text-anchor="middle" data-count="${name}">0</text>` +
    `<text class="caption" x="${column.cx}" y="${BOX_TOP + 79}" text-anchor="middle">${state.final ? 'so far' : 'live'}</text>` +
    '</g>'
  );
}

/**
 * Draw the connection machine as SVG. Each state box holds an element
 * `[data-count=<state>]`; each state-changing event label holds an element
 * `[data-key=<from|event|to>]`; each edge group lists its keys in
 * `data-keys`, comma-separated.
 *
 * @param {ChartState[]} [chart] The audited states to draw; default `lifecycleChart()`
 * @returns {string} An `<svg>` element
 */
export function renderChartSvg(chart: ChartState[] = lifecycleChart()): string {
  const index = new Map(chart.map((s, i) => [s.name, i]));
  const columns = chart.map((_, i): Column => {
    const left = MARGIN_X + i * PITCH;
    return { left, cx: left + BOX_W / 2 };
  });
  const width = 2 * MARGIN_X + (chart.length - 1) * PITCH + BOX_W;
  const height = BOX_TOP + BOX_H + 176;
  const edges = edgesOf(chart).map((edge) => {
    const i = index.get(edge.source)!;
    const j = index.get(edge.target)!;
    return edgeSvg(edge, columns[i]!, columns[j]!, j - i, i);
  });
  const initial = chart.findIndex((s) => s.initial);
  const midY = BOX_TOP + BOX_H / 2;
  const start =
    initial < 0
      ? ''
      : `<circle class="start" cx="${columns[initial]!.left - 26}" cy="${midY}" r="6"/>` +
        `<path class="start-edge" d="M${columns[initial]!.left - 20},${midY} L${columns[initial]!.left},${midY}" marker-end="url(#arrow)"/>`;
  return (
    `<svg class="chart" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="Connection state chart">` +
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="10" markerHeight="10" orient="auto-start-reverse">' +
    '<path d="M0,0 L10,5 L0,10 z"/></marker></defs>' +
    start +
    edges.join('') +
    chart.map((s, i) => stateSvg(s, columns[i]!)).join('') +
    '</svg>'
  );
}
