/**
 * The server process of the sessions scenario (#11): one user's topic fed
 * by an agent, served by a ConnectionManager to session clients
 * (`sessions`), to plain connections (`plain`: sessions off), or by
 * Socket.IO 4 with connection state recovery and its in-memory adapter.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { Server as IoServer } from 'socket.io';
import { WebSocketServer } from 'ws';
import { ConnectionManager } from '../src/index.js';
import { MemoryTopicStore } from '../src/sessions/topic-store.js';
import { nextTurn, nowMs } from './clock.js';
import { serveAgent } from './rpc.js';

export type SessionSubject = 'sessions' | 'plain' | 'socket.io';

/** Messages written per event-loop turn by the publishing agent: a server's I/O gets its turns between. */
const PUBLISH_BATCH = 64;
/** Both servers keep sessions this long, longer than any run. */
const RECOVERY_MS = 120_000;
/**
 * Socket.IO keeps every packet of the recovery window, unbounded; the topic
 * store is bounded (1,000 messages per topic by default), so it is given
 * room for a whole run here: the comparison is of delivery, not of bounds.
 */
const HISTORY = { maxEntriesPerTopic: 1_000_000, maxBytesPerTopic: 1024 * 1024 * 1024, maxBytes: 1024 * 1024 * 1024 };
/** One user's 50 tabs are 50 live sessions: past the default (32) the 33rd hello is refused with 1008. */
const SESSIONS_PER_USER = 64;

let http: HttpServer | undefined;
let manager: ConnectionManager | undefined;
let wss: WebSocketServer | undefined;
let io: IoServer | undefined;
let subject: SessionSubject = 'sessions';
let seq = 0;

function userOf(url: string | undefined): string {
  return new URL(url ?? '/', 'http://127.0.0.1').searchParams.get('user') ?? 'u';
}

serveAgent({
  start: async (args: { subject: SessionSubject }) => {
    subject = args.subject;
    seq = 0;
    http = createServer();
    if (subject === 'socket.io') {
      io = new IoServer(http, { transports: ['websocket'], connectionStateRecovery: { maxDisconnectionDuration: RECOVERY_MS, skipMiddlewares: true } });
      io.on('connection', (socket) => {
        // A recovered socket has its rooms back.
        if (!socket.recovered) void socket.join(String(socket.handshake.query.user ?? 'u'));
      });
    } else {
      manager = new ConnectionManager({ logger: pino({ level: 'silent' }), sessions: { ttlMs: RECOVERY_MS, maxSessionsPerUser: SESSIONS_PER_USER, store: new MemoryTopicStore(HISTORY) } });
      wss = new WebSocketServer({ server: http });
      manager.attach(wss, { identify: (request) => ({ userId: userOf(request.url) }) });
    }
    await new Promise<void>((resolve) => http!.listen(0, '127.0.0.1', () => resolve()));
    return (http.address() as AddressInfo).port;
  },
  /** Publish `count` messages of about `bytes` to `user`; resolves with the time the first was published. */
  publish: async (args: { user: string; count: number; bytes: number }) => {
    const pad = 'x'.repeat(Math.max(0, args.bytes - 40));
    const startedAt = nowMs();
    for (let i = 0; i < args.count; i++) {
      const message = { n: ++seq, pad };
      if (io) io.to(args.user).emit('m', message);
      else void manager!.sendToUser(args.user, message);
      if ((i + 1) % PUBLISH_BATCH === 0) await nextTurn();
    }
    return startedAt;
  },
  counts: () =>
    io
      ? { connections: io.engine.clientsCount, sessions: undefined }
      : { connections: manager!.size, sessions: manager!.sessions },
  heapUsed: () => {
    (globalThis as { gc?: () => void }).gc?.();
    return process.memoryUsage().heapUsed;
  },
  stop: async () => {
    if (manager) await manager.shutdown({ timeoutMs: 1_000 });
    wss?.close();
    // Socket.IO closes the HTTP server with it.
    if (io) await io.close();
    http?.closeAllConnections();
    await new Promise<void>((resolve) => (http?.listening ? http.close(() => resolve()) : resolve()));
    manager = undefined;
    wss = undefined;
    io = undefined;
    http = undefined;
    return subject;
  }
});
