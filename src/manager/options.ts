/**
 * The options, arguments, results and events of a `ConnectionManager`:
 * its public vocabulary, in one place. Types only.
 */
import type { IncomingMessage } from 'node:http';
import type { ClientOptions } from 'ws';
import type { Logger } from 'pino';
import type { CloseInfo } from '../../machines/connection.machine.js';
import type { Connection } from '../core/connection.js';
import type { TransitionRecord } from '../core/connection-host.js';
import type { AuditTarget } from '../core/logging.js';
import type { Serializer } from '../core/serialization.js';
import type { SessionHost, SessionHub, SessionOptions, SessionTransitionRecord } from '../sessions/session-hub.js';
import type { Cluster } from './cluster.js';
import type { MetricsProbe } from './metrics-probe.js';
import type { UpgradeOptions } from './upgrade-gate.js';

/** What the `authenticate` hook is given. */
export interface AuthenticateRequest {
  connection: Connection;
  /** The HTTP upgrade request, when the socket came from a server. */
  request: IncomingMessage | undefined;
}

/**
 * What `authenticate` may return: `true` (or nothing) to accept as is,
 * `false` to refuse (closed with 1008), or the identity to accept with.
 */
export type AuthenticateResult = boolean | void | { userId?: string; metadata?: Record<string, unknown> };

export interface ConnectionManagerOptions {
  /** Application logger (pino). Default: pino at info. */
  logger?: Logger;
  /** Where audit records go: a pino logger or destination. Default: `logger`. */
  audit?: AuditTarget;
  /** Close handshake limit before the socket is terminated. Default 5000. */
  closeTimeoutMs?: number;
  /** Limit on `connecting` (open plus `authenticate`). Default 10000. */
  handshakeTimeoutMs?: number;
  /** Ping period; a peer that misses a pong is terminated. 0 disables. Default 30000. */
  heartbeatIntervalMs?: number;
  /** Live connections at most; more are closed with 1013. Default Infinity. */
  maxConnections?: number;
  /** Live connections per user at most; more are closed with 1008. Default Infinity. */
  maxConnectionsPerUser?: number;
  /** Send refused once `ws.bufferedAmount` reaches this. Default 8 MiB. */
  maxBufferedBytes?: number;
  /** On backpressure, refuse the send (`reject`) or also close with 1013 (`close`). Default `reject`. */
  backpressurePolicy?: 'reject' | 'close';
  /**
   * Inbound messages per second per plain connection; more closes it with 1008. 0 disables. Default 0. A session
   * connection is bounded by `sessions.maxFramesPerSecond` alone (slowed, not closed), the limit its `welcome` states.
   */
  maxMessagesPerSecond?: number;
  /** Transitions kept per connection for `history()`. Default 32. */
  historyLimit?: number;
  /** Closed connections whose history is kept. Default 256. */
  closedHistoryLimit?: number;
  /** Runs in `connecting` for accepted sockets; bounded by `handshakeTimeoutMs`. */
  authenticate?: (request: AuthenticateRequest) => AuthenticateResult | Promise<AuthenticateResult>;
  /** Makes connection ids. Default: a random UUID (`crypto.randomUUID`, held as one flat string). */
  generateId?: () => string;
  /**
   * Turns a message into a frame: a string is sent as text, bytes as
   * binary; a throw refuses the send as `serialization_failed`. Default:
   * `defaultSerialize` (strings as text, bytes as binary, anything else as JSON).
   */
  serialize?: Serializer;
  /**
   * Sessions, for connections that ask for the subprotocol `ws-lifecycle.v1`
   * (docs/protocol.md): TTL, topic store, hello timeout. Plain connections are not affected.
   */
  sessions?: SessionOptions;
  /**
   * One logical server on many nodes (#12): a shared topic store and
   * broker (they take the place of `sessions.store` and `sessions.broker`)
   * and presence across nodes, e.g. `await RedisCluster.connect()` from
   * `ws-lifecycle/redis`.
   */
  cluster?: Cluster;
  /**
   * Whoever measures this manager: `new LifecycleMetrics(meter)` from
   * `ws-lifecycle/metrics` (OpenTelemetry), or anything that implements the
   * probe. Decided once, here: without one nothing is counted or timed.
   */
  metrics?: MetricsProbe;
  /** @internal Makes the session hub; tests pass a naive variant. */
  sessionHub?: (host: SessionHost, options: SessionOptions | undefined) => SessionHub;
}

export interface AcceptOptions {
  userId?: string;
  metadata?: Record<string, unknown>;
  /** The upgrade request, passed on to `authenticate`. */
  request?: IncomingMessage;
}

/**
 * The options of `manager.attach(wss, options)`: the upgrade checks
 * (`identify`, `identifyTimeoutMs`, `allowedOrigins`,
 * `maxConnectionsPerIp`, `clientAddress`), run as the server's
 * `verifyClient` before the handshake; a refusal is an HTTP status and no
 * connection is made, as with the adapters.
 */
export type AttachOptions = UpgradeOptions;

export interface ConnectOptions {
  userId?: string;
  metadata?: Record<string, unknown>;
  /** Options for the `ws` client. */
  ws?: ClientOptions;
}

export interface ShutdownOptions {
  code?: number;
  reason?: string;
  /** After this, whatever is not `closed` is terminated. Default 10000. */
  timeoutMs?: number;
  /** Connections closed per batch. Default: all at once. */
  batchSize?: number;
  /** Pause between batches; at 0 the next batch still waits for the next turn of the event loop. Default 0. */
  batchIntervalMs?: number;
}

/** What `shutdown()` resolves to. */
export interface ShutdownReport {
  /** Connections that completed a close. */
  closed: number;
  /** Connections terminated by a timeout. */
  terminated: number;
}

/** Typed events of a {@link ConnectionManager}. */
export interface ConnectionManagerEvents {
  /** A connection was accepted or opened (it is `connecting` or already `connected`). */
  connection: [connection: Connection];
  /** A connection changed state; the record is the audit record. */
  transition: [connection: Connection, record: TransitionRecord];
  /** A connection reached `closed`. */
  close: [connection: Connection, info: CloseInfo];
  /** An inbound message on a `connected` connection; text arrives as a string. */
  message: [connection: Connection, data: string | Buffer, isBinary: boolean];
  /** An application message on a session connection, decoded, delivered once even when the client resent it. */
  sessionMessage: [connection: Connection, data: unknown];
  /** A session changed state; the record is its audit record. */
  sessionTransition: [record: SessionTransitionRecord];
}
