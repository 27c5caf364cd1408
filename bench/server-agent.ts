/**
 * The server process of a benchmark: a ws server whose sockets are taken
 * over by a ConnectionManager (or left raw), and optionally a Socket.IO
 * server. The orchestrator drives it through commands; the load comes from
 * the client process.
 */
import { once } from 'node:events';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';
import { writeHeapSnapshot } from 'node:v8';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { pino, type DestinationStream, type Logger } from 'pino';
import { Server as SocketIoServer } from 'socket.io';
import { WebSocket, WebSocketServer } from 'ws';
import { createActor } from 'xstate';
import { connectionMachine } from '../machines/connection.machine.js';
import { ActorSystemPool } from '../src/core/actor-systems.js';
import { ConnectionManager, type Connection, type StateCounts } from '../src/index.js';
import { LifecycleMetrics } from '../src/metrics/lifecycle-metrics.js';
import { cpuMicrosSince, nextTurn, nowMs } from './clock.js';
import { makeMessage, type BenchMessage } from './messages.js';
import { serveAgent } from './rpc.js';

/**
 * Who takes over a newly accepted socket: nobody (`raw`), the manager of
 * that name, or nobody but with the connection chart's XState actor run
 * beside the socket (`raw+actor`: created, OPENED, CLOSE when the server
 * closes, TRANSPORT_CLOSED at `close`), the cost of an actor per connection
 * with no binding at all (#14).
 */
export type AcceptMode = 'raw' | 'raw+actor' | ManagerName;
/**
 * The managers a server process can hold; they differ only in where the
 * audit goes, or (`metrics`) in being measured by ws-lifecycle/metrics on
 * the OpenTelemetry SDK, with a Prometheus reader nobody scrapes during a run.
 */
export type ManagerName = 'silent' | 'audit-file' | 'audit-file-sync' | 'metrics';
/**
 * Ways to send to one connection. `ws.send+promise` is raw ws with a
 * per-message report (a promise settled by the write callback), what
 * `connection.send` gave before it batched a turn's sends. `ws.send+cork` is
 * raw ws batched the way `connection.send` batches (socket corked for the
 * turn, written at 16 KiB), without a report: it tells the batching's gain
 * from the rest.
 */
export type SendSubject =
  | 'manager.send'
  | 'connection.send'
  | 'ws.send'
  | 'ws.send+promise'
  | 'ws.send+cork'
  /** The same two through the `metrics` manager's connection. */
  | 'manager.send+metrics'
  | 'connection.send+metrics';
/**
 * Ways to send one message to everyone. `ws-loop+report` is the raw loop
 * with the same report as `manager.broadcast` (a write callback per socket,
 * one promise per broadcast).
 */
export type BroadcastSubject = 'manager.broadcast' | 'ws-loop' | 'ws-loop+report' | 'socket.io';

export interface ServerStartOptions {
  /** Start a Socket.IO server too. */
  socketIo?: boolean;
  /** File the `audit-file*` managers write to; without it only `silent` exists. */
  auditFile?: string;
}

export interface ServerPorts {
  ws: number;
  socketIo: number | undefined;
}

export interface ServerCounts {
  /** Open server-side ws sockets. */
  ws: number;
  /** Connection counts per manager. */
  managers: Partial<Record<ManagerName, StateCounts>>;
  /** Connected Socket.IO clients. */
  socketIo: number;
}

export interface MemorySample {
  heapUsed: number;
  rss: number;
}

const TEXT = Object.freeze({ binary: false });
/** Pause a send loop once this much is queued on the socket. */
const HIGH_WATER_BYTES = 1 << 20;
/** Check the queue every this many bytes sent. */
const CHECK_EVERY_BYTES = 64 * 1024;

let wss: WebSocketServer | undefined;
let http: HttpServer | undefined;
let io: SocketIoServer | undefined;
const managers = new Map<ManagerName, ConnectionManager>();
const auditStreams: DestinationStream[] = [];
let acceptMode: AcceptMode = 'silent';
let closeOnConnect = false;
let cpuMark: NodeJS.CpuUsage = process.cpuUsage();
const meterProvider = new MeterProvider({ readers: [new PrometheusExporter({ preventServerStart: true })] });

const silent: Logger = pino({ level: 'silent' });
function ignore(): void {}

const actorSystems = new ActorSystemPool();
const CHART_TIMING = { handshakeTimeoutMs: 10_000, closeTimeoutMs: 5_000, heartbeatIntervalMs: 30_000 };

function withActor(ws: WebSocket): void {
  const slot = actorSystems.acquire();
  const actor = createActor(connectionMachine, { input: CHART_TIMING, parent: slot.root });
  actor.start();
  actor.send({ type: 'OPENED' });
  ws.once('close', (code: number) => {
    actor.send({ type: 'TRANSPORT_CLOSED', code, reason: '' });
    actorSystems.release(slot);
  });
  if (closeOnConnect) actor.send({ type: 'CLOSE', code: 1000, reason: 'churn' });
}

