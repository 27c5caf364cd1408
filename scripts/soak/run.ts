/**
 * One soak run: warm-up, heap baseline, the main churn, the heap again,
 * a shutdown under load, and everything the checks need.
 */
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';
import type { ConnectionManagerOptions, ShutdownReport } from '../../src/index.js';
import { startSoakServer, until } from './server.js';
import {
  checkClientExit,
  checkFanOutReports,
  checkHeap,
  checkNoHandlesLeft,
  checkNoSendAfterClose,
  checkRefusals,
  checkRegistryEmpty,
  checkSendsSettled,
  checkWorkload,
  type CheckResult,
  type ClientExit,
  type RegistryState
} from './checks.js';
import { ClientProcess } from './client-process.js';
import { within } from './deadline.js';
import { SoakDriver, type DriverReport } from './driver.js';
import type { SoakOptions } from './options.js';
import { SocketProbe, type ProbeReport } from './probe.js';
import type { ClientStats } from './protocol.js';
import { createRandom, type Random } from './random.js';

/** Sampling period of the event-loop delay monitor; its readings include it, so it is subtracted. */
const LOOP_RESOLUTION_MS = 5;
/** Bound on every wait for the system to settle (drain, pending writes). */
const SETTLE_MS = 15_000;
/** How long closing handles get to close before what remains counts as left behind. */
const HANDLES_SETTLE_MS = 2_000;
/** The warm-up goes on past its time (up to 3 times as long) until this many connections were opened. */
const WARMUP_CONNECTIONS = 2_000;
/** The last churn, which the manager's shutdown interrupts. */
const FINALE_SECONDS = 1;

/** Everything a run measured, for the summary. */
export interface SoakSummary {
  options: SoakOptions;
  /** Measured length of each churn phase. */
  seconds: { warmup: number; main: number; finale: number };
  driver: DriverReport;
  probe: ProbeReport;
  client: ClientStats | undefined;
  clientExit: ClientExit;
  /** The shutdown under load at the end. */
  shutdown: ShutdownReport;
  registry: RegistryState;
  ignoredEvents: number;
  /** Server event-loop delay during the main phase, in milliseconds. */
  eventLoopDelayMs: { p50: number; p99: number; max: number };
  heap: { start: HeapReading; end: HeapReading };
  resources: string[];
}

/** heapUsed after GC, and the part of it that is JIT-compiled code. */
export interface HeapReading {
  used: number;
  code: number;
}

/** The outcome of a run: its checks, in {@link CHECK_NAMES} order, and what it measured. */
export interface SoakOutcome {
  checks: CheckResult[];
  summary: SoakSummary;
}

/** The manager under test: short timers so heartbeats, close timeouts and limits all fire. */
function managerOptions(random: Random): ConnectionManagerOptions {
  return {
    heartbeatIntervalMs: 1_000,
    closeTimeoutMs: 1_000,
    handshakeTimeoutMs: 2_000,
    maxConnectionsPerUser: 8,
    maxBufferedBytes: 1024 * 1024,
    backpressurePolicy: 'close',
    maxMessagesPerSecond: 100,
    // Some connections stay `connecting` for a moment; a few are refused.
    authenticate: () => {
      if (random.chance(0.02)) return false;
      if (random.chance(0.7)) return true;
      return sleep(random.int(1, 20), true);
    }
  };
}

/**
 * Run the soak. Needs `--expose-gc`.
 *
 * One server and one manager throughout: a warm-up churn, the clients
 * leave, the heap baseline; the main churn, the clients leave, the heap
 * again (same manager, same idle state, so anything it kept per connection
 * shows); then a short churn that the manager shuts down under load, the
 * client process and the server stop, and the remaining handles are listed.
 *
 * @param {SoakOptions} options Length, load and seed
 * @returns {Promise<SoakOutcome>} The checks and the numbers
 * @throws {Error} If `gc` is not exposed or the client process cannot start
 */
