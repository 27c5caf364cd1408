/**
 * Presence across nodes in Redis (#12). Each node writes, at every
 * heartbeat, its live connections per user into a hash of its own and its
 * heartbeat time into a sorted set of nodes. Readers count only nodes
 * whose heartbeat is younger than `nodeTimeoutMs`, so the connections of a
 * node that died drop out of presence within that time, and its hash
 * expires soon after. Writing the whole snapshot (only when something
 * changed, or after Redis came back) heals any count a lost write would
 * have left wrong. Every command touches one key (or, for the rename, two
 * of one slot), so presence works across the slots of a Redis Cluster.
 */
import { NODE_STATES, type NodeState } from '../../machines/node.machine.js';
import type { ClusterCounts, Presence, PresenceSource, UserPresence } from '../manager/cluster.js';
import { hashReply, text } from './redis-reply.js';
import type { RedisCommander } from './redis-store.js';

/** A node of the cluster as presence sees it: live (heard from within `nodeTimeoutMs`), with the state it last wrote. */
export interface ClusterNode {
  nodeId: string;
  /**
   * The node's lifecycle state as it last wrote it (`ready`, `draining`...):
   * a node cut off from Redis cannot say it is `degraded`. `unknown` for a
   * node that wrote none (a version without states).
   */
  state: NodeState | 'unknown';
}

export interface RedisPresenceOptions {
  /** How often the node writes its heartbeat (and its snapshot when it changed). Default 1,000. */
  heartbeatMs?: number;
  /** A node whose last heartbeat is older than this is dead for presence. Default 3 heartbeats. */
  nodeTimeoutMs?: number;
}

export class RedisPresence implements Presence {
  readonly nodeId: string;
  readonly heartbeatMs: number;
  readonly nodeTimeoutMs: number;
  readonly #redis: RedisCommander;
  readonly #nodesKey: string;
  readonly #statesKey: string;
  readonly #prefix: string;
  /** This node's lifecycle state, written with each heartbeat. */
  #state: () => NodeState = () => 'ready';
  #source: PresenceSource | undefined;
  #dirty = true;
  #timer: NodeJS.Timeout | undefined;
  #beating: Promise<void> = Promise.resolve();
  /** A heartbeat waits behind the one being written: a later call shares it (it writes the state as it is then). */
  #queued = false;