function onConnection(ws: WebSocket): void {
  if (acceptMode === 'raw' || acceptMode === 'raw+actor') {
    if (acceptMode === 'raw+actor') withActor(ws);
    // What a minimal raw ws server does: handle errors and messages.
    ws.on('error', ignore);
    ws.on('message', ignore);
    if (closeOnConnect) ws.close(1000, 'churn');
    return;
  }
  const connection = managerNamed(acceptMode).accept(ws);
  if (closeOnConnect) void connection.close(1000, 'churn');
}

function managerNamed(name: ManagerName): ConnectionManager {
  const manager = managers.get(name);
  if (!manager) throw new Error(`No manager named ${JSON.stringify(name)} (started: ${[...managers.keys()].join(', ')})`);
  return manager;
}

function onlyConnection(name: ManagerName): Connection {
  const [connection, ...others] = managerNamed(name).connections();
  if (!connection || others.length > 0) {
    throw new Error(`Send benchmarks need exactly one connection, found ${others.length + (connection ? 1 : 0)}`);
  }
  return connection;
}

async function start(options: ServerStartOptions): Promise<ServerPorts> {
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0, backlog: 4096 });
  await once(wss, 'listening');
  wss.on('connection', onConnection);
  managers.set('silent', new ConnectionManager({ logger: silent }));
  managers.set('metrics', new ConnectionManager({ logger: silent, metrics: new LifecycleMetrics(meterProvider.getMeter('bench')) }));
  if (options.auditFile !== undefined) {
    const async = pino.destination(options.auditFile);
    const sync = pino.destination({ dest: options.auditFile, sync: true });
    auditStreams.push(async, sync);
    managers.set('audit-file', new ConnectionManager({ logger: silent, audit: pino({ level: 'info' }, async) }));
    managers.set('audit-file-sync', new ConnectionManager({ logger: silent, audit: pino({ level: 'info' }, sync) }));
  }
  let socketIo: number | undefined;
  if (options.socketIo) {
    http = createServer();
    io = new SocketIoServer(http, { transports: ['websocket'], serveClient: false });
    // Churn: the server ends each socket once connected, as the ws servers do.
    io.on('connection', (socket) => {
      if (closeOnConnect) socket.disconnect(true);
    });
    http.listen({ host: '127.0.0.1', port: 0, backlog: 4096 });
    await once(http, 'listening');
    socketIo = (http.address() as AddressInfo).port;
  }
  return { ws: (wss.address() as AddressInfo).port, socketIo };
}

function counts(): ServerCounts {
  const byManager: ServerCounts['managers'] = {};
  for (const [name, manager] of managers) byManager[name] = manager.counts;
  return { ws: wss?.clients.size ?? 0, managers: byManager, socketIo: io?.engine.clientsCount ?? 0 };
}

/**
 * Yield to the event loop, and resolve once the socket's queue is below the
 * high-water mark. Yielding matters: a loop that only awaits settled
 * promises never lets Node run write callbacks (process.nextTick), which a
 * server sending from I/O handlers does between every batch.
 */
function tcpSocket(ws: WebSocket): Socket {
  return (ws as unknown as { _socket: Socket })._socket;
}

async function drained(ws: WebSocket): Promise<void> {
  await nextTurn();
  const socket = tcpSocket(ws);
  while (ws.bufferedAmount > HIGH_WATER_BYTES) await once(socket, 'drain');
}

/** Raw `ws.send` with the socket corked for the rest of the turn or until 16 KiB are queued. */
function corkedSender(ws: WebSocket): (message: BenchMessage) => void {
  const socket = tcpSocket(ws);
  let corked = false;
  const uncork = (): void => {
    if (!corked) return;
    corked = false;
    socket.uncork();
  };
  return (message) => {
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(uncork);
    }
    ws.send(JSON.stringify(message));
    if (ws.bufferedAmount >= 16 * 1024) uncork();
  };
}

/**
 * Send `count` messages of `bytes` to the one connection, as fast as the
 * socket drains. Each message is a fresh object that the subject serializes.
 */
async function sendRun(args: { subject: SendSubject; count: number; bytes: number; paced?: boolean }): Promise<{ t0: number }> {
  const measured = args.subject.endsWith('+metrics');
  const manager = managerNamed(measured ? 'metrics' : 'silent');
  const connection = onlyConnection(measured ? 'metrics' : 'silent');
  const ws = connection.socket;
  const id = connection.id;
  const sendOne: (message: BenchMessage) => void = {
    'manager.send': (message: BenchMessage) => void manager.send(id, message),
    'connection.send': (message: BenchMessage) => void connection.send(message),
    'manager.send+metrics': (message: BenchMessage) => void manager.send(id, message),
    'connection.send+metrics': (message: BenchMessage) => void connection.send(message),
    'ws.send': (message: BenchMessage) => ws.send(JSON.stringify(message)),
    'ws.send+promise': (message: BenchMessage) =>
      void new Promise<boolean>((resolve) => ws.send(JSON.stringify(message), (error) => resolve(!error))),
    'ws.send+cork': corkedSender(ws)
  }[args.subject];
  if (!sendOne) throw new Error(`Unknown send subject ${JSON.stringify(args.subject)}`);
  const checkEvery = Math.max(1, Math.floor(CHECK_EVERY_BYTES / args.bytes));
  cpuMark = process.cpuUsage();
  const t0 = nowMs();
  for (let i = 0; i < args.count; i++) {
    sendOne(makeMessage(args.bytes, i));
    if (args.paced) await nextTurn();
    else if (i % checkEvery === checkEvery - 1) await drained(ws);
  }
  return { t0 };
}

