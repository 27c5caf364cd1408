/**
 * A node of the cluster scenario (#12): a ConnectionManager with
 * `ws-lifecycle/redis` serving session clients, or Socket.IO 4 with
 * `@socket.io/redis-streams-adapter` and connection state recovery; both
 * on the same Redis, each run under a prefix (stream name) of its own.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { pino } from 'pino';
import { createClient } from 'redis';
import { Server as IoServer } from 'socket.io';
import { WebSocketServer } from 'ws';
import { ConnectionManager } from '../src/index.js';
import { RedisCluster } from '../src/cluster/redis.js';
import { userTopic } from '../src/sessions/session-hub.js';
import { nextTurn, nowMs } from './clock.js';
import { serveAgent } from './rpc.js';

export type ClusterSubject = 'cluster' | 'socket.io';

/** Where the nodes' Redis is: one server, or a Redis Cluster (ws-lifecycle only). */
export type RedisWhere = { url: string } | { clusterNodes: Array<{ host: string; port: number }> };

/** Both keep sessions this long, longer than any run. */
const RECOVERY_MS = 120_000;
/** Messages published per event-loop turn. */
const PUBLISH_BATCH = 64;

let http: HttpServer | undefined;
let manager: ConnectionManager | undefined;
let cluster: RedisCluster | undefined;
let io: IoServer | undefined;
let ioRedis: ReturnType<typeof createClient> | undefined;
let wss: WebSocketServer | undefined;

serveAgent({
  start: async (args: { subject: ClusterSubject; prefix: string; nodeId: string; redis: RedisWhere }) => {
    http = createServer();
    if (args.subject === 'socket.io') {
      if (!('url' in args.redis)) throw new Error('The Socket.IO nodes run on one Redis server');
      ioRedis = createClient({ url: args.redis.url });
      ioRedis.on('error', () => {});
      await ioRedis.connect();
      io = new IoServer(http, {
        transports: ['websocket'],
        adapter: createAdapter(ioRedis, { streamName: `${args.prefix}:stream`, sessionKeyPrefix: `${args.prefix}:session:` }),
        connectionStateRecovery: { maxDisconnectionDuration: RECOVERY_MS, skipMiddlewares: true }
      });
      io.on('connection', (socket) => {
        if (!socket.recovered) void socket.join(String(socket.handshake.query.user ?? 'u'));
      });
    } else {
      cluster = await RedisCluster.connect({ ...args.redis, prefix: args.prefix, nodeId: args.nodeId, logger: pino({ level: 'silent' }), maxEntriesPerTopic: 100_000 });
      manager = new ConnectionManager({ logger: pino({ level: 'silent' }), cluster, sessions: { ttlMs: RECOVERY_MS } });
      wss = new WebSocketServer({ server: http });
      manager.attach(wss, { identify: (request) => ({ userId: new URL(request.url ?? '/', 'http://127.0.0.1').searchParams.get('user') ?? 'u' }) });
    }
    await new Promise<void>((resolve) => http!.listen(0, '127.0.0.1', () => resolve()));
    return (http.address() as AddressInfo).port;
  },
  /** Publish messages `first`..`first + count - 1` of about `bytes` to `user`; resolves with when it started and how many were taken. */
  publish: async (args: { user: string; first: number; count: number; bytes: number; paceMs?: number }) => {
    const pad = 'x'.repeat(Math.max(0, args.bytes - 40));
    const startedAt = nowMs();
    const writes: Array<Promise<boolean>> = [];
    for (let i = 0; i < args.count; i++) {
      const message = { n: args.first + i, pad };
      if (io) {
        io.to(args.user).emit('m', message);
        writes.push(Promise.resolve(true));
      } else writes.push(manager!.publish(userTopic(args.user), message).then((result) => result.ok));
      if (args.paceMs !== undefined) await new Promise((resolve) => setTimeout(resolve, args.paceMs));
      else if ((i + 1) % PUBLISH_BATCH === 0) await nextTurn();
    }
    const taken = (await Promise.all(writes)).filter(Boolean).length;
    return { startedAt, taken };
  },
  stop: async () => {
    if (manager) await manager.shutdown({ timeoutMs: 1_000 });
    if (cluster) {
      await cluster.store.clear();
      await cluster.close();
    }
    wss?.close();
    if (io) await io.close();
    if (ioRedis) await ioRedis.close();
    http?.closeAllConnections();
    if (http?.listening) await new Promise<void>((resolve) => http!.close(() => resolve()));
    return true;
  }
});
