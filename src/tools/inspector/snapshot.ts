/**
 * What the inspector page is sent: the manager's connections and sessions
 * now, the transitions seen since the inspector started, the busiest
 * topics, and, with a cluster, where this node and the cluster stand.
 */
import type { NodeState } from '../../../machines/node.machine.js';
import type { TransitionRecord } from '../../core/connection-host.js';
import type { StateCounts } from '../../core/connection-registry.js';
import { transitionKey } from '../../core/machine-graph.js';
import type { ClusterCounts } from '../../manager/cluster.js';
import type { ConnectionManager } from '../../manager/connection-manager.js';
import type { SessionSnapshot, SessionTransitionRecord } from '../../sessions/session-hub.js';

/** A node of a cluster as the inspector sees it. */
export interface InspectedNode {
  nodeId: string;
  /** `unknown` for a node that wrote no state. */
  state: NodeState | 'unknown';
}

/**
 * What the inspector reads of this process's cluster node: `RedisCluster`
 * from `ws-lifecycle/redis` has `nodeId` and `state`.
 */
export interface InspectorCluster {
  readonly nodeId: string;
  readonly state: NodeState;
  /** Every live node of the cluster with its state, where the cluster can list them. */
  nodes?(): Promise<readonly InspectedNode[]>;
}

/** What the page receives on each push. */
export interface InspectorSnapshot {
  /** Live connections per state; `closed` counts every connection closed so far. */
  counts: StateCounts;
  /** Live (not yet closed) connections. */
  live: number;
  /** Connection transitions seen since the inspector started. */
  transitions: number;
  /** Connection transitions seen per `from|event|to` key. */
  edges: Record<string, number>;
  /** The latest connection transitions, newest first. */
  recent: TransitionRecord[];
  sessions: {
    /** Sessions attached and detached now; `expired`: those that expired since the inspector started. */
    counts: { attached: number; detached: number; expired: number };
    /** Session transitions seen since the inspector started. */
    transitions: number;
    /** Session transitions seen per `from|event|to` key. */
    edges: Record<string, number>;
  };
  topics: {
    /** Topics this process holds. */
    held: number;
    /** The busiest of them: where each stands (epoch, newest offset; unknown until read) and how many connections hold it. */
    busiest: SessionSnapshot['topics'];
  };
  /** With a cluster: this node, and what the last look at the cluster found. */
  cluster?: {
    nodeId: string;
    state: NodeState;
    /** Live nodes, users and connections over the cluster; absent until first read. */
    counts?: ClusterCounts;
    /** Every live node and its state, when the cluster lists them. */
    nodes?: InspectedNode[];
    /** Why the last look failed (the store unreachable). */
    error?: string;
  };
  /** When the snapshot was taken, in milliseconds since the epoch. */
  at: number;
}

/** Transitions of one lifecycle seen since the inspector started: in all, per key, and the latest. */
class TransitionTally<R extends { from: string; event: string; to: string }> {
  total = 0;
  readonly #edges = new Map<string, number>();
  readonly #recent: R[] = [];
  readonly #keep: number;

  constructor(keep: number) {
    this.#keep = keep;
  }

  add(record: R): void {
    this.total++;
    const key = transitionKey(record.from, record.event, record.to);
    this.#edges.set(key, (this.#edges.get(key) ?? 0) + 1);
    if (this.#keep === 0) return;
    this.#recent.push(record);
    if (this.#recent.length > this.#keep) this.#recent.shift();
  }

  edges(): Record<string, number> {
    return Object.fromEntries(this.#edges);
  }

  /** Newest first. */
  recent(): R[] {
    return this.#recent.slice().reverse();
  }
}

export interface WatchOptions {
  recentLimit: number;
  topicLimit: number;
  cluster: InspectorCluster | undefined;
}

/** What the inspector has seen of one manager, and the snapshot it makes of it. */
export class InspectorWatch {
  readonly #manager: ConnectionManager;
  readonly #options: WatchOptions;
  readonly #connections: TransitionTally<TransitionRecord>;
  readonly #sessions = new TransitionTally<SessionTransitionRecord>(0);
  #expired = 0;
  #cluster: { counts?: ClusterCounts; nodes?: InspectedNode[]; error?: string } = {};
  #looking: Promise<void> | undefined;

  constructor(manager: ConnectionManager, options: WatchOptions) {
    this.#manager = manager;
    this.#options = options;
    this.#connections = new TransitionTally(options.recentLimit);
  }

  connectionTransition(record: TransitionRecord): void {
    this.#connections.add(record);
  }

  sessionTransition(record: SessionTransitionRecord): void {
    this.#sessions.add(record);
    if (record.to === 'expired') this.#expired++;
  }

  /**
   * Read the cluster's counts and nodes again (one look at a time); a
   * failure is shown, not thrown.
   *
   * @returns {Promise<void>} Settles when the look is over; at once without a cluster
   */
  lookAtCluster(): Promise<void> {
    const cluster = this.#options.cluster;
    if (cluster === undefined) return Promise.resolve();
    this.#looking ??= Promise.all([this.#manager.clusterCounts(), cluster.nodes?.()])
      .then(([counts, nodes]) => {
        this.#cluster = { counts, nodes: nodes?.map(({ nodeId, state }) => ({ nodeId, state })) };
      })
      .catch((error: unknown) => {
        this.#cluster = { ...this.#cluster, error: error instanceof Error ? error.message : String(error) };
      })
      .finally(() => {
        this.#looking = undefined;
      });
    return this.#looking;
  }

  snapshot(): InspectorSnapshot {
    const manager = this.#manager;
    const held = manager.sessionSnapshot(this.#options.topicLimit);
    const { cluster } = this.#options;
    return {
      counts: manager.counts,
      live: manager.size,
      transitions: this.#connections.total,
      edges: this.#connections.edges(),
      recent: this.#connections.recent(),
      sessions: {
        counts: { ...held.sessions, expired: this.#expired },
        transitions: this.#sessions.total,
        edges: this.#sessions.edges()
      },
      topics: { held: held.heldTopics, busiest: held.topics },
      ...(cluster === undefined ? {} : { cluster: { nodeId: cluster.nodeId, state: cluster.state, ...this.#cluster } }),
      at: Date.now()
    };
  }
}
