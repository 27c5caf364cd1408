/**
 * Scenario 7 (#12): three nodes on one Redis behind a round-robin TCP
 * proxy, the tabs of one user spread over them, an agent publishing on the
 * first node (so two thirds of the deliveries cross nodes). Against
 * Socket.IO 4 with `@socket.io/redis-streams-adapter` and connection state
 * recovery on the same Redis, with the same clients and the same kill:
 *
 * - throughput and latency of cross-node delivery;
 * - the second node killed with SIGKILL while the agent publishes: how
 *   long until every tab it had is connected again elsewhere, and how
 *   many messages were lost or duplicated over the whole run.
 *
 * The Redis is a redis-server the scenario starts and stops (#23).
 */
import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import { RedisProcess } from '../../examples/cluster/redis-processes.js';
import { TcpProxy } from '../../examples/cluster/tcp-proxy.js';
import type { ClusterSubject, RedisWhere } from '../cluster-server.js';
import { nowMs, sleep } from '../clock.js';
import { log, rotate, startClient, startServer } from '../harness.js';
import type { BenchOptions } from '../options.js';
import { Samples, type Metric, type ResultRow } from '../results.js';
import type { Agent } from '../rpc.js';
import { quantile } from '../stats.js';

const SERVER = new URL('../cluster-server.ts', import.meta.url);
const CLIENTS = new URL('../cluster-clients.ts', import.meta.url);
const NODES = 3;
const BYTES = 100;
const SETTLE_MS = 2_000;

/** Three nodes, the proxy in front of them, and the tabs: one run of one subject. */
export interface ClusterRun {
  servers: Agent[];
  client: Agent;
  proxy: TcpProxy;
  redis: RedisWhere;
  prefix: string;
  next: number;
}

/** Start three nodes of `subject` on `redis`, the proxy, and `tabs` tabs of one user spread over the nodes. */
export async function startClusterRun(subject: ClusterSubject, tabs: number, redis: RedisWhere): Promise<ClusterRun> {
  const prefix = `wsl-bench-${randomUUID().slice(0, 8)}`;
  const servers = await Promise.all(Array.from({ length: NODES }, (_, i) => startServer(`cluster ${subject} ${i + 1}`, [], SERVER)));
  const ports = await Promise.all(servers.map((server, i) => server.call<number>('start', { subject, prefix, nodeId: `node-${i + 1}`, redis })));
  const proxy = await TcpProxy.start(ports);
  const client = await startClient(`cluster ${subject}`, CLIENTS);
  await client.call('connect', { subject, port: proxy.port, clients: tabs, user: 'u' });
  return { servers, client, proxy, redis, prefix, next: 1 };
}

export async function stopClusterRun(run: ClusterRun): Promise<void> {
  await run.client.call('close');
  await run.client.stop();
  for (const server of run.servers) {
    await server.call('stop').catch(() => {});
    await server.stop();
  }
  await run.proxy.close();
  if (!('url' in run.redis)) return;
  // Socket.IO's adapter leaves its stream and sessions under the prefix too.
  const redis = createClient({ url: run.redis.url });
  await redis.connect();
  for await (const keys of redis.scanIterator({ MATCH: `${run.prefix}*`, COUNT: 500 })) if (keys.length > 0) await redis.del(keys);
  await redis.close();
}

/** Publish `count` on the first node; resolves with when it started and how many the store took. */
async function publish(run: ClusterRun, count: number, paceMs?: number): Promise<{ first: number; startedAt: number; taken: number }> {
  const first = run.next;
  run.next += count;
  const { startedAt, taken } = await run.servers[0]!.call<{ startedAt: number; taken: number }>('publish', { user: 'u', first, count, bytes: BYTES, paceMs });
  return { first, startedAt, taken };
}

/**
 * Warm up, then a burst of `messages` published on the first node, then
 * `latencySamples` messages one at a time: delivered messages per second
 * over every tab, and each message's time from publish to its last tab.
 */
