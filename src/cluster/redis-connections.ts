/**
 * How a node reaches Redis (#12, #23), whatever the deployment: one
 * server (a URL, possibly a managed service's endpoint that moves on a
 * failover), a primary found through Sentinel, or a Redis Cluster. Each
 * gives the store a commander (on a cluster, one that routes every command
 * by its key), the broker a subscriber, and the node four signals: `lost`
 * (a connection failed), `suspect` (an error that may not matter: a
 * Sentinel or a replica), `ready` (the clients say they are connected
 * again) and `resubscribed` (a subscription was cut off or moved and may
 * have missed messages). What is healthy is decided by redis-health.ts.
 * The clients are node-redis's own (`createClient`, `createSentinel`,
 * `createCluster`), loaded by the caller: the optional peer stays optional.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { RedisSubscriber } from './redis-broker.js';
import { PARTITIONS, hashSlot, partitionTag } from './redis-slots.js';
import type { RedisCommander, RedisServers } from './redis-store.js';

/** A host and port of a Sentinel or a Redis Cluster node. */
export interface RedisAddress {
  host: string;
  port: number;
}

/** Which Redis: exactly one of the three. */
export type RedisTarget = { url: string } | { sentinels: RedisAddress[]; masterName: string } | { clusterNodes: RedisAddress[] };

export interface RedisSignals {
  lost(error?: unknown): void;
  suspect(error?: unknown): void;
  ready(): void;
  resubscribed(): void;
}

/** The connections of one node to its Redis. */
export interface RedisConnections {
  readonly kind: 'server' | 'sentinel' | 'cluster';
  readonly commands: RedisCommander & Partial<RedisServers>;
  readonly subscriber: RedisSubscriber;
  /** The clients say every connection is up. */
  readonly isReady: boolean;
  /** What a probe through pub/sub cannot see: on a Redis Cluster, every primary serving its slots (sharded pub/sub works even while the cluster is down). */
  healthy(): Promise<boolean>;
  connect(): Promise<void>;
  close(): Promise<void>;
  destroy(): void;
}

/** What node-redis's client factories look like to this file (each result is used through the narrow interfaces above). */
export interface RedisFactories {
  createClient(options: object): NodeRedisClient;
  createSentinel(options: object): NodeRedisSentinel;
  createCluster(options: object): NodeRedisCluster;
}

type Listener = (...args: unknown[]) => void;
type RedisKey = string | Buffer;
interface Emitter {
  on(event: string, listener: Listener): unknown;
}
interface NodeRedisClient extends Emitter, RedisSubscriber {
  readonly isReady: boolean;
  sendCommand<T>(args: ReadonlyArray<string | Buffer>, options?: object): Promise<T>;
  connect(): Promise<unknown>;
  duplicate(): NodeRedisClient;
  close(): Promise<unknown>;
  destroy(): void;
}
interface NodeRedisSentinel extends Emitter, RedisSubscriber {
  readonly isReady: boolean;
  sendCommand<T>(isReadonly: boolean | undefined, args: ReadonlyArray<string | Buffer>, options?: object): Promise<T>;
  connect(): Promise<unknown>;
  close(): Promise<unknown>;
  destroy(): Promise<unknown> | void;
}
interface NodeRedisCluster extends Emitter, RedisSubscriber {
  readonly isReady: boolean;
  readonly masters: readonly unknown[];
  readonly slots: ReadonlyArray<{ master: { address?: string; host?: string; port?: number } } | undefined>;
  sendCommand<T>(firstKey: RedisKey | undefined, isReadonly: boolean | undefined, args: ReadonlyArray<RedisKey>, options?: object): Promise<T>;
  nodeClient(node: unknown): Promise<{ sendCommand<T>(args: ReadonlyArray<string | Buffer>, options?: object): Promise<T> }>;
  connect(): Promise<unknown>;
  close(): Promise<unknown>;
  destroy(): void;
}

export interface ConnectionOptions {
  /** Longest wait between reconnect attempts. */
  maxReconnectDelayMs: number;
  /** Longest wait for a command's reply, sent or not: past it the command fails as if Redis were unreachable. */
  commandTimeoutMs: number;
  /** On a Redis Cluster, how often the owners of the partitions' slots are compared with the last seen (a moved slot cuts its subscription off). */
  topologyCheckMs: number;
}

/** A command's first key, for routing on a cluster; undefined for a command without one. */
export function firstKey(args: ReadonlyArray<string | Buffer>): string | Buffer | undefined {
  const name = String(args[0]).toUpperCase();
  if (name === 'EVAL' || name === 'EVALSHA' || name === 'FCALL') return Number(String(args[2])) > 0 ? args[3] : undefined;
  if (KEYLESS.has(name)) return undefined;
  return args[1];
}
const KEYLESS = new Set(['PING', 'INFO', 'SCAN', 'SCRIPT', 'CLUSTER', 'WAIT', 'ROLE', 'TIME', 'PUBLISH']);

/**
 * How long a command refused with TRYAGAIN is sent again: its slot is
 * moving and its keys are on two shards for a moment; it did not run.
 */
const TRYAGAIN_MS = 2_000;

