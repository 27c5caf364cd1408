/** The machines every chart test runs over: the connection machine as committed in docs/, and the job test machine. */
import type { ChartState } from '../../../src/core/machine-graph.js';
import { readChart } from '../../../src/core/machine-graph.js';
import { renderChart, type ChartFormat } from '../../../src/tools/chart/index.js';
import { sessionMachine } from '../../../machines/session.machine.js';
import { jobMachine } from '../../machines/job.machine.js';

export interface ChartCase {
  name: string;
  chart: ChartState[];
  render: (format: ChartFormat) => Promise<string>;
}

export const CHART_CASES: ChartCase[] = [
  { name: 'connection', chart: readChart(), render: (format) => renderChart(format) },
  { name: 'session', chart: readChart(sessionMachine), render: (format) => renderChart(format, readChart(sessionMachine), 'session') },
  { name: 'job', chart: readChart(jobMachine), render: (format) => renderChart(format, readChart(jobMachine), 'job') }
];

/** An edge label: the event, and the guard in brackets. */
export function label(t: { event: string; guard: string | undefined }): string {
  return t.guard === undefined ? t.event : `${t.event} [${t.guard}]`;
}
