/**
 * Scenario 3: connection churn. Each client connects; the server takes the
 * socket over (manager: to `connected`; raw: nothing), closes it with 1000
 * at once, and the client counts it when the close handshake is complete.
 * Socket.IO (#14): the server disconnects each socket once connected, the
 * client counts it at `disconnect`. `ws+actor` is raw ws with the chart's
 * XState actor run beside each socket and no binding (#14): how much of the
 * manager's cost an actor per connection sets by itself.
 */
import type { BenchOptions } from '../options.js';
import { Samples, type Metric, type ResultRow } from '../results.js';
import type { ChurnResult } from '../client-agent.js';
import type { AcceptMode } from '../server-agent.js';
import { live, log, rotate, startPair, stopPair, untilCounts, type Pair } from '../harness.js';

/**
 * Connections per second completed while `accept` takes the sockets over,
 * and the server's CPU time per connection; waits until the server has
 * none left open.
 */
export async function measureChurn(
  pair: Pair,
  accept: AcceptMode | 'socket.io',
  options: BenchOptions,
  durationMs: number
): Promise<Partial<Record<Metric, number>>> {
  await pair.server.call('mode', { accept: accept === 'socket.io' ? 'raw' : accept, closeOnConnect: true });
  await pair.server.call('markCpu');
  const io = accept === 'socket.io';
  const result = await pair.client.call<ChurnResult>('churn', {
    port: io ? pair.ports.socketIo : pair.ports.ws,
    concurrency: options.churnConcurrency,
    durationMs,
    kind: io ? 'socket.io' : 'ws'
  });
  await untilCounts(
    pair.server,
    (c) => c.ws === 0 && c.socketIo === 0 && (accept === 'raw' || accept === 'raw+actor' || io || live(c, accept) === 0),
    `every churned connection closed (${accept})`
  );
  const cpuMicros = await pair.server.call<number>('cpuSinceRun');
  if (result.completed === 0) throw new Error(`No churn connection completed in ${durationMs} ms (${accept})`);
  return {
    connections_per_sec: (result.completed / result.elapsedMs) * 1000,
    server_cpu_us_per_connection: cpuMicros / result.completed
  };
}

const SUBJECTS = [
  { name: 'manager', accept: 'silent' },
  { name: 'ws', accept: 'raw' },
  // The connection chart's actor beside each raw socket: what an actor per connection costs with no binding (#14).
  { name: 'ws+actor', accept: 'raw+actor' },
  { name: 'socket.io', accept: 'socket.io' }
] as const;

/** Run scenario 3 and return its rows. */
export async function runChurn(options: BenchOptions): Promise<ResultRow[]> {
  const pair = await startPair('churn', { socketIo: true });
  try {
    for (const s of SUBJECTS) await measureChurn(pair, s.accept, options, Math.ceil(options.churnMs / 3));
    const samples = new Samples();
    for (let round = 0; round < options.rounds; round++) {
      for (const s of rotate(SUBJECTS, round)) {
        samples.addAll(s.name, await measureChurn(pair, s.accept, options, options.churnMs));
      }
    }
    log(`churn: ${options.rounds} rounds done`);
    return [
      samples.row('churn', 'connections_per_sec', 'manager', 'ws'),
      samples.row('churn', 'server_cpu_us_per_connection', 'manager', 'ws'),
      samples.row('churn', 'connections_per_sec', 'ws+actor', 'ws'),
      samples.row('churn', 'server_cpu_us_per_connection', 'ws+actor', 'ws'),
      samples.row('churn', 'connections_per_sec', 'manager', 'socket.io'),
      samples.row('churn', 'server_cpu_us_per_connection', 'manager', 'socket.io')
    ];
  } finally {
    await stopPair(pair);
  }
}
