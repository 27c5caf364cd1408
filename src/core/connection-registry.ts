/** The index of live connections: by id, by user, and counted by state. */
import type { ConnectionState } from '../../machines/connection.machine.js';
import type { Connection } from './connection.js';

/** Connections per state; `closed` counts every connection closed so far. */
export type StateCounts = Record<ConnectionState, number>;

export class ConnectionRegistry {
  readonly #byId = new Map<string, Connection>();
  readonly #byUser = new Map<string, Set<Connection>>();
  readonly #counts: StateCounts = { connecting: 0, connected: 0, closing: 0, closed: 0 };

  /** Number of live connections. */
  get size(): number {
    return this.#byId.size;
  }

  /** Live connections, in the order they were added. */
  values(): IterableIterator<Connection> {
    return this.#byId.values();
  }

  /**
   * @param {string} id A connection id
   * @returns {Connection | undefined} The live connection with that id
   */
  get(id: string): Connection | undefined {
    return this.#byId.get(id);
  }

  /**
   * @param {string} userId A user id
   * @returns {ReadonlySet<Connection> | undefined} The user's live connections
   */
  byUser(userId: string): ReadonlySet<Connection> | undefined {
    return this.#byUser.get(userId);
  }

  /** A copy of the counts per state. */
  counts(): StateCounts {
    return { ...this.#counts };
  }

  /** Called when a user's number of live connections changed (presence across nodes listens, #12). */
  onUsersChanged: (() => void) | undefined;

  /** Connections per user that are not on their way out (`closing`): what presence reports. */
  usersOnline(): Map<string, number> {
    const users = new Map<string, number>();
    for (const [userId, connections] of this.#byUser) {
      let count = 0;
      for (const connection of connections) if (connection.state !== 'closing') count++;
      if (count > 0) users.set(userId, count);
    }
    return users;
  }

  /** Register a new connection (it is `connecting`). */
  add(connection: Connection): void {
    this.#byId.set(connection.id, connection);
    this.#counts[connection.state]++;
    this.#index(connection.userId, connection);
  }

  /** Move a connection's count from one state to another. */
  moved(from: ConnectionState, to: ConnectionState): void {
    this.#counts[from]--;
    this.#counts[to]++;
    // A connection that starts closing leaves presence now, not when its close handshake ends.
    if (to === 'closing') this.onUsersChanged?.();
  }

  /** Re-index a connection whose user became known after it was added. */
  reindex(connection: Connection, previousUserId: string | undefined): void {
    if (previousUserId === connection.userId) return;
    this.#unindex(previousUserId, connection);
    this.#index(connection.userId, connection);
  }

  /** Drop a closed connection from every index. */
  remove(connection: Connection): void {
    if (!this.#byId.delete(connection.id)) return;
    this.#unindex(connection.userId, connection);
  }

  #index(userId: string | undefined, connection: Connection): void {
    if (userId !== undefined) this.onUsersChanged?.();
    if (userId === undefined) return;
    let set = this.#byUser.get(userId);
    if (!set) this.#byUser.set(userId, (set = new Set()));
    set.add(connection);
  }

  #unindex(userId: string | undefined, connection: Connection): void {
    if (userId === undefined) return;
    this.onUsersChanged?.();
    const set = this.#byUser.get(userId);
    if (!set) return;
    set.delete(connection);
    if (set.size === 0) this.#byUser.delete(userId);
  }
}
