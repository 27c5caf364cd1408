/**
 * Scenario 8 (#14): a reconnect storm. N clients (1,000 and 10,000, in a
 * client process) are connected; the server cuts every connection at once;
 * they all come back at once. Reported: the time until all are connected
 * again (total), the p50 and p99 of each client's time back, the server's
 * CPU from the cut until all are back, and the peak of its heap over the
 * heap before the cut. Subjects: the manager with session clients (each
 * comes back with a resume), the manager without sessions whose plain ws
 * clients reconnect at once (`manager-plain`: the actor per connection
 * without the resume), raw ws with clients that reconnect at once,
 * Socket.IO 4 with recovery and no reconnection delay.
 */
import { log, rotate, startClient, startServer } from '../harness.js';
import type { BenchOptions } from '../options.js';
import { Samples, type Metric, type ResultRow } from '../results.js';
import { quantile } from '../stats.js';
import type { StormSubject } from '../storm-server.js';

const SERVER = new URL('../storm-server.ts', import.meta.url);
const CLIENTS = new URL('../storm-clients.ts', import.meta.url);

async function storm(subject: StormSubject, count: number): Promise<Partial<Record<Metric, number>>> {
  const [server, client] = await Promise.all([startServer(`storm ${subject}`, ['--expose-gc'], SERVER), startClient(`storm ${subject}`, CLIENTS)]);
  try {
    const port = await server.call<number>('start', { subject });
    await client.call('connect', { subject, port, count });
    const { at, heapBefore } = await server.call<{ at: number; heapBefore: number }>('drop');
    const { times, cpuMicros: clientMicros } = await client.call<{ times: number[]; cpuMicros: number }>('back', { since: at });
    const { cpuMicros, peakHeap } = await server.call<{ cpuMicros: number; peakHeap: number }>('settle');
    const total = times.at(-1)!;
    log(`storm ${subject} ${count}: all back in ${total.toFixed(0)} ms (p50 ${quantile(times, 0.5).toFixed(0)}, p99 ${quantile(times, 0.99).toFixed(0)}), server CPU ${(cpuMicros / 1000).toFixed(0)} ms, client CPU ${(clientMicros / 1000).toFixed(0)} ms, heap peak +${((peakHeap - heapBefore) / 1024 / 1024).toFixed(1)} MiB`);
    return {
      storm_total_ms: total,
      storm_p50_ms: quantile(times, 0.5),
      storm_p99_ms: quantile(times, 0.99),
      server_cpu_ms: cpuMicros / 1000,
      client_cpu_ms: clientMicros / 1000,
      peak_heap_bytes: peakHeap - heapBefore
    };
  } finally {
    await client.call('close').catch(() => {});
    await client.stop();
    await server.call('stop').catch(() => {});
    await server.stop();
  }
}

const METRICS_REPORTED: Metric[] = ['storm_total_ms', 'storm_p50_ms', 'storm_p99_ms', 'server_cpu_ms', 'client_cpu_ms', 'peak_heap_bytes'];

/** Run scenario 8 and return its rows. */
export async function runStorm(options: BenchOptions): Promise<ResultRow[]> {
  const rows: ResultRow[] = [];
  for (const count of options.stormClients) {
    const samples = new Samples();
    const subjects = ['manager', 'manager-plain', 'ws', 'socket.io'] as const;
    for (let round = 0; round < options.rounds; round++) {
      for (const subject of rotate(subjects, round)) samples.addAll(subject, await storm(subject, count));
      log(`storm ${count}: round ${round + 1} of ${options.rounds} done`);
    }
    for (const baseline of ['ws', 'socket.io']) {
      for (const metric of METRICS_REPORTED) rows.push(samples.row(`storm-${count}`, metric, 'manager', baseline));
    }
    for (const metric of METRICS_REPORTED) rows.push(samples.row(`storm-${count}`, metric, 'manager-plain', 'ws'));
  }
  return rows;
}
