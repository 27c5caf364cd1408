/**
 * The charts the inspector page shows, each drawn from the machine that
 * runs: connections, sessions and, with a cluster, the node.
 */
import { createHash } from 'node:crypto';
import type { AnyStateMachine } from 'xstate';
import { connectionMachine } from '../../../machines/connection.machine.js';
import { nodeMachine } from '../../../machines/node.machine.js';
import { sessionMachine } from '../../../machines/session.machine.js';
import { lifecycleChart, readChart, type ChartState } from '../../core/machine-graph.js';
import { liveChart, type LiveChart } from './live-chart.js';

/** The machines the page draws: the ones that run. */
export const INSPECTED_MACHINES: Readonly<Record<'connection' | 'session' | 'node', AnyStateMachine>> = Object.freeze({
  connection: connectionMachine,
  session: sessionMachine,
  node: nodeMachine
});

/** A final state counts every one that got there; the others, those there now. */
const soFarOrLive = (state: ChartState): string => (state.final ? 'so far' : 'live');

/**
 * @param {boolean} cluster Whether the node chart is shown too
 * @param machines What to draw; default {@link INSPECTED_MACHINES} (another set shows what a changed machine would draw)
 * @returns {LiveChart[]} The connection and session charts, then the node's
 */
export function inspectorCharts(cluster: boolean, machines = INSPECTED_MACHINES): LiveChart[] {
  const lifecycle = (machine: AnyStateMachine): ChartState[] => lifecycleChart(readChart(machine));
  const charts = [
    liveChart(lifecycle(machines.connection), 'connection', { caption: soFarOrLive, countEdges: true, direction: 'TB' }),
    liveChart(lifecycle(machines.session), 'session', { caption: soFarOrLive, countEdges: true, direction: 'TB' })
  ];
  // No event tells the inspector of another node's transitions: the arrows carry no counts.
  if (cluster) charts.push(liveChart(lifecycle(machines.node), 'node', { caption: () => 'nodes', countEdges: false, direction: 'LR' }));
  return charts;
}

/**
 * What a picture of the chart was made from: a hash of its graph, which
 * changes when the machine changes what the chart shows.
 *
 * @param {LiveChart} chart From {@link inspectorCharts}
 * @returns {string} 16 hex digits
 */
export function chartFingerprint(chart: LiveChart): string {
  return createHash('sha256').update(chart.dot).digest('hex').slice(0, 16);
}
