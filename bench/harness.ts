/** Starting agent processes and timing deliveries: what every scenario shares. */
import { nowMs, sleep } from './clock.js';
import { Agent } from './rpc.js';
import type { BroadcastSubject, ManagerName, ServerCounts, ServerPorts, ServerStartOptions } from './server-agent.js';
import { quantile } from './stats.js';
import type { Metric } from './results.js';

const SERVER_AGENT = new URL('./server-agent.ts', import.meta.url);
const CLIENT_AGENT = new URL('./client-agent.ts', import.meta.url);
/** Longest wait for one delivery or one population. */
const WAIT_MS = 180_000;

/** One server process and the client process that loads it. */
export interface Pair {
  server: Agent;
  client: Agent;
  ports: ServerPorts;
}

/** Node flags added to every server process (e.g. `--cpu-prof`). */
const extraServerFlags: string[] = [];

/** Write a CPU profile of every server process into `dir` (`node --cpu-prof`). */
export function profileServersInto(dir: string): void {
  extraServerFlags.push('--cpu-prof', `--cpu-prof-dir=${dir}`);
}

/** Log a progress line (to stderr, so stdout carries only the table). */
export function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/**
 * Start a server process (`serverFlags` e.g. `--expose-gc`).
 *
 * @returns {Promise<Agent>} The agent, not yet started with `start`
 */
export function startServer(name: string, serverFlags: string[] = []): Promise<Agent> {
  return Agent.start(SERVER_AGENT, { name: `${name} server`, nodeFlags: [...serverFlags, ...extraServerFlags] });
}

/**
 * Start a client process and check that it reads the same monotonic clock
 * as this one (its time falls between two readings here).
 */
export async function startClient(name: string): Promise<Agent> {
  const client = await Agent.start(CLIENT_AGENT, { name: `${name} client`, nodeFlags: ['--max-old-space-size=8192'] });
  const before = nowMs();
  const theirs = await client.call<number>('now');
  const after = nowMs();
  if (!(before <= theirs && theirs <= after)) {
    await client.stop();
    throw new Error(`Clocks differ between processes: ${before} <= ${theirs} <= ${after} does not hold`);
  }
  return client;
}

/** Start a server and a client process; the server listening. */
export async function startPair(name: string, start: ServerStartOptions = {}, serverFlags: string[] = []): Promise<Pair> {
  const [server, client] = await Promise.all([startServer(name, serverFlags), startClient(name)]);
  const ports = await server.call<ServerPorts>('start', start);
  return { server, client, ports };
}

/** Stop both processes of a pair (clients first, so the server sees no late traffic). */
export async function stopPair(pair: Pair): Promise<void> {
  await pair.client.stop();
  await pair.server.stop();
}

/**
 * Poll the server's counts until `predicate` holds.
 *
 * @throws {Error} After a long wait, with the last counts
 */
export async function untilCounts(server: Agent, predicate: (counts: ServerCounts) => boolean, what: string): Promise<ServerCounts> {
  const deadline = nowMs() + WAIT_MS;
  for (;;) {
    const counts = await server.call<ServerCounts>('counts');
    if (predicate(counts)) return counts;
    if (nowMs() > deadline) throw new Error(`Timed out waiting for ${what}; server counts: ${JSON.stringify(counts)}`);
    await sleep(20);
  }
}

/** Live (not yet closed) connections of a manager. */
export function live(counts: ServerCounts, manager: ManagerName): number {
  const c = counts.managers[manager];
  return c ? c.connecting + c.connected + c.closing : 0;
}

/** The items rotated by `round`, so each one goes first in turn. */
export function rotate<T>(items: readonly T[], round: number): T[] {
  const k = round % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

/**
 * Time from `run`'s start (its `t0`, taken in the server) until the client
 * has `target` more messages, and the server's CPU time meanwhile.
 */
export async function timeDelivery(
  pair: Pair,
  target: number,
  run: () => Promise<{ t0: number }>
): Promise<{ elapsedMs: number; cpuMicros: number }> {
  await pair.client.call('arm', { target });
  const [done, { t0 }] = await Promise.all([pair.client.call<number>('wait', { timeoutMs: WAIT_MS }), run()]);
  const cpuMicros = await pair.server.call<number>('cpuSinceRun');
  return { elapsedMs: done - t0, cpuMicros };
}

/** How one broadcast subject is measured. */
export interface BroadcastPlan {
  subject: BroadcastSubject;
  manager?: ManagerName;
  /** Connected clients that each get every message. */
  connections: number;
  /** Broadcasts in the throughput run (one per event-loop turn). */
  throughputBroadcasts: number;
  /** Broadcasts timed one at a time, each after the last one fully arrived. */
  latencyBroadcasts: number;
  bytes: number;
}

/**
 * Delivered throughput and server CPU per message of back-to-back
 * broadcasts, then p50/p99 of the time from one broadcast call until the
 * last client has the message.
 */
export async function measureBroadcast(pair: Pair, plan: BroadcastPlan): Promise<Partial<Record<Metric, number>>> {
  const { subject, manager, connections, bytes } = plan;
  const delivered = connections * plan.throughputBroadcasts;
  const throughput = await timeDelivery(pair, delivered, () =>
    pair.server.call('broadcastRun', { subject, manager, count: plan.throughputBroadcasts, bytes })
  );
  const latencies: number[] = [];
  for (let i = 0; i < plan.latencyBroadcasts; i++) {
    const one = await timeDelivery(pair, connections, () => pair.server.call('broadcastRun', { subject, manager, count: 1, bytes }));
    latencies.push(one.elapsedMs);
  }
  return {
    msgs_per_sec: (delivered / throughput.elapsedMs) * 1000,
    server_cpu_us_per_msg: throughput.cpuMicros / delivered,
    p50_latency_ms: quantile(latencies, 0.5),
    p99_latency_ms: quantile(latencies, 0.99)
  };
}
