/**
 * Scenario 2: one message to every connection. `manager.broadcast` against a
 * raw loop over the same ws sockets (message serialized and encoded once)
 * and against Socket.IO's `io.emit` (its own server and client processes,
 * websocket transport only). And `manager.broadcast` measured by
 * ws-lifecycle/metrics (`manager.broadcast+metrics`: its own pair of
 * processes, each population opened once) against it unmeasured.
 */
import type { BenchOptions } from '../options.js';
import { Samples, type Metric, type ResultRow } from '../results.js';
import type { BroadcastSubject } from '../server-agent.js';
import { broadcastRound, log, startPair, stopPair, untilCounts, type BroadcastSizes, type BroadcastTarget } from '../harness.js';

const SUBJECTS: readonly BroadcastSubject[] = ['manager.broadcast', 'ws-loop', 'ws-loop+report', 'socket.io'];
const ALL_METRICS: readonly Metric[] = ['msgs_per_sec', 'p50_latency_ms', 'p99_latency_ms', 'server_cpu_us_per_msg'];
/** Rows: manager.broadcast against each baseline, on these metrics. */
const COMPARISONS: readonly (readonly [BroadcastSubject, readonly Metric[]])[] = [
  ['ws-loop', ALL_METRICS],
  ['ws-loop+report', ['msgs_per_sec', 'p99_latency_ms', 'server_cpu_us_per_msg']],
  ['socket.io', ALL_METRICS]
];
const BROADCAST_BYTES = 100;
/** `manager.broadcast` on a manager measured by ws-lifecycle/metrics. */
const METERED = 'manager.broadcast+metrics';

/**
 * Sizes of a broadcast round to `connections`: throughput runs deliver
 * `broadcastMessages`; latency samples within the configured bounds. A
 * `scale` below 1 gives a shorter warm-up round.
 */
export function broadcastSizes(options: BenchOptions, connections: number, scale = 1): BroadcastSizes {
  const perRun = Math.round(options.broadcastMessages / connections);
  const latency = Math.min(options.latencySamples.max, Math.max(options.latencySamples.min, perRun));
  return {
    connections,
    throughputBroadcasts: Math.max(1, Math.ceil(Math.max(3, perRun) * scale)),
    latencyBroadcasts: Math.max(1, Math.ceil(latency * scale)),
    bytes: BROADCAST_BYTES
  };
}

async function runSize(options: BenchOptions, connections: number): Promise<ResultRow[]> {
  const scenario = `broadcast-${connections}`;
  // Two pairs of processes: ws sockets (managed, and looped over raw) and
  // Socket.IO sockets, each population opened once (20,000 sockets would
  // not fit one process's file limit).
  const [ws, io, measured] = await Promise.all([
    startPair(`${scenario} ws`),
    startPair(`${scenario} socket.io`, { socketIo: true }),
    startPair(`${scenario} ws+metrics`)
  ]);
  try {
    await ws.server.call('mode', { accept: 'silent' });
    await measured.server.call('mode', { accept: 'metrics' });
    await Promise.all([
      ws.client.call('open', { kind: 'ws', port: ws.ports.ws, count: connections }),
      io.client.call('open', { kind: 'socket.io', port: io.ports.socketIo, count: connections }),
      measured.client.call('open', { kind: 'ws', port: measured.ports.ws, count: connections })
    ]);
    await untilCounts(ws.server, (c) => c.managers.silent?.connected === connections, `${connections} managed connections`);
    await untilCounts(io.server, (c) => c.socketIo === connections, `${connections} Socket.IO connections`);
    await untilCounts(measured.server, (c) => c.managers.metrics?.connected === connections, `${connections} connections measured by metrics`);
    log(`${scenario}: ${connections} ws, ${connections} measured and ${connections} Socket.IO clients connected`);
    const targets: BroadcastTarget[] = SUBJECTS.map((subject) => ({ name: subject, subject, pair: subject === 'socket.io' ? io : ws }));
    targets.push({ name: METERED, subject: 'manager.broadcast', manager: 'metrics', pair: measured });
    await broadcastRound(targets, 0, broadcastSizes(options, connections, 0.25));
    const samples = new Samples();
    for (let round = 0; round < options.rounds; round++) {
      for (const [name, values] of await broadcastRound(targets, round, broadcastSizes(options, connections))) samples.addAll(name, values);
      log(`${scenario}: round ${round + 1}/${options.rounds} done`);
    }
    const rows: ResultRow[] = [];
    for (const [baseline, metrics] of COMPARISONS) {
      for (const metric of metrics) rows.push(samples.row(scenario, metric, 'manager.broadcast', baseline));
    }
    for (const metric of ALL_METRICS) rows.push(samples.row(scenario, metric, METERED, 'manager.broadcast'));
    return rows;
  } finally {
    await Promise.allSettled([ws.client.call('terminateAll'), io.client.call('terminateAll'), measured.client.call('terminateAll')]);
    await Promise.all([stopPair(ws), stopPair(io), stopPair(measured)]);
  }
}

/** Run scenario 2 for every connection count and return its rows. */
export async function runBroadcast(options: BenchOptions): Promise<ResultRow[]> {
  const rows: ResultRow[] = [];
  for (const connections of options.broadcastConnections) rows.push(...(await runSize(options, connections)));
  return rows;
}
