/**
 * Fan-out: which connections a message goes to, and writing it to them.
 * `broadcast` and `sendToUser` go through one {@link Delivery}; the manager
 * owns a {@link LocalDelivery}, which reaches the connections of this
 * process. A durable or a cross-node delivery implements the same
 * interface around it, so `Connection` does not change for either (#9).
 */
import type { Logger } from 'pino';
import type { Connection } from '../core/connection.js';
import { WRITTEN, type ConnectionHost } from '../core/connection-host.js';
import type { ConnectionRegistry } from '../core/connection-registry.js';
import { logSafely } from '../core/logging.js';
import { countRejected, type SendReport } from '../core/send-result.js';
import { SerializationError } from '../core/serialization.js';

/** Who a message is for: every `connected` connection (that `filter` keeps), or one user's. */
export type Audience =
  | { readonly kind: 'everyone'; readonly filter?: ((connection: Connection) => boolean) | undefined }
  | { readonly kind: 'user'; readonly userId: string };

/** Chooses the targets of a message and delivers it. */
export interface Delivery {
  /**
   * @param {Audience} audience Who the message is for
   * @param {unknown} message See `Connection.send`
   * @returns {Promise<SendReport>} Once every write is reported; never rejects
   */
  deliver(audience: Audience, message: unknown): Promise<SendReport>;
}

const NO_CONNECTIONS: ReadonlySet<Connection> = new Set();

/** Delivers to the connections in one registry, serializing and encoding the message once. */
export class LocalDelivery implements Delivery {
  readonly #registry: ConnectionRegistry;
  readonly #host: ConnectionHost;
  readonly #logger: Logger;
  readonly #skip: (connection: Connection) => boolean;

  /**
   * @param {ConnectionRegistry} registry Where the targets are found
   * @param {ConnectionHost} host Serializes, and is told of refusals
   * @param {Logger} logger Where a throwing filter is logged
   * @param {(connection: Connection) => boolean} [skip] Connections another delivery serves (session connections get topic messages): never written to
   */
  constructor(registry: ConnectionRegistry, host: ConnectionHost, logger: Logger, skip: (connection: Connection) => boolean = () => false) {
    this.#registry = registry;
    this.#host = host;
    this.#logger = logger;
    this.#skip = skip;
  }

  deliver(audience: Audience, message: unknown): Promise<SendReport> {
    if (audience.kind === 'user') return this.#write((this.#registry.byUser(audience.userId) ?? NO_CONNECTIONS).values(), message, undefined);
    return this.#write(this.#registry.values(), message, audience.filter);
  }

  #write(targets: Iterable<Connection>, message: unknown, filter: ((connection: Connection) => boolean) | undefined): Promise<SendReport> {
    const report: SendReport = { sent: 0, rejected: 0, reasons: {} };
    const data = this.#host.serialize(message);
    if (data instanceof SerializationError) {
      this.#host.onSerializationFailed(undefined, data);
      for (const connection of targets) {
        if (!this.#skip(connection) && this.#keeps(filter, connection)) countRejected(report, 'serialization_failed');
      }
      return Promise.resolve(report);
    }
    // Encode text once; every socket then writes the same bytes.
    const binary = typeof data !== 'string';
    const wire = binary ? data : Buffer.from(data);
    let pending = 0;
    let settle: ((report: SendReport) => void) | undefined;
    const written = (error?: Error | null): void => {
      if (error) countRejected(report, 'transport_error');
      else report.sent++;
      if (--pending === 0 && settle) settle(report);
    };
    for (const connection of targets) {
      if (this.#skip(connection) || !this.#keeps(filter, connection)) continue;
      // Counted before the write, in case ws reports it before _transmit returns.
      pending++;
      const outcome = connection._transmit(wire, binary, written);
      if (outcome === WRITTEN) {
        pending--;
        report.sent++;
      } else if (outcome !== undefined) {
        pending--;
        this.#host.onRefused(connection, outcome);
        countRejected(report, outcome);
      }
    }
    if (pending === 0) return Promise.resolve(report);
    return new Promise((resolve) => {
      settle = resolve;
    });
  }

  /** Whether the filter keeps a connection; one that throws is logged and skips it. */
  #keeps(filter: ((connection: Connection) => boolean) | undefined, connection: Connection): boolean {
    if (filter === undefined) return true;
    try {
      return filter(connection);
    } catch (error) {
      logSafely(this.#logger, 'error', { connectionId: connection.id, userId: connection.userId, err: error }, 'broadcast filter threw; skipping connection');
      return false;
    }
  }
}

