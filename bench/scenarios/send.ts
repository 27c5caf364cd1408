/**
 * Scenario 1: throughput of sends on one connection. `manager.send` and
 * `connection.send` against `ws.send` on the very same socket, each
 * serializing a fresh object per message: in bursts (hundreds of sends per
 * event-loop turn, the socket drained in between), and paced (one send per
 * turn, as a server sending from separate I/O callbacks does). The two
 * module subjects also run on a second connection whose manager is measured
 * by ws-lifecycle/metrics (`+metrics`), against the same subject unmeasured.
 */
import type { BenchOptions } from '../options.js';
import { Samples, type Metric, type ResultRow } from '../results.js';
import type { SendSubject } from '../server-agent.js';
import { log, rotate, startPair, stopPair, timeDelivery, untilCounts, type Pair } from '../harness.js';

const SUBJECTS: readonly SendSubject[] = [
  'manager.send',
  'connection.send',
  'ws.send',
  'ws.send+promise',
  'ws.send+cork',
  'manager.send+metrics',
  'connection.send+metrics'
];
/** Rows: subject against baseline. */
const COMPARISONS = [
  ['manager.send', 'ws.send'],
  ['connection.send', 'ws.send'],
  ['connection.send', 'ws.send+promise'],
  ['connection.send', 'ws.send+cork'],
  ['manager.send+metrics', 'manager.send'],
  ['connection.send+metrics', 'connection.send']
] as const;
const METRICS: readonly Metric[] = ['msgs_per_sec', 'server_cpu_us_per_msg'];

/** "100B" or "16KiB". */
export function sizeLabel(bytes: number): string {
  return bytes >= 1024 && bytes % 1024 === 0 ? `${bytes / 1024}KiB` : `${bytes}B`;
}

async function measure(
  pair: Pair,
  subject: SendSubject,
  count: number,
  bytes: number,
  paced: boolean
): Promise<Partial<Record<Metric, number>>> {
  const { elapsedMs, cpuMicros } = await timeDelivery(pair, count, () =>
    pair.server.call('sendRun', { subject, count, bytes, paced })
  );
  return { msgs_per_sec: (count / elapsedMs) * 1000, server_cpu_us_per_msg: cpuMicros / count };
}

/** Run scenario 1 and return its rows. */
export async function runSend(options: BenchOptions): Promise<ResultRow[]> {
  const pair = await startPair('send');
  try {
    await pair.server.call('mode', { accept: 'silent' });
    await pair.client.call('open', { kind: 'ws', port: pair.ports.ws, count: 1 });
    await untilCounts(pair.server, (c) => c.managers.silent?.connected === 1, 'one connected connection');
    await pair.server.call('mode', { accept: 'metrics' });
    await pair.client.call('open', { kind: 'ws', port: pair.ports.ws, count: 1 });
    await untilCounts(pair.server, (c) => c.managers.metrics?.connected === 1, 'one connected connection measured by metrics');
    const rows: ResultRow[] = [];
    const runs = options.sendBytes.map((bytes) => ({
      scenario: `send-${sizeLabel(bytes)}`,
      bytes,
      // Larger messages: fewer of them (a quarter at 16 KiB, still 400 MB per run by default).
      count: Math.max(10, Math.round(options.sendMessages * Math.min(1, 4096 / bytes))),
      paced: false
    }));
    runs.push({ scenario: 'send-100B-paced', bytes: 100, count: options.pacedMessages, paced: true });
    for (const { scenario, bytes, count, paced } of runs) {
      for (const subject of SUBJECTS) await measure(pair, subject, Math.ceil(count / 4), bytes, paced);
      const samples = new Samples();
      for (let round = 0; round < options.rounds; round++) {
        for (const subject of rotate(SUBJECTS, round)) samples.addAll(subject, await measure(pair, subject, count, bytes, paced));
      }
      for (const [subject, baseline] of COMPARISONS) {
        for (const metric of METRICS) rows.push(samples.row(scenario, metric, subject, baseline));
      }
      log(`${scenario}: ${options.rounds} rounds of ${count} messages done`);
    }
    return rows;
  } finally {
    await stopPair(pair);
  }
}
