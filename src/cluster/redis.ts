/**
 * `ws-lifecycle/redis`: one logical server on many nodes (#12). A node
 * keeps topic history and session records in Redis (src/cluster/redis-store.ts),
 * hears the other nodes' messages through one pattern subscription
 * (src/cluster/redis-broker.ts), and writes its presence (src/cluster/redis-presence.ts).
 * Its own lifecycle is machines/node.machine.ts: `connecting`, `ready`,
 * `degraded` while Redis is unreachable, `draining`, `stopped`; every
 * transition is logged, and `readiness()` answers from it.
 *
 * The official `redis` client is an optional peer dependency, loaded here
 * only; the runtime entry never loads this file.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { createActor, type Actor } from 'xstate';
import { nodeMachine, type NodeState } from '../../machines/node.machine.js';
import type { Cluster, PresenceSource } from '../manager/cluster.js';
import { defaultLogger } from '../core/logging.js';
import { loadPeer } from '../core/optional-peer.js';
import { RedisBroker, type RedisSubscriber } from './redis-broker.js';
import { RedisPresence, type RedisPresenceOptions } from './redis-presence.js';
import { RedisTopicStore, type RedisCommander, type RedisTopicStoreOptions } from './redis-store.js';

export { RedisBroker, parseBrokerMessage } from './redis-broker.js';
export { RedisPresence } from './redis-presence.js';
export { REDIS_STORE_DEFAULTS, RedisTopicStore } from './redis-store.js';
export type { RedisCommander, RedisTopicStoreOptions } from './redis-store.js';
export type { RedisPresenceOptions } from './redis-presence.js';
export type { Cluster, ClusterCounts, Presence, PresenceSource, UserPresence } from '../manager/cluster.js';
export { NODE_STATES } from '../../machines/node.machine.js';
export type { NodeState } from '../../machines/node.machine.js';

/** The node-redis client methods the cluster uses (a `createClient()` result). */
export interface RedisClientLike extends RedisCommander, RedisSubscriber {
  readonly isReady: boolean;
  connect(): Promise<unknown>;
  duplicate(): RedisClientLike;
  close(): Promise<unknown>;
  destroy(): void;
  on(event: 'ready' | 'end' | 'error' | 'reconnecting', listener: (...args: unknown[]) => void): unknown;
  off(event: 'ready' | 'end' | 'error' | 'reconnecting', listener: (...args: unknown[]) => void): unknown;
}

export interface RedisClusterOptions extends RedisTopicStoreOptions, RedisPresenceOptions {
  /** Redis to connect to. Default `redis://127.0.0.1:6379`. */
  url?: string;
  /** This node's id in presence and logs. Default: a random UUID. */
  nodeId?: string;
  /** Node lifecycle and Redis errors. Default: pino at info. */
  logger?: Logger;
  /** Longest wait between reconnect attempts to Redis. Default 2,000. */
  maxReconnectDelayMs?: number;
}

/** What `readiness()` answers: ready only in `ready`. */
export interface Readiness {
  ready: boolean;
  state: NodeState;
  nodeId: string;
}

type ClientFactory = (options: object) => RedisClientLike;

export class RedisCluster implements Cluster {
  readonly nodeId: string;
  readonly store: RedisTopicStore;
  readonly broker: RedisBroker;
  readonly presence: RedisPresence;
  readonly #commands: RedisClientLike;
  readonly #subscriber: RedisClientLike;
  readonly #logger: Logger;
  readonly #actor: Actor<typeof nodeMachine>;
  #state: NodeState = 'connecting';