export async function runSoak(options: SoakOptions): Promise<SoakOutcome> {
  const gc = globalThis.gc;
  if (typeof gc !== 'function') throw new Error('runSoak needs node --expose-gc (globalThis.gc is undefined)');
  const random = createRandom(options.seed);
  const snapshot = (name: string): string | undefined =>
    options.heapSnapshots === undefined ? undefined : join(options.heapSnapshots, `soak-${process.pid}-${name}.heapsnapshot`);
  const server = await startSoakServer(managerOptions(random));
  const { manager, wss } = server;
  const probe = new SocketProbe();
  const driver = new SoakDriver(manager, random, probe, { users: options.users, opsPerTick: options.opsPerTick, maxPending: 50_000 });
  const client = await ClientProcess.start({
    port: server.port,
    seed: options.seed,
    maxLive: options.maxLive,
    openConcurrency: 256,
    users: options.users
  });
  /** Churn for `seconds`, and on until `enough()` holds, but at most `maxSeconds`. */
  const churn = async (seconds: number, enough = (): boolean => true, maxSeconds = seconds): Promise<number> => {
    const started = performance.now();
    driver.start();
    client.run();
    await sleep(seconds * 1000);
    while (!enough() && performance.now() - started < maxSeconds * 1000) await sleep(100);
    driver.stop();
    return (performance.now() - started) / 1000;
  };
  const quiet = async (): Promise<void> => {
    // A terminated connection is `closed` at once; its socket leaves wss.clients when ws reports 'close'.
    const idle = (): boolean => manager.size === 0 && wss.clients.size === 0 && probe.pendingWrites === 0 && driver.pendingSends === 0;
    await until(idle, SETTLE_MS);
  };
  const clientsLeave = async (): Promise<void> => {
    await client.drain(SETTLE_MS);
    await quiet();
  };

  // The JIT settles with work done, not time: on a busy machine the warm-up runs longer.
  const warmedUp = (): boolean => driver.accepted >= WARMUP_CONNECTIONS;
  const warmup = await churn(options.warmupSeconds, warmedUp, options.warmupSeconds * 3);
  await clientsLeave();
  const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  const heapStart = await heapAfterGc(gc, snapshot('start'));

  loop.enable();
  const main = await churn(options.seconds);
  loop.disable();
  await clientsLeave();
  const heapEnd = await heapAfterGc(gc, snapshot('end'));

  // Shut down while the client still churns: new sockets meet a manager that is shutting down.
  const finale = await churn(FINALE_SECONDS);
  const shutdown = await manager.shutdown({ timeoutMs: 3_000, batchSize: 250, batchIntervalMs: 5 });
  const { stats, exit } = await client.stop();
  await quiet();
  await within(server.stop(), SETTLE_MS);
  const resources = await remainingResources(stdioResources());

  const driverReport = driver.report();
  const probeReport = probe.report();
  const registry: RegistryState = {
    size: manager.size,
    counts: manager.counts,
    accepted: driverReport.accepted,
    closeEvents: driverReport.closeEvents,
    closedTwice: driverReport.closedTwice,
    tracked: driverReport.tracked,
    serverClients: wss.clients.size
  };
  const checks = [
    checkNoSendAfterClose(probeReport.violations),
    checkSendsSettled({ ...driverReport.ledgers, 'ws.send callback': probeReport.writeCallbacks }),
    checkFanOutReports(driverReport.fanOutReports),
    checkRefusals(driverReport.refusals),
    checkRegistryEmpty(registry),
    checkHeap(heapStart.used, heapEnd.used),
    checkClientExit(exit),
    checkNoHandlesLeft(resources, stdioResources()),
    checkWorkload(workloadCounts(driverReport, stats))
  ];
  const ms = (ns: number): number => Math.max(0, Math.round(ns / 1e5 - LOOP_RESOLUTION_MS * 10) / 10);
  return {
    checks,
    summary: {
      options,
      seconds: { warmup, main, finale },
      driver: driverReport,
      probe: probeReport,
      client: stats,
      clientExit: exit,
      shutdown,
      registry,
      ignoredEvents: manager.ignoredEvents,
      eventLoopDelayMs: { p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), max: ms(loop.max) },
      heap: { start: heapStart, end: heapEnd },
      resources
    }
  };
}

/**
 * heapUsed after full collections: turns between them let finalizers and
 * weak maps catch up; the last collection comes right before the reading,
 * so nothing allocated in between is counted.
 */
async function heapAfterGc(gc: () => unknown, snapshotTo: string | undefined): Promise<HeapReading> {
  for (let i = 0; i < 3; i++) {
    gc();
    await nextTurn();
  }
  if (snapshotTo !== undefined) console.log(`heap snapshot: ${writeHeapSnapshot(snapshotTo)}`);
  gc();
  const used = process.memoryUsage().heapUsed;
  const code = getHeapSpaceStatistics().find((space) => space.space_name === 'code_space')?.space_used_size ?? 0;
  return { used, code };
}

/**
 * The active resources once handles that are closing have closed: a
 * destroyed socket stays listed until libuv's close phase, so poll briefly
 * (each poll's own timer has fired when it is read) before taking what is
 * left as left behind.
 */
async function remainingResources(allowed: readonly string[]): Promise<string[]> {
  const deadline = Date.now() + HANDLES_SETTLE_MS;
  let resources = process.getActiveResourcesInfo();
  while (!checkNoHandlesLeft(resources, allowed).ok && Date.now() < deadline) {
    await sleep(10);
    resources = process.getActiveResourcesInfo();
  }
  return resources;
}

/** The handles stdout and stderr may hold open: a pipe each (a TTY or a file holds none that counts). */
function stdioResources(): string[] {
  return [process.stdout, process.stderr].filter((stream) => !stream.isTTY).map(() => 'PipeWrap');
}

/** The kinds of operation a run must have done at least once. */
function workloadCounts(d: DriverReport, client: ClientStats | undefined): Record<string, number> {
  return {
    'connections accepted': d.accepted,
    'sends ok': d.sends.ok,
    'sends refused closing': d.sends.refused.closing ?? 0,
    'sends refused closed': d.sends.refused.closed ?? 0,
    'sends refused not_found': d.sends.refused.not_found ?? 0,
    broadcasts: d.fanOut.broadcasts,
    sendToUser: d.fanOut.sendsToUser,
    'server closes': d.serverCloses,
    'server terminates': d.serverTerminates,
    'client closes': client?.closes ?? 0,
    'client terminates': client?.terminates ?? 0,
    'client aborted handshakes': client?.aborted ?? 0
  };
}
