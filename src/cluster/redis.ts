/**
 * `ws-lifecycle/redis`: one logical server on many nodes (#12, #23). A
 * node reaches one Redis server, a primary through Sentinel, or a Redis
 * Cluster (src/cluster/redis-connections.ts); keeps topic history and
 * session records there (src/cluster/redis-store.ts), in epochs that a
 * failover cannot silently continue; hears the other nodes' messages
 * through its partitions' channels (src/cluster/redis-broker.ts), and
 * writes its presence (src/cluster/redis-presence.ts).
 * Its own lifecycle is machines/node.machine.ts: `connecting`, `ready`,
 * `degraded` from a failed connection until a probe goes round again
 * (src/cluster/redis-health.ts), `draining`, `stopped`; every transition
 * is logged, and `readiness()` answers from it.
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
import { assertDuration } from '../core/validation.js';
import { RedisBroker } from './redis-broker.js';
import { redisConnections, type RedisAddress, type RedisConnections, type RedisFactories } from './redis-connections.js';
import { RedisHealth } from './redis-health.js';
import { RedisPresence, type ClusterNode, type RedisPresenceOptions } from './redis-presence.js';
import { RedisTopicStore, type RedisTopicStoreOptions } from './redis-store.js';

export { RedisBroker, parseBrokerMessage } from './redis-broker.js';
export type { BrokerFrame, RedisBrokerOptions, RedisSubscriber } from './redis-broker.js';
export { RedisPresence } from './redis-presence.js';
export { REDIS_STORE_DEFAULTS, RedisTopicStore } from './redis-store.js';
export type { RedisCommander, RedisServers, RedisTopicStoreOptions } from './redis-store.js';
export type { RedisAddress } from './redis-connections.js';
export type { ClusterNode, RedisPresenceOptions } from './redis-presence.js';
export type { Cluster, ClusterCounts, Presence, PresenceSource, UserPresence } from '../manager/cluster.js';
export { NODE_STATES } from '../../machines/node.machine.js';
export type { NodeState } from '../../machines/node.machine.js';

export interface RedisClusterOptions extends Omit<RedisTopicStoreOptions, 'shardedPubSub'>, RedisPresenceOptions {
  /** One Redis server (or a managed service's endpoint). Default `redis://127.0.0.1:6379` when neither `sentinels` nor `clusterNodes` is given. */
  url?: string;
  /** Sentinels to ask for the primary named `masterName`; the node follows their failovers. */
  sentinels?: RedisAddress[];
  /** The name the Sentinels monitor the primary under. */
  masterName?: string;
  /** Nodes of a Redis Cluster to start from (any few; the rest are discovered). */
  clusterNodes?: RedisAddress[];
  /** This node's id in presence and logs. Default: a random UUID. */
  nodeId?: string;
  /** Node lifecycle and Redis errors. Default: pino at info. */
  logger?: Logger;
  /** Longest wait between reconnect attempts to Redis. Default 2,000. */
  maxReconnectDelayMs?: number;
  /**
   * Longest wait for a Redis command's reply (a publish's append, a resume's
   * session record or history read, presence). Past it the command fails as
   * an unreachable Redis's would (a publish `store_unavailable`, a resume
   * 1013) and the node probes Redis: a Redis that stalls with its
   * connections open (SIGSTOP, a partition that drops packets) makes the
   * node `degraded` instead of holding every caller. Default 2,000.
   */
  commandTimeoutMs?: number;
}

/** The defaults of the options that have one here (the store's and presence's are theirs). */
const REDIS_CLUSTER_DEFAULTS = Object.freeze({ maxReconnectDelayMs: 2_000, commandTimeoutMs: 2_000 });

/** What `readiness()` answers: ready only in `ready`. */
export interface Readiness {
  ready: boolean;
  state: NodeState;
  nodeId: string;
}

/** On a Redis Cluster, how often the node looks whether a partition's slot moved (its subscription moved with it). */
const TOPOLOGY_CHECK_MS = 250;
/** While Redis cannot be used, how often the node probes whether it can again. */
const RECOVERY_PROBE_MS = 250;

export class RedisCluster implements Cluster {
  readonly nodeId: string;
  readonly store: RedisTopicStore;
  readonly broker: RedisBroker;
  readonly presence: RedisPresence;
  readonly #redis: RedisConnections;
  readonly #health: RedisHealth;
  readonly #logger: Logger;
  readonly #actor: Actor<typeof nodeMachine>;
  #state: NodeState = 'connecting';
  #redisErrors = 0;

  /**
   * Connect to Redis (one server, a primary through Sentinel, or a Redis
   * Cluster) and subscribe; resolves once the node is `ready`.
   *
   * @param {RedisClusterOptions} [options] Where, prefix, bounds, presence timing
   * @returns {Promise<RedisCluster>} The ready node
   * @throws {TypeError} If more than one of `url`, `sentinels` and `clusterNodes` is given
   * @throws {RangeError} If `commandTimeoutMs` is not milliseconds from 1 to 2^31 - 1
   * @throws {Error} If `redis` is not installed, Redis does not answer the first connect, or its scripts cannot read the replication id
   */
  static async connect(options: RedisClusterOptions = {}): Promise<RedisCluster> {
    const factories = await loadPeer<RedisFactories>('redis', 'ws-lifecycle/redis');
    const cluster = new RedisCluster(factories, options);
    await cluster.#start();
    return cluster;
  }