  /**
   * Connect to Redis and subscribe; resolves once the node is `ready`.
   *
   * @param {RedisClusterOptions} [options] Where, prefix, bounds, presence timing
   * @returns {Promise<RedisCluster>} The ready node
   * @throws {Error} If `redis` is not installed, or Redis does not answer the first connect
   */
  static async connect(options: RedisClusterOptions = {}): Promise<RedisCluster> {
    const { createClient } = await loadPeer<{ createClient: ClientFactory }>('redis', 'ws-lifecycle/redis');
    const maxDelay = options.maxReconnectDelayMs ?? 2_000;
    const commands = createClient({
      url: options.url ?? 'redis://127.0.0.1:6379',
      // Fail at once while disconnected: a publish is refused with a reason, never held without bound.
      disableOfflineQueue: true,
      socket: { connectTimeout: 2_000, reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, maxDelay) }
    });
    const cluster = new RedisCluster(commands, commands.duplicate(), options);
    await cluster.#start();
    return cluster;
  }

  private constructor(commands: RedisClientLike, subscriber: RedisClientLike, options: RedisClusterOptions) {
    this.nodeId = options.nodeId ?? randomUUID();
    this.#commands = commands;
    this.#subscriber = subscriber;
    this.#logger = (options.logger ?? defaultLogger()).child({ nodeId: this.nodeId });
    this.store = new RedisTopicStore(commands, options);
    this.broker = new RedisBroker(subscriber, this.store.prefix);
    this.presence = new RedisPresence(commands, this.store.prefix, this.nodeId, options);
    this.#actor = createActor(
      nodeMachine.provide({ actions: { reportEntry: (_, { state }) => this.#entered(state), resync: () => this.broker.resync() } })
    );
    for (const client of [commands, subscriber]) {
      client.on('error', (error) => {
        this.#logger.warn({ err: error }, 'redis error');
        this.#actor.send({ type: 'REDIS_LOST' });
      });
      client.on('reconnecting', () => this.#actor.send({ type: 'REDIS_LOST' }));
      client.on('end', () => this.#actor.send({ type: 'REDIS_LOST' }));
      client.on('ready', () => {
        if (!(commands.isReady && subscriber.isReady)) return;
        // Back: presence is written whole again (writes may have been lost).
        this.presence.invalidate();
        this.#actor.send({ type: 'REDIS_READY' });
      });
    }
  }

  /** `connecting`, `ready`, `degraded`, `draining` or `stopped`. */
  get state(): NodeState {
    return this.#state;
  }

  /** For a load balancer: ready only in `ready`. */
  readiness(): Readiness {
    return { ready: this.#state === 'ready', state: this.#state, nodeId: this.nodeId };
  }

  /** An HTTP handler for the readiness check: 200 when ready, 503 otherwise, the readiness as JSON. */
  readonly handleReadiness = (_request: IncomingMessage, response: ServerResponse): void => {
    const readiness = this.readiness();
    response.writeHead(readiness.ready ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    response.end(`${JSON.stringify(readiness)}\n`);
  };

  attach(source: PresenceSource): void {
    this.presence.attach(source);
  }

  /** Shutdown begins: the readiness check says no from now on. */
  drain(): void {
    this.#actor.send({ type: 'DRAIN' });
  }

  /** Leave presence, unsubscribe, close both Redis connections. */
  async close(): Promise<void> {
    this.#actor.send({ type: 'DRAIN' });
    await this.presence.stop();
    await this.broker.stop().catch(() => {});
    await Promise.all([this.#subscriber, this.#commands].map((client) => client.close().catch(() => client.destroy())));
    this.#actor.send({ type: 'STOPPED' });
  }

  async #start(): Promise<void> {
    this.#actor.start();
    try {
      await Promise.all([this.#commands.connect(), this.#subscriber.connect()]);
      await this.broker.start();
      await this.presence.start();
    } catch (error) {
      this.#commands.destroy();
      this.#subscriber.destroy();
      this.#actor.send({ type: 'DRAIN' });
      this.#actor.send({ type: 'STOPPED' });
      throw error;
    }
    this.#actor.send({ type: 'REDIS_READY' });
  }

  #entered(state: NodeState): void {
    if (state === this.#state) return;
    const from = this.#state;
    this.#state = state;
    this.#logger.info({ from, to: state }, 'node transition');
  }
}