export async function measureDelivery(
  run: ClusterRun,
  tabs: number,
  messages: number,
  latencySamples: number
): Promise<{ rate: number; latencies: number[] }> {
  // Warm up, and let Socket.IO emit once (its recovery needs an offset).
  const warm = await publish(run, 200);
  await run.client.call('received', { from: warm.first, to: run.next - 1, settleMs: SETTLE_MS });

  const burst = await publish(run, messages);
  const lastAt = await run.client.call<number>('received', { from: burst.first, to: run.next - 1, settleMs: SETTLE_MS });
  const rate = ((messages * tabs) / (lastAt - burst.startedAt)) * 1000;

  const latencies: number[] = [];
  for (let i = 0; i < latencySamples; i++) {
    const one = await publish(run, 1);
    latencies.push((await run.client.call<number>('received', { from: one.first, to: one.first, settleMs: SETTLE_MS })) - one.startedAt);
  }
  return { rate, latencies: latencies.sort((a, b) => a - b) };
}

async function measure(subject: ClusterSubject, options: BenchOptions, redis: RedisWhere): Promise<Partial<Record<Metric, number>>> {
  const { tabs, messages, latencySamples, killMessages } = options.cluster;
  const run = await startClusterRun(subject, tabs, redis);
  try {
    const { rate, latencies } = await measureDelivery(run, tabs, messages, latencySamples);

    // The agent keeps publishing (one message every 2 ms) while the second node dies.
    const killAt = nowMs() + 200;
    const stream = publish(run, killMessages, 2);
    await sleep(200);
    await run.servers[1]!.kill('SIGKILL');
    const { taken } = await stream;
    await run.client.call('received', { from: 1, to: run.next - 1, settleMs: SETTLE_MS });
    const { moved, allBackAt } = await run.client.call<{ moved: number; allBackAt: number | undefined }>('comeback', { since: killAt });
    const { lost, duplicated } = await run.client.call<{ lost: number; duplicated: number }>('tally', { to: run.next - 1 });
    if (moved === 0 || allBackAt === undefined) throw new Error(`${subject}: ${moved} clients moved, not all back`);
    log(`cluster ${subject}: ${rate.toFixed(0)} msg/s, p99 ${quantile(latencies, 0.99).toFixed(2)} ms, ${moved} tabs back ${(allBackAt - killAt).toFixed(0)} ms after the kill, ${lost} lost, ${duplicated} duplicated (${killMessages - taken} refused)`);
    return {
      msgs_per_sec: rate,
      p50_latency_ms: quantile(latencies, 0.5),
      p99_latency_ms: quantile(latencies, 0.99),
      resume_ms: allBackAt - killAt,
      lost_messages: lost,
      duplicated_messages: duplicated
    };
  } finally {
    await stopClusterRun(run);
  }
}

/** Run scenario 7 and return its rows. */
export async function runCluster(options: BenchOptions): Promise<ResultRow[]> {
  const samples = new Samples();
  const subjects = ['cluster', 'socket.io'] as const;
  const redis = await RedisProcess.start();
  try {
    for (let round = 0; round < options.rounds; round++) {
      for (const subject of rotate(subjects, round)) samples.addAll(subject, await measure(subject, options, { url: redis.url }));
      log(`cluster: round ${round + 1} of ${options.rounds} done`);
    }
  } finally {
    await redis.stop();
  }
  const scenario = `cluster-${NODES}-nodes`;
  return [
    samples.row(scenario, 'msgs_per_sec', 'cluster', 'socket.io'),
    samples.row(scenario, 'p50_latency_ms', 'cluster', 'socket.io'),
    samples.row(scenario, 'p99_latency_ms', 'cluster', 'socket.io'),
    samples.row('cluster-kill', 'resume_ms', 'cluster', 'socket.io'),
    samples.row('cluster-kill', 'lost_messages', 'cluster', 'socket.io'),
    samples.row('cluster-kill', 'duplicated_messages', 'cluster', 'socket.io')
  ];
}