function socketOptions(options: ConnectionOptions): object {
  return {
    connectTimeout: 2_000,
    reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, options.maxReconnectDelayMs)
  };
}

/**
 * node-redis's own bound on a command: `timeout` alone covers only the wait
 * to be sent; with `rejectInFlight` it covers the wait for the reply too, so
 * a Redis that stalls (SIGSTOP, a partition that drops packets) with the
 * connection still open fails the command instead of holding it. Its reply,
 * if it comes, is dropped. Subscriptions are not bounded by it.
 */
function commandOptions(options: ConnectionOptions): object {
  return { timeout: options.commandTimeoutMs, rejectInFlight: true };
}

/**
 * The commands of `send`, each of which that timed out tells `signals` so:
 * a stalled Redis keeps its connection open and says nothing else, so one
 * probe decides whether the node can still use it.
 */
function watched(send: RedisCommander['sendCommand'], signals: RedisSignals): RedisCommander['sendCommand'] {
  return async <T>(args: ReadonlyArray<string | Buffer>, commandOptions?: object): Promise<T> => {
    try {
      return await send<T>(args, commandOptions);
    } catch (error) {
      // TimeoutError (never sent) and TimeoutReadError (no reply): node-redis's, by name (only its types are imported).
      if (error instanceof Error && error.constructor.name.includes('Timeout')) signals.suspect(error);
      throw error;
    }
  };
}

/**
 * Make (not yet connect) the connections to `target`.
 *
 * @throws {TypeError} If `target` names none or several of url, sentinels and clusterNodes
 */
export function redisConnections(
  factories: RedisFactories,
  target: RedisTarget,
  options: ConnectionOptions,
  signals: RedisSignals
): RedisConnections {
  const fields = target as Partial<Record<'url' | 'sentinels' | 'masterName' | 'clusterNodes', unknown>>;
  const given = (['url', 'sentinels', 'clusterNodes'] as const).filter((key) => fields[key] !== undefined);
  if (given.length === 0 && fields.masterName !== undefined) given.push('sentinels');
  if (given.length !== 1) throw new TypeError(`Expected exactly one of url, sentinels (with masterName) and clusterNodes; got ${given.length === 0 ? 'none' : given.join(', ')}`);
  if (fields.masterName !== undefined && given[0] !== 'sentinels') throw new TypeError(`masterName ${JSON.stringify(fields.masterName)} goes with sentinels, not with ${given[0]}`);
  if (given[0] === 'sentinels') return sentinelConnections(factories, target as { sentinels: RedisAddress[]; masterName: string }, options, signals);
  if (given[0] === 'clusterNodes') return clusterConnections(factories, target as { clusterNodes: RedisAddress[] }, options, signals);
  if (typeof fields.url !== 'string') throw new TypeError(`Invalid option url: ${JSON.stringify(fields.url)} (expected a redis:// URL)`);
  return serverConnections(factories, fields.url, options, signals);
}

function serverConnections(factories: RedisFactories, url: string, options: ConnectionOptions, signals: RedisSignals): RedisConnections {
  // Fail at once while disconnected: a publish is refused with a reason, never held without bound.
  const client = factories.createClient({ url, disableOfflineQueue: true, socket: socketOptions(options), commandOptions: commandOptions(options) });
  const subscriber = client.duplicate();
  const commands = { sendCommand: watched((args, commandOptions) => client.sendCommand(args, commandOptions), signals) };
  let subscriberReadies = 0;
  for (const each of [client, subscriber]) {
    each.on('error', (error) => signals.lost(error));
    each.on('reconnecting', () => signals.lost());
    each.on('end', () => signals.lost());
    each.on('ready', () => {
      // Every ready of the subscriber after its first is a reconnect: node-redis subscribed again, but what was published meanwhile is gone.
      if (each === subscriber && ++subscriberReadies > 1) signals.resubscribed();
      if (client.isReady && subscriber.isReady) signals.ready();
    });
  }
  return {
    kind: 'server',
    commands,
    subscriber,
    get isReady() {
      return client.isReady && subscriber.isReady;
    },
    healthy: () => Promise.resolve(true),
    async connect() {
      await Promise.all([client.connect(), subscriber.connect()]);
    },
    async close() {
      await Promise.all([subscriber, client].map((each) => each.close().catch(() => each.destroy())));
    },
    destroy() {
      client.destroy();
      subscriber.destroy();
    }
  };
}

