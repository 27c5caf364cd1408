/**
 * What a manager needs from a cluster (#12): a shared topic store, a
 * broker that brings the other nodes' messages, and presence across
 * nodes. `ws-lifecycle/redis` implements it; the manager knows only this.
 */
import type { TopicBroker } from '../sessions/topic-broker.js';
import type { TopicStore } from '../sessions/topic-store.js';

/** Where a user is connected, cluster-wide. */
export interface UserPresence {
  userId: string;
  /** Live connections of the user over every live node. */
  connections: number;
  /** The nodes that have at least one. */
  nodes: string[];
}

/** Counts over every live node. */
export interface ClusterCounts {
  nodes: number;
  users: number;
  connections: number;
}

/** What presence reads from its node: live connections per user, and a call when that changes. */
export interface PresenceSource {
  usersOnline(): Map<string, number>;
  onChange(listener: () => void): void;
}

export interface Presence {
  of(userId: string): Promise<UserPresence>;
  counts(): Promise<ClusterCounts>;
}

export interface Cluster {
  readonly store: TopicStore;
  readonly broker: TopicBroker;
  readonly presence: Presence;
  /** The manager hands over its presence source once, when it is made. */
  attach(source: PresenceSource): void;
}