  private constructor(factories: RedisFactories, options: RedisClusterOptions) {
    this.nodeId = options.nodeId ?? randomUUID();
    this.#logger = (options.logger ?? defaultLogger()).child({ nodeId: this.nodeId });
    const { url, sentinels, masterName, clusterNodes } = options;
    const target = url === undefined && sentinels === undefined && masterName === undefined && clusterNodes === undefined
      ? { url: 'redis://127.0.0.1:6379' }
      : { url, sentinels, masterName, clusterNodes } as never;
    const commandTimeoutMs = options.commandTimeoutMs ?? REDIS_CLUSTER_DEFAULTS.commandTimeoutMs;
    assertDuration('commandTimeoutMs', commandTimeoutMs);
    const maxReconnectDelayMs = options.maxReconnectDelayMs ?? REDIS_CLUSTER_DEFAULTS.maxReconnectDelayMs;
    const timing = { maxReconnectDelayMs, topologyCheckMs: TOPOLOGY_CHECK_MS, commandTimeoutMs };
    this.#redis = redisConnections(factories, target, timing, {
      lost: (error) => {
        if (error !== undefined) {
          this.#redisErrors++;
          this.#logger.warn({ err: error }, 'redis error');
        }
        this.#health.lost();
      },
      suspect: (error) => {
        this.#redisErrors++;
        this.#logger.warn({ err: error }, 'redis error');
        this.#health.suspect();
      },
      ready: () => this.#health.hint(),
      resubscribed: () => void this.broker.resync()
    });
    this.#health = new RedisHealth(async () => (await this.#redis.healthy()) && this.broker.probe(), {
      lost: () => this.#actor.send({ type: 'REDIS_LOST' }),
      back: () => {
        // Back: presence is written whole again (writes may have been lost).
        this.presence.invalidate();
        this.#actor.send({ type: 'REDIS_READY' });
      }
    }, RECOVERY_PROBE_MS);
    const sharded = this.#redis.kind === 'cluster';
    this.store = new RedisTopicStore(this.#redis.commands, { ...options, shardedPubSub: sharded });
    this.broker = new RedisBroker(this.#redis.subscriber, { prefix: this.store.prefix, sharded, publisher: this.#redis.commands });
    this.presence = new RedisPresence(this.#redis.commands, this.store.prefix, this.nodeId, options);
    this.presence.reportState(() => this.#state);
    this.#actor = createActor(
      nodeMachine.provide({ actions: { reportEntry: (_, { state }) => this.#entered(state), resync: () => void this.broker.resync() } })
    );
  }

  /** Errors the node's Redis connections (commands and subscriptions: the store and the broker) reported so far. */
  get redisErrors(): number {
    return this.#redisErrors;
  }

  /** `connecting`, `ready`, `degraded`, `draining` or `stopped`. */
  get state(): NodeState {
    return this.#state;
  }

  /** For a load balancer: ready only in `ready`. */
  readiness(): Readiness {
    return { ready: this.#state === 'ready', state: this.#state, nodeId: this.nodeId };
  }

  /**
   * The cluster's live nodes, each with the state it last wrote with its
   * heartbeat (this one's as it is now). A node cut off from Redis cannot
   * write that it is `degraded`: it shows its last state until it drops out.
   * Rejects while Redis is unreachable.
   */
  async nodes(): Promise<ClusterNode[]> {
    const nodes = await this.presence.nodes();
    return nodes.map((node) => (node.nodeId === this.nodeId ? { nodeId: node.nodeId, state: this.#state } : node));
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
    this.#health.stop();
    await this.presence.stop();
    await this.broker.stop().catch(() => {});
    await this.#redis.close();
    this.#actor.send({ type: 'STOPPED' });
  }

  async #start(): Promise<void> {
    this.#actor.start();
    try {
      await this.#redis.connect();
      // Fail here, not at the first publish, where scripts cannot read the replication id the failover fence needs.
      await this.store.replicationId();
      await this.broker.start();
      await this.presence.start();
    } catch (error) {
      this.#health.stop();
      this.#redis.destroy();
      this.#actor.send({ type: 'DRAIN' });
      this.#actor.send({ type: 'STOPPED' });
      throw error;
    }
    this.#health.start();
    this.#actor.send({ type: 'REDIS_READY' });
  }

  #entered(state: NodeState): void {
    if (state === this.#state) return;
    const from = this.#state;
    this.#state = state;
    this.#logger.info({ from, to: state }, 'node transition');
    // The others learn of it at once, not at the next heartbeat.
    if (state === 'ready' || state === 'draining') void this.presence.beat();
  }
}