function sentinelConnections(
  factories: RedisFactories,
  target: { sentinels: RedisAddress[]; masterName: string },
  options: ConnectionOptions,
  signals: RedisSignals
): RedisConnections {
  if (!Array.isArray(target.sentinels) || target.sentinels.length === 0 || typeof target.masterName !== 'string' || target.masterName === '') {
    throw new TypeError(`Expected sentinels (a non-empty list of { host, port }) and masterName (a non-empty string); got ${JSON.stringify({ sentinels: target.sentinels, masterName: target.masterName })}`);
  }
  // node-redis finds the primary through the Sentinels and follows a failover (`+switch-master`); a command sent meanwhile waits for the new primary.
  const sentinel = factories.createSentinel({
    name: target.masterName,
    sentinelRootNodes: target.sentinels.map(({ host, port }) => ({ host, port })),
    nodeClientOptions: { disableOfflineQueue: true, socket: socketOptions(options), commandOptions: commandOptions(options) },
    sentinelClientOptions: { socket: socketOptions(options) },
    commandOptions: commandOptions(options)
  });
  let readies = 0;
  // The primary's connection failed: lost. A Sentinel's or a replica's: nothing to the node (node-redis asks another).
  sentinel.on('client-error', (event) => {
    const { type, error } = event as { type?: string; error?: unknown };
    if (type === 'MASTER') signals.lost(error);
  });
  // The subscription's connection, a failed rediscovery, an observation: a probe decides.
  sentinel.on('error', (error) => signals.suspect(error));
  sentinel.on('reconnecting', () => signals.lost());
  sentinel.on('end', () => signals.lost());
  sentinel.on('ready', () => {
    // After the first: a new primary (or the old one back); the subscription moved with it.
    if (++readies > 1) signals.resubscribed();
    signals.ready();
  });
  return {
    kind: 'sentinel',
    commands: { sendCommand: watched((args, commandOptions) => sentinel.sendCommand(false, args, commandOptions), signals) },
    subscriber: sentinel,
    get isReady() {
      return sentinel.isReady;
    },
    healthy: () => Promise.resolve(true),
    async connect() {
      await sentinel.connect();
    },
    async close() {
      await sentinel.close().catch(() => sentinel.destroy());
    },
    destroy() {
      void Promise.resolve(sentinel.destroy()).catch(() => {});
    }
  };
}

function clusterConnections(
  factories: RedisFactories,
  target: { clusterNodes: RedisAddress[] },
  options: ConnectionOptions,
  signals: RedisSignals
): RedisConnections {
  if (!Array.isArray(target.clusterNodes) || target.clusterNodes.length === 0) {
    throw new TypeError(`Expected clusterNodes (a non-empty list of { host, port }); got ${JSON.stringify(target.clusterNodes)}`);
  }
  const cluster = factories.createCluster({
    rootNodes: target.clusterNodes.map(({ host, port }) => ({ socket: { host, port } })),
    defaults: { disableOfflineQueue: true, socket: socketOptions(options), commandOptions: commandOptions(options) },
    commandOptions: commandOptions(options)
  });
  let closed = false;
  let owners = '';
  let timer: NodeJS.Timeout | undefined;
  const slots = Array.from({ length: PARTITIONS }, (_, partition) => hashSlot(partitionTag(partition)));
  const ownersNow = (): string => slots.map((slot) => {
    const master = cluster.slots[slot]?.master;
    return master?.address ?? `${master?.host}:${master?.port}`;
  }).join(',');
  const primaries = async (): Promise<RedisCommander[]> => Promise.all(cluster.masters.map((master) => cluster.nodeClient(master)));
  const moved = (): void => {
    if (closed || !cluster.isReady) return;
    const now = ownersNow();
    // A partition's slot has another owner: its subscription was moved there, and may have missed messages meanwhile.
    if (owners !== '' && now !== owners) signals.resubscribed();
    owners = now;
  };
  // A node's connection dropped: lost (a shard's primary, or its subscription). An error alone may be a replica's: a probe decides.
  cluster.on('node-reconnecting', () => closed || signals.lost());
  cluster.on('node-error', (error) => closed || signals.suspect(error));
  cluster.on('error', (error) => closed || signals.suspect(error));
  cluster.on('node-ready', () => {
    if (closed) return;
    signals.ready();
    signals.resubscribed();
  });
  const commands: RedisCommander & RedisServers = {
    sendCommand: watched(async <T>(args: ReadonlyArray<string | Buffer>, commandOptions?: object): Promise<T> => {
      const key = firstKey(args);
      const deadline = Date.now() + TRYAGAIN_MS;
      for (let attempt = 0; ; attempt++) {
        try {
          return await cluster.sendCommand<T>(key, false, args, commandOptions);
        } catch (error) {
          const message = String((error as Error).message);
          // The cluster does not serve every slot (a shard lost): the node is not ready until it does.
          if (message.startsWith('CLUSTERDOWN')) signals.suspect(error);
          if (!message.startsWith('TRYAGAIN') || Date.now() > deadline) throw error;
          await sleep(Math.min(10 * 2 ** attempt, 200));
        }
      }
    }, signals),
    primaries
  };
  return {
    kind: 'cluster',
    commands,
    subscriber: cluster,
    get isReady() {
      return cluster.isReady;
    },
    async healthy() {
      const states = await Promise.all((await primaries()).map((server) => server.sendCommand(['CLUSTER', 'INFO'])));
      return states.every((state) => String(state).includes('cluster_state:ok'));
    },
    async connect() {
      await cluster.connect();
      owners = ownersNow();
      timer = setInterval(moved, options.topologyCheckMs);
      timer.unref();
    },
    async close() {
      closed = true;
      clearInterval(timer);
      await cluster.close().catch(() => cluster.destroy());
    },
    destroy() {
      closed = true;
      clearInterval(timer);
      cluster.destroy();
    }
  };
}
