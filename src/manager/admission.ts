/**
 * Who gets in: a new connection is refused while shutting down or at
 * capacity, runs `authenticate` when there is one, and is opened unless its
 * user is over `maxConnectionsPerUser`. A refused connection is still made
 * and closed with a code, so the peer learns why.
 */
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { Connection } from '../core/connection.js';
import type { ConnectionRegistry } from '../core/connection-registry.js';
import { CLOSE_CODES } from '../core/constants.js';
import { logSafely } from '../core/logging.js';
import type { AuthenticateResult, ConnectionManagerOptions } from './options.js';

const NO_CONNECTIONS: ReadonlySet<Connection> = new Set();

export interface AdmissionRules {
  maxConnections: number;
  maxConnectionsPerUser: number;
  authenticate: ConnectionManagerOptions['authenticate'];
  logger: Logger;
}

export class Admission {
  readonly #registry: ConnectionRegistry;
  readonly #rules: AdmissionRules;
  readonly #opened: (connection: Connection) => void;

  /**
   * @param {ConnectionRegistry} registry Where the live connections are counted
   * @param {AdmissionRules} rules Limits and the `authenticate` hook
   * @param {(connection: Connection) => void} opened Told of each connection once it is open
   */
  constructor(registry: ConnectionRegistry, rules: AdmissionRules, opened: (connection: Connection) => void) {
    this.#registry = registry;
    this.#rules = rules;
    this.#opened = opened;
  }

  /** An accepted socket, already registered: refuse it, authenticate it, or open it. */
  decide(connection: Connection, request: IncomingMessage | undefined, shuttingDown: boolean): void {
    if (shuttingDown) {
      void connection.close(CLOSE_CODES.GOING_AWAY, 'server shutting down');
    } else if (this.#registry.size > this.#rules.maxConnections) {
      void connection.close(CLOSE_CODES.TRY_AGAIN_LATER, 'server at capacity');
    } else if (this.#rules.authenticate) {
      void this.#authenticate(connection, request);
    } else {
      this.admit(connection);
    }
  }

  /** Open a connection unless its user is over the limit. */
  admit(connection: Connection): void {
    const userId = connection.userId;
    const limit = this.#rules.maxConnectionsPerUser;
    if (userId !== undefined && limit !== Infinity) {
      let live = 0;
      for (const other of this.#registry.byUser(userId) ?? NO_CONNECTIONS) {
        if (other !== connection && (other.state === 'connecting' || other.state === 'connected')) live++;
      }
      if (live >= limit) {
        void connection.close(CLOSE_CODES.POLICY_VIOLATION, 'too many connections for user');
        return;
      }
    }
    connection._open();
    if (connection.state === 'connected') this.#opened(connection);
  }

  async #authenticate(connection: Connection, request: IncomingMessage | undefined): Promise<void> {
    let result: AuthenticateResult;
    try {
      result = await this.#rules.authenticate!({ connection, request });
    } catch (error) {
      logSafely(this.#rules.logger, 'warn', { connectionId: connection.id, userId: connection.userId, err: error }, 'authenticate threw; closing');
      result = false;
    }
    if (connection.state !== 'connecting') return;
    if (result === false) {
      void connection.close(CLOSE_CODES.POLICY_VIOLATION, 'authentication failed');
      return;
    }
    if (typeof result === 'object' && result !== null) {
      const previous = connection.userId;
      connection._identify(result.userId ?? previous, result.metadata ?? connection.metadata);
      this.#registry.reindex(connection, previous);
    }
    this.admit(connection);
  }
}