/**
 * Broadcast `count` messages of `bytes` to every connection, one per turn of
 * the event loop. Returns the time just before the first broadcast call.
 */
async function broadcastRun(args: {
  subject: BroadcastSubject;
  manager?: ManagerName;
  count: number;
  bytes: number;
}): Promise<{ t0: number }> {
  const manager = args.subject === 'manager.broadcast' ? managerNamed(args.manager ?? 'silent') : undefined;
  const sockets = wss!.clients;
  const broadcastOne: (message: BenchMessage) => void = {
    'manager.broadcast': (message: BenchMessage) => void manager!.broadcast(message),
    'ws-loop': (message: BenchMessage) => {
      // Serialized and encoded once, as a careful raw ws server would.
      const data = Buffer.from(JSON.stringify(message));
      for (const ws of sockets) if (ws.readyState === WebSocket.OPEN) ws.send(data, TEXT);
    },
    'ws-loop+report': (message: BenchMessage) => void broadcastWithReport(sockets, message),
    'socket.io': (message: BenchMessage) => void io!.emit('msg', message)
  }[args.subject];
  if (!broadcastOne) throw new Error(`Unknown broadcast subject ${JSON.stringify(args.subject)}`);
  if (args.subject === 'socket.io' && !io) throw new Error('socket.io subject needs start({ socketIo: true })');
  cpuMark = process.cpuUsage();
  const t0 = nowMs();
  for (let i = 0; i < args.count; i++) {
    if (i > 0) await nextTurn();
    broadcastOne(makeMessage(args.bytes, i));
  }
  return { t0 };
}

/** The raw loop, reporting like `manager.broadcast`: how many writes succeeded, once all are done. */
function broadcastWithReport(sockets: Set<WebSocket>, message: BenchMessage): Promise<{ sent: number; failed: number }> {
  const data = Buffer.from(JSON.stringify(message));
  const report = { sent: 0, failed: 0 };
  let pending = 0;
  let settle: ((value: typeof report) => void) | undefined;
  const written = (error?: Error): void => {
    if (error) report.failed++;
    else report.sent++;
    if (--pending === 0 && settle) settle(report);
  };
  for (const ws of sockets) {
    if (ws.readyState !== WebSocket.OPEN) continue;
    pending++;
    ws.send(data, TEXT, written);
  }
  if (pending === 0) return Promise.resolve(report);
  return new Promise((resolve) => {
    settle = resolve;
  });
}

async function memory(): Promise<MemorySample> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('memory() needs node --expose-gc');
  for (let i = 0; i < 4; i++) {
    gc();
    await nextTurn();
  }
  const { heapUsed, rss } = process.memoryUsage();
  return { heapUsed, rss };
}

async function stop(): Promise<void> {
  for (const manager of managers.values()) await manager.shutdown({ timeoutMs: 1_000 });
  for (const ws of wss?.clients ?? []) ws.terminate();
  io?.disconnectSockets(true);
  if (wss) await new Promise<void>((resolve) => wss!.close(() => resolve()));
  if (io) await io.close();
  await meterProvider.shutdown();
  for (const stream of auditStreams) {
    await new Promise<void>((resolve) => (stream as unknown as { flush(cb: () => void): void }).flush(() => resolve()));
  }
}

serveAgent({
  start,
  counts,
  sendRun,
  broadcastRun,
  memory,
  stop,
  /** Choose who takes over new sockets, and whether they are closed as soon as they are connected. */
  mode: (args: { accept: AcceptMode; closeOnConnect?: boolean }) => {
    if (args.accept !== 'raw' && args.accept !== 'raw+actor') managerNamed(args.accept);
    acceptMode = args.accept;
    closeOnConnect = args.closeOnConnect ?? false;
  },
  /** Start counting CPU time (send and broadcast runs do it themselves). */
  markCpu: () => {
    cpuMark = process.cpuUsage();
  },
  /** CPU time used since the last run started, in microseconds. */
  cpuSinceRun: () => cpuMicrosSince(cpuMark),
  /** Write a heap snapshot (for finding what a connection costs). */
  heapSnapshot: (args: { path: string }) => writeHeapSnapshot(args.path)
});
