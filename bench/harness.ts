/** Starting agent processes and timing deliveries: what every scenario shares. */
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { nowMs, sleep } from './clock.js';
import { Agent } from './rpc.js';
import type { BroadcastSubject, ManagerName, ServerCounts, ServerPorts, ServerStartOptions } from './server-agent.js';
import { quantile } from './stats.js';
import type { Metric } from './results.js';

const SERVER_AGENT = new URL('./server-agent.ts', import.meta.url);
const CLIENT_AGENT = new URL('./client-agent.ts', import.meta.url);
/** Longest wait for one delivery or one population. */
const WAIT_MS = 180_000;

/**
 * CPUs the server and client processes are pinned to (`taskset`), so the
 * scheduler does not move them onto one CPU mid-run; `undefined` when not
 * pinning (one CPU, no `taskset`, or `--no-pin`).
 */
let pinning: { server: string; client: string } | undefined;

/** Pin server processes to the first CPU and client processes to the others, if `taskset` exists. */
export function pinProcesses(enabled: boolean): string {
  pinning = undefined;
  if (!enabled) return 'not pinned (--no-pin)';
  const cpus = availableParallelism();
  if (cpus < 2) return 'not pinned (one CPU)';
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
  } catch {
    return 'not pinned (no taskset)';
  }
  pinning = { server: '0', client: cpus === 2 ? '1' : `1-${cpus - 1}` };
  return `server processes on CPU ${pinning.server}, client processes on CPU ${pinning.client}`;
}

function pin(agent: Agent, cpus: string | undefined): void {
  if (cpus === undefined || agent.pid === undefined) return;
  // -a: every thread of the process (libuv's pool and V8's helpers too).
  execFileSync('taskset', ['-a', '-p', '-c', cpus, String(agent.pid)], { stdio: 'ignore' });
}

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
 * Start a server process (`serverFlags` e.g. `--expose-gc`); `script` is
 * the agent module (default: the server of the ws-lifecycle scenarios).
 *
 * @returns {Promise<Agent>} The agent, not yet started with `start`
 */
export async function startServer(name: string, serverFlags: string[] = [], script: URL = SERVER_AGENT): Promise<Agent> {
  const server = await Agent.start(script, { name: `${name} server`, nodeFlags: [...serverFlags, ...extraServerFlags] });
  pin(server, pinning?.server);
  return server;
}

/**
 * Start a client process and check that it reads the same monotonic clock
 * as this one (its time falls between two readings here).
 */
export async function startClient(name: string, script: URL = CLIENT_AGENT): Promise<Agent> {
  const client = await Agent.start(script, { name: `${name} client`, nodeFlags: ['--max-old-space-size=8192'] });
  pin(client, pinning?.client);
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

/** One way to broadcast, and the processes it runs in. */
export interface BroadcastTarget {
  /** Name in the results. */
  name: string;
  pair: Pair;
  subject: BroadcastSubject;
  /** For `manager.broadcast`: which manager. */
  manager?: ManagerName;
}

/** Sizes of one broadcast round. */
export interface BroadcastSizes {
  /** Connected clients that each get every message. */
  connections: number;
  /** Broadcasts in a throughput run (one per event-loop turn). */
  throughputBroadcasts: number;
  /** Broadcasts timed one at a time, each after the last one fully arrived. */
  latencyBroadcasts: number;
  bytes: number;
}

/**
 * One round for every target: a throughput run each (delivered rate and
 * server CPU per message), in rotated order; then latency samples (time
 * from the broadcast call until the last client has the message), taken in
 * turn from every target so that a burst of outside load hits them alike.
 *
 * @returns {Map<string, Partial<Record<Metric, number>>>} Metrics by target name
 */
export async function broadcastRound(
  targets: readonly BroadcastTarget[],
  round: number,
  sizes: BroadcastSizes
): Promise<Map<string, Partial<Record<Metric, number>>>> {
  const { connections, bytes } = sizes;
  const broadcast = (target: BroadcastTarget, count: number) => () =>
    target.pair.server.call<{ t0: number }>('broadcastRun', { subject: target.subject, manager: target.manager, count, bytes });
  const results = new Map<string, Partial<Record<Metric, number>>>();
  const delivered = connections * sizes.throughputBroadcasts;
  for (const target of rotate(targets, round)) {
    const run = await timeDelivery(target.pair, delivered, broadcast(target, sizes.throughputBroadcasts));
    results.set(target.name, {
      msgs_per_sec: (delivered / run.elapsedMs) * 1000,
      server_cpu_us_per_msg: run.cpuMicros / delivered
    });
  }
  const latencies = new Map<string, number[]>(targets.map((target) => [target.name, []]));
  for (let i = 0; i < sizes.latencyBroadcasts; i++) {
    for (const target of rotate(targets, round + i)) {
      const one = await timeDelivery(target.pair, connections, broadcast(target, 1));
      latencies.get(target.name)!.push(one.elapsedMs);
    }
  }
  for (const target of targets) {
    const samples = latencies.get(target.name)!;
    Object.assign(results.get(target.name)!, { p50_latency_ms: quantile(samples, 0.5), p99_latency_ms: quantile(samples, 0.99) });
  }
  return results;
}
