/**
 * The server process of the storm scenario (#14): a ConnectionManager with
 * sessions (its clients resume) or without, a raw ws server, or Socket.IO 4 with
 * connection state recovery. `drop` cuts every connection at once, as a
 * deploy or a network blip does; the process samples its heap meanwhile.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { Server as IoServer } from 'socket.io';
import { WebSocketServer } from 'ws';
import { ConnectionManager } from '../src/index.js';
import { cpuMicrosSince, nowMs } from './clock.js';
import { serveAgent } from './rpc.js';

/** `manager-plain`: the manager without sessions, its clients plain ws reconnecting at once: the storm with no resume. */
export type StormSubject = 'manager' | 'manager-plain' | 'ws' | 'socket.io';

let subject: StormSubject = 'manager';
let http: HttpServer | undefined;
let wss: WebSocketServer | undefined;
let manager: ConnectionManager | undefined;
let io: IoServer | undefined;
let cpuMark = process.cpuUsage();
let sampler: NodeJS.Timeout | undefined;
let peakHeap = 0;

function connected(): number {
  if (subject === 'socket.io') return io!.engine.clientsCount;
  if (manager !== undefined) return manager.counts.connected;
  return wss!.clients.size;
}

serveAgent({
  start: async (args: { subject: StormSubject }) => {
    subject = args.subject;
    http = createServer();
    if (subject === 'socket.io') {
      io = new IoServer(http, { transports: ['websocket'], serveClient: false, connectionStateRecovery: { maxDisconnectionDuration: 120_000 } });
    } else {
      wss = new WebSocketServer({ server: http });
      if (subject === 'manager' || subject === 'manager-plain') {
        manager = new ConnectionManager({ logger: pino({ level: 'silent' }), ...(subject === 'manager' ? { sessions: { ttlMs: 120_000 } } : {}) });
        manager.attach(wss, { identify: (request) => ({ userId: new URL(request.url ?? '/', 'http://127.0.0.1').searchParams.get('user') ?? 'u' }) });
      } else {
        wss.on('connection', (ws) => {
          ws.on('error', () => {});
          ws.on('message', () => {});
        });
      }
    }
    http.listen({ host: '127.0.0.1', port: 0, backlog: 16_384 });
    await new Promise((resolve) => http!.once('listening', resolve));
    return (http.address() as AddressInfo).port;
  },
  connected: () => connected(),
  /** Cut every connection now; sample the heap until `settle`. Resolves with when the cut began. */
  drop: () => {
    (globalThis as { gc?: () => void }).gc?.();
    const before = process.memoryUsage().heapUsed;
    peakHeap = before;
    sampler = setInterval(() => {
      peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
    }, 5);
    cpuMark = process.cpuUsage();
    const at = nowMs();
    if (subject === 'socket.io') for (const socket of io!.sockets.sockets.values()) socket.conn.close();
    else if (manager !== undefined) for (const connection of manager.connections()) void connection.terminate();
    else for (const ws of wss!.clients) ws.terminate();
    return { at, heapBefore: before };
  },
  /** The storm is over: CPU since the cut, and the heap's peak. */
  settle: () => {
    clearInterval(sampler);
    return { cpuMicros: cpuMicrosSince(cpuMark), peakHeap };
  },
  stop: async () => {
    if (manager) await manager.shutdown({ timeoutMs: 1_000 });
    if (io) await io.close();
    wss?.close();
    http?.closeAllConnections();
    if (http?.listening) await new Promise<void>((resolve) => http!.close(() => resolve()));
    return true;
  }
});
