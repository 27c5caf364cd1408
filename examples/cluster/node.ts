/**
 * One node of the cluster demo (#12), as its own process: a
 * ConnectionManager over ws on 127.0.0.1 with `ws-lifecycle/redis`, a
 * readiness check at `/ready`, and a small IPC interface for the driver
 * (publish for an agent, presence). SIGTERM drains: the readiness check
 * says no, every connection is closed with 1001 (clients resume on another
 * node), Redis is released, exit 0.
 *
 *   tsx examples/cluster/node.ts --node-id node-1 --prefix wsl-demo [--redis URL | --sentinels HOST:PORT,... --master-name NAME
 *     | --cluster-nodes HOST:PORT,...] [--port N] [--ttl MS]
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { WebSocketServer } from 'ws';
import { ConnectionManager } from '../../src/index.js';
import { RedisCluster } from '../../src/cluster/redis.js';
import { userTopic } from '../../src/sessions/session-hub.js';

/** What the driver asks a node, over IPC. */
export type NodeRequest =
  | { id: number; type: 'publish'; user: string; message: unknown }
  | { id: number; type: 'presence'; user: string }
  | { id: number; type: 'counts' }
  | { id: number; type: 'readiness' }
  | { id: number; type: 'position'; topic: string };

/** What a node tells the driver. */
export type NodeReply =
  | { type: 'listening'; port: number; nodeId: string }
  | { id: number; type: 'reply'; value: unknown };

const { values } = parseArgs({
  options: {
    'node-id': { type: 'string' },
    prefix: { type: 'string' },
    redis: { type: 'string' },
    sentinels: { type: 'string' },
    'master-name': { type: 'string' },
    'cluster-nodes': { type: 'string' },
    port: { type: 'string', default: '0' },
    ttl: { type: 'string', default: '120000' }
  }
});
if (values['node-id'] === undefined || values.prefix === undefined) throw new RangeError('--node-id and --prefix are required');
const nodeId = values['node-id'];
const logger = pino({ level: process.env.LOG_LEVEL ?? 'warn' }).child({ nodeId });

/** `host:port,host:port` as addresses. */
function addresses(list: string): Array<{ host: string; port: number }> {
  return list.split(',').map((address) => {
    const [host, port] = address.split(':');
    if (host === undefined || host === '' || !Number.isInteger(Number(port))) throw new RangeError(`Invalid address: ${JSON.stringify(address)} (expected host:port)`);
    return { host, port: Number(port) };
  });
}

const where =
  values.sentinels !== undefined
    ? { sentinels: addresses(values.sentinels), masterName: values['master-name'] }
    : values['cluster-nodes'] !== undefined
      ? { clusterNodes: addresses(values['cluster-nodes']) }
      : { url: values.redis ?? 'redis://127.0.0.1:6379' };
const cluster = await RedisCluster.connect({ ...where, prefix: values.prefix, nodeId, logger, heartbeatMs: 250, maxReconnectDelayMs: 500 });
const manager = new ConnectionManager({ logger, cluster, heartbeatIntervalMs: 1_000, sessions: { ttlMs: Number(values.ttl) } });
const http = createServer((request, response) => {
  if (request.url === '/ready') cluster.handleReadiness(request, response);
  else response.writeHead(404).end();
});
const wss = new WebSocketServer({ noServer: true });
manager.attach(wss, {
  identify: (request) => ({ userId: new URL(request.url ?? '/', 'http://127.0.0.1').searchParams.get('user') ?? 'anonymous' })
});
http.on('upgrade', (request, socket, head) => wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request)));
http.listen(Number(values.port), '127.0.0.1');
await new Promise((resolve) => http.once('listening', resolve));

function reply(message: NodeReply): void {
  process.send?.(message);
}

process.on('message', (request: NodeRequest) => {
  const answer = async (): Promise<unknown> => {
    switch (request.type) {
      case 'publish':
        return manager.publish(userTopic(request.user), request.message).then(({ ok, epoch, offset, reason }) => ({ ok, epoch, offset, reason }));
      case 'presence':
        return manager.presence(request.user);
      case 'counts':
        return manager.clusterCounts();
      case 'readiness':
        return cluster.readiness();
      case 'position':
        return cluster.store.position(request.topic);
    }
  };
  void answer().then(
    (value) => reply({ id: request.id, type: 'reply', value }),
    (error: unknown) => reply({ id: request.id, type: 'reply', value: { error: String(error) } })
  );
});

process.once('SIGTERM', () => {
  cluster.drain();
  void manager
    .shutdown({ timeoutMs: 2_000 })
    .then(() => cluster.close())
    .then(() => {
      wss.close();
      http.close();
      process.exit(0);
    });
});
process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));

reply({ type: 'listening', port: (http.address() as AddressInfo).port, nodeId });
