/**
 * The inspector's charts are drawn from the machines that run (#9, #22):
 * a box per audited state with room for its count, an arrow per pair of
 * states with a line per event the trail records, and marks the page finds
 * on Graphviz's SVG by their ids.
 */
import { runInNewContext } from 'node:vm';
import { XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { allowedTransitions, lifecycleChart, readChart } from '../../../src/core/machine-graph.js';
import { renderDot } from '../../../src/tools/chart/svg.js';
import { inspectorCharts } from '../../../src/tools/inspector/charts.js';
import { COUNT_WIDTH, liveChart, renderLiveChart, type LiveChart } from '../../../src/tools/inspector/live-chart.js';
import { FORMAT_COUNT } from '../../../src/tools/inspector/page-script.js';
import { connectionMachine } from '../../../machines/connection.machine.js';
import { sessionMachine } from '../../../machines/session.machine.js';
import { jobMachine } from '../../machines/job.machine.js';

const ROOM = '0'.repeat(COUNT_WIDTH);

/** The texts of the SVG group Graphviz gave `id`, in order, markup and all (Graphviz writes `-` in ids as `&#45;`). */
function textsOf(svg: string, id: string): string[] {
  const start = svg.indexOf(`<g id="${id.replace(/-/g, '&#45;')}"`);
  expect(start, `no group ${id}`).toBeGreaterThan(-1);
  const group = svg.slice(start, svg.indexOf('</g>', start));
  return [...group.matchAll(/<text([^>]*)>(.*?)<\/text>/g)].map((m) => m[2]!);
}

const MACHINES = { connection: connectionMachine, session: sessionMachine, job: jobMachine };

describe.each(Object.entries(MACHINES))('the live chart of the %s machine', (name, machine) => {
  const lifecycle = lifecycleChart(readChart(machine));
  const chart: LiveChart = liveChart(lifecycle, name, { caption: () => 'live', countEdges: true, direction: 'TB' });

  it('marks a count per audited state and, once, every transition the trail may record', () => {
    expect(chart.marks.states.map((s) => s.state)).toEqual(lifecycle.map((s) => s.name));
    const keys = chart.marks.edges.flatMap((e) => e.lines.map((l) => l.key));
    expect(keys.sort()).toEqual([...allowedTransitions(lifecycle)].sort());
  });

  it('is laid out by Graphviz with room for each count, and each count marked in its room', async () => {
    expect(chart.dot.split(ROOM)).toHaveLength(1 + lifecycle.length + allowedTransitions(lifecycle).size);
    const svg = await renderLiveChart(chart, `${name} chart`);
    expect(XMLValidator.validate(svg)).toBe(true);
    expect(svg).toMatch(/^<svg class="chart" role="img" aria-label="[^"]+ chart"/);
    expect(svg).not.toContain(ROOM);
    for (const mark of chart.marks.states) expect(textsOf(svg, mark.id)).toEqual([mark.state, '0', 'live']);
    for (const mark of chart.marks.states) expect(svg.match(new RegExp(` data-count="${mark.state}"`, 'g'))).toHaveLength(1);
    for (const mark of chart.marks.edges) {
      expect(textsOf(svg, mark.id)).toEqual(mark.lines.map((l) => `${l.text} <tspan class="n" data-key="${l.key}">0</tspan>`));
    }
  });
});

describe('the arrows of the connection chart', () => {
  const [connection] = inspectorCharts(false);
  const linesTo = (from: string, to: string): string[] =>
    connection!.marks.edges.flatMap((e) => e.lines.filter((l) => l.key.startsWith(`${from}|`) && l.key.endsWith(`|${to}`)).map((l) => l.text));

  it('name an event once where all its variants go the same way, and its guards where they part', () => {
    // Three guarded variants of TRANSPORT_CLOSED all end the connection: the audit trail cannot tell them apart.
    expect(linesTo('connected', 'closed')).toContain('TRANSPORT_CLOSED');
    // The heartbeat's timer ends the connection only when the pong is overdue; otherwise it stays (not drawn).
    expect(linesTo('connected', 'closed')).toContain('after heartbeatInterval [pongOverdue]');
  });

  it('leave out what keeps a connection in its state', () => {
    const events = connection!.marks.edges.flatMap((e) => e.lines.map((l) => l.text));
    expect(events.join('\n')).not.toMatch(/PING_WRITTEN|PEER_ACTIVE|pingDue|pingQueued/);
  });
});

describe('a count', () => {
  it('is centred in the room Graphviz kept for it from its left edge', async () => {
    const [connection] = inspectorCharts(false);
    const svg = await renderLiveChart(connection!, 'chart');
    const dot = connection!.dot;
    expect(dot).toContain(`<FONT POINT-SIZE="18">${ROOM}</FONT>`);
    // The same chart before marking: where the room of the first state's count starts.
    const room = Number(/<text[^>]* text-anchor="start" x="([\d.]+)"[^>]*font-size="18.00">0+<\/text>/.exec(await renderDot(dot))![1]);
    const centre = Number(/<text[^>]* text-anchor="middle" x="([\d.]+)"[^>]*class="count" data-count="connecting"/.exec(svg)![1]);
    expect(centre).toBeCloseTo(room + (COUNT_WIDTH * 0.6 * 18) / 2, 1);
  });
});

describe('the charts of the page', () => {
  it('are the connection and session charts, and the node chart with a cluster, its arrows without counts', () => {
    expect(inspectorCharts(false).map((c) => c.name)).toEqual(['connection', 'session']);
    const node = inspectorCharts(true)[2]!;
    expect(node.name).toBe('node');
    expect(node.marks.states.map((s) => s.state)).toEqual(['connecting', 'ready', 'degraded', 'draining', 'stopped']);
    expect(node.marks.edges).toEqual([]);
    expect(node.dot).not.toContain(ROOM + '\\l');
  });
});

describe('formatCount', () => {
  const formatCount = runInNewContext(`(${FORMAT_COUNT})`) as (n: number) => string;

  it('writes every count in the room Graphviz kept for it', () => {
    const samples = [0, 7, 999_999, 1_000_000, 1_234_567, 99_949_999, 99_950_000, 999_499_999, 999_500_000, 1e12, 2 ** 40, Number.MAX_SAFE_INTEGER];
    for (let n = 1; n < Number.MAX_SAFE_INTEGER / 10; n = n * 10 + 9) samples.push(n, n + 1);
    for (const n of samples) expect(formatCount(n).length, `${n} -> ${formatCount(n)}`).toBeLessThanOrEqual(COUNT_WIDTH);
    expect([0, 999_999, 1_000_000, 1_234_567, 99_949_999, 99_950_000, 999_500_000, Number.MAX_SAFE_INTEGER].map(formatCount)).toEqual([
      '0', '999999', '1.0M', '1.2M', '99.9M', '100M', '1.0G', '9.0P'
    ]);
  });
});