  constructor(redis: RedisCommander, prefix: string, nodeId: string, options: RedisPresenceOptions = {}) {
    this.#redis = redis;
    this.#prefix = prefix;
    this.#nodesKey = `${prefix}:nodes`;
    this.#statesKey = `${prefix}:node-states`;
    this.nodeId = nodeId;
    this.heartbeatMs = options.heartbeatMs ?? 1_000;
    this.nodeTimeoutMs = options.nodeTimeoutMs ?? 3 * this.heartbeatMs;
    for (const [name, value] of [['heartbeatMs', this.heartbeatMs], ['nodeTimeoutMs', this.nodeTimeoutMs]] as const) {
      if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`Invalid option ${name}: ${String(value)} (expected an integer >= 1)`);
    }
  }

  /** Where this node's state is read from, for the heartbeat (the node's machine). */
  reportState(state: () => NodeState): void {
    this.#state = state;
  }

  attach(source: PresenceSource): void {
    this.#source = source;
    source.onChange(() => {
      this.#dirty = true;
    });
  }

  /** Start the heartbeat; the first one is written before this resolves. */
  async start(): Promise<void> {
    await this.beat();
    this.#timer = setInterval(() => void this.beat(), this.heartbeatMs);
    this.#timer.unref();
  }

  /** Redis came back: the next heartbeat writes the whole snapshot again. */
  invalidate(): void {
    this.#dirty = true;
  }

  /**
   * Write the heartbeat (and the snapshot when it changed); one at a time,
   * and at most one waiting: while Redis is slow to answer (each command
   * waits up to the command timeout), heartbeats do not pile up behind it.
   */
  beat(): Promise<void> {
    if (this.#queued) return this.#beating;
    this.#queued = true;
    this.#beating = this.#beating
      .then(() => {
        this.#queued = false;
        return this.#write();
      })
      .catch(() => {
        // Redis is unreachable: the snapshot is written again once it is back.
        this.#dirty = true;
      });
    return this.#beating;
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#beating;
    await this.#redis.sendCommand(['ZREM', this.#nodesKey, this.nodeId]).catch(() => {});
    await this.#redis.sendCommand(['HDEL', this.#statesKey, this.nodeId]).catch(() => {});
    await this.#redis.sendCommand(['DEL', this.#hash(this.nodeId)]).catch(() => {});
  }

  async of(userId: string): Promise<UserPresence> {
    const nodes = await this.#liveNodes();
    const counts = await Promise.all(nodes.map((node) => this.#redis.sendCommand(['HGET', this.#hash(node), userId])));
    const presence: UserPresence = { userId, connections: 0, nodes: [] };
    counts.forEach((count, i) => {
      const n = count === null || count === undefined ? 0 : Number(text(count));
      if (n > 0) {
        presence.connections += n;
        presence.nodes.push(nodes[i]!);
      }
    });
    return presence;
  }

  async counts(): Promise<ClusterCounts> {
    const nodes = await this.#liveNodes();
    const hashes = await Promise.all(nodes.map(async (node) => hashReply(await this.#redis.sendCommand(['HGETALL', this.#hash(node)]))));
    const users = new Set<string>();
    let connections = 0;
    for (const hash of hashes) {
      for (const [userId, count] of hash) {
        users.add(userId);
        connections += Number(count);
      }
    }
    return { nodes: nodes.length, users: users.size, connections };
  }

  /** The live nodes, each with the state it last wrote, sorted by id. */
  async nodes(): Promise<ClusterNode[]> {
    const nodes = (await this.#liveNodes()).sort();
    if (nodes.length === 0) return [];
    const states = await this.#redis.sendCommand<unknown[]>(['HMGET', this.#statesKey, ...nodes]);
    return nodes.map((nodeId, i) => {
      const state = states[i] === null || states[i] === undefined ? 'unknown' : text(states[i]);
      return { nodeId, state: (NODE_STATES as readonly string[]).includes(state) ? (state as NodeState) : 'unknown' };
    });
  }

  async #write(): Promise<void> {
    const now = Date.now();
    await this.#redis.sendCommand(['ZADD', this.#nodesKey, String(now), this.nodeId]);
    await this.#redis.sendCommand(['HSET', this.#statesKey, this.nodeId, this.#state()]);
    // Long-dead nodes leave the set (their hashes expired already).
    await this.#redis.sendCommand(['ZREMRANGEBYSCORE', this.#nodesKey, '-inf', String(now - 10 * this.nodeTimeoutMs)]);
    const hash = this.#hash(this.nodeId);
    if (this.#dirty && this.#source !== undefined) {
      this.#dirty = false;
      const fields: string[] = [];
      for (const [userId, count] of this.#source.usersOnline()) if (count > 0) fields.push(userId, String(count));
      // Written aside and renamed into place: a reader never sees the hash half written.
      if (fields.length === 0) await this.#redis.sendCommand(['DEL', hash]);
      else {
        // A write cut off before its RENAME leaves the aside hash behind: start it empty.
        await this.#redis.sendCommand(['DEL', `${hash}:next`]);
        await this.#redis.sendCommand(['HSET', `${hash}:next`, ...fields]);
        await this.#redis.sendCommand(['RENAME', `${hash}:next`, hash]);
      }
    }
    await this.#redis.sendCommand(['PEXPIRE', hash, String(2 * this.nodeTimeoutMs)]);
  }

  async #liveNodes(): Promise<string[]> {
    const nodes = await this.#redis.sendCommand<unknown[]>(['ZRANGEBYSCORE', this.#nodesKey, String(Date.now() - this.nodeTimeoutMs), '+inf']);
    return nodes.map(text);
  }

  #hash(nodeId: string): string {
    // Hash-tagged by the node: on Redis Cluster the hash and the one written aside share a slot, so RENAME works.
    return `${this.#prefix}:n:{${nodeId}}`;
  }
}
