/**
 * `ConnectionManager`: accepts and opens connections, owns the registry,
 * sends to one, to a user or to everyone, closes and shuts down.
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { WebSocket, type ClientOptions, type WebSocketServer } from 'ws';
import type { Logger } from 'pino';
import type { CloseInfo, ConnectionEvent, ConnectionState } from '../../machines/connection.machine.js';
import { CLOSE_CODES, DEFAULTS } from '../core/constants.js';
import { newId } from '../core/ids.js';
import { Connection, type ConnectionHost, type TransitionRecord } from '../core/connection.js';
import { ConnectionRegistry, type StateCounts } from '../core/connection-registry.js';
import { LocalDelivery, type Delivery } from './delivery.js';
import { auditLogger, defaultLogger, type AuditTarget } from '../core/logging.js';
import { countRejected, mergeReports, refused, type SendFailureReason, type SendReport, type SendResult } from '../core/send-result.js';
import { type SerializationError, guardSerializer, serialize, type Serializer } from '../core/serialization.js';
import { SESSION_PROTOCOL } from '../protocol/session-protocol.js';
import {
  BROADCAST_TOPIC,
  SessionHub,
  userTopic,
  type PublishResult,
  type SessionHost,
  type SessionOptions,
  type SessionTransitionRecord
} from '../sessions/session-hub.js';
import type { TopicPosition } from '../sessions/topic-store.js';
import type { Cluster, ClusterCounts, UserPresence } from '../cluster/cluster.js';
import { assertCloseArgs, assertMembership, assertNumberOption } from '../core/validation.js';

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
  /** Inbound messages per second per connection; more closes it with 1008. 0 disables. Default 0. */
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
  /** @internal Makes the session hub; tests pass a naive variant. */
  sessionHub?: (host: SessionHost, options: SessionOptions | undefined) => SessionHub;
}

export interface AcceptOptions {
  userId?: string;
  metadata?: Record<string, unknown>;
  /** The upgrade request, passed on to `authenticate`. */
  request?: IncomingMessage;
}

export interface AttachOptions {
  /** Derive the user and metadata from the upgrade request. */
  identify?: (request: IncomingMessage) => Omit<AcceptOptions, 'request'> | undefined;
}

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

const NO_CONNECTIONS: ReadonlySet<Connection> = new Set();

/**
 * Owns every connection: accepts sockets, keeps the registry, sends,
 * closes and shuts down. Never throws from a send.
 */
export class ConnectionManager extends EventEmitter<ConnectionManagerEvents> {
  /** What every connection of this manager calls back; not part of the API. */
  readonly #host: ConnectionHost;
  readonly #delivery: Delivery;
  readonly #sessions: SessionHub;
  readonly #cluster: Cluster | undefined;
  readonly #logger: Logger;
  readonly #audit: Logger;
  readonly #registry = new ConnectionRegistry();
  readonly #histories = new Map<string, TransitionRecord[]>();
  readonly #closedHistories = new Map<string, TransitionRecord[]>();
  readonly #timing: { handshakeTimeoutMs: number; closeTimeoutMs: number; heartbeatIntervalMs: number };
  readonly #maxConnections: number;
  readonly #maxConnectionsPerUser: number;
  readonly #historyLimit: number;
  readonly #closedHistoryLimit: number;
  readonly #authenticate: ConnectionManagerOptions['authenticate'];
  readonly #generateId: () => string;
  #shuttingDown = false;
  #ignoredEvents = 0;

  /**
   * @param {ConnectionManagerOptions} [options] See the README for defaults
   * @throws {RangeError} If a numeric option is out of range
   */
  constructor(options: ConnectionManagerOptions = {}) {
    // An async listener's rejection comes back to captureRejectionSymbol below instead of going unhandled.
    super({ captureRejections: true });
    const o = { ...DEFAULTS, ...stripUndefined(options) };
    assertNumberOption('closeTimeoutMs', o.closeTimeoutMs, 1);
    assertNumberOption('handshakeTimeoutMs', o.handshakeTimeoutMs, 1);
    assertNumberOption('heartbeatIntervalMs', o.heartbeatIntervalMs, 0);
    assertNumberOption('maxConnections', o.maxConnections, 1);
    assertNumberOption('maxConnectionsPerUser', o.maxConnectionsPerUser, 1);
    assertNumberOption('maxBufferedBytes', o.maxBufferedBytes, 0);
    assertNumberOption('maxMessagesPerSecond', o.maxMessagesPerSecond, 0);
    assertNumberOption('historyLimit', o.historyLimit, 0);
    assertNumberOption('closedHistoryLimit', o.closedHistoryLimit, 0);
    if (o.backpressurePolicy !== 'reject' && o.backpressurePolicy !== 'close') {
      throw new RangeError(`Invalid option backpressurePolicy: ${String(o.backpressurePolicy)} (expected 'reject' or 'close')`);
    }
    this.#logger = options.logger ?? defaultLogger();
    this.#audit = auditLogger(this.#logger, options.audit);
    this.#timing = {
      handshakeTimeoutMs: o.handshakeTimeoutMs,
      closeTimeoutMs: o.closeTimeoutMs,
      heartbeatIntervalMs: o.heartbeatIntervalMs
    };
    this.#maxConnections = o.maxConnections;
    this.#maxConnectionsPerUser = o.maxConnectionsPerUser;
    this.#historyLimit = o.historyLimit;
    this.#closedHistoryLimit = o.closedHistoryLimit;
    this.#authenticate = options.authenticate;
    this.#generateId = options.generateId ?? newId;
    if (options.serialize !== undefined && typeof options.serialize !== 'function') {
      throw new TypeError(`Invalid option serialize: ${typeof options.serialize} (expected a function)`);
    }
    this.#host = {
      maxBufferedBytes: o.maxBufferedBytes,
      backpressurePolicy: o.backpressurePolicy,
      maxMessagesPerSecond: o.maxMessagesPerSecond,
      serialize: options.serialize === undefined ? serialize : guardSerializer(options.serialize),
      onTransition: (connection, record) => this.#onTransition(connection, record),
      onClosed: (connection, info) => this.#onClosed(connection, info),
      onOpen: (connection) => this.#admit(connection),
      onMessage: (connection, data, isBinary) => {
        if (this.#sessions.owns(connection)) this.#sessions.receive(connection, data, isBinary);
        else this.#emitSafely('message', connection, data, isBinary);
      },
      onRefused: (connection, reason) => this.#onRefused(connection, reason),
      onSerializationFailed: (connection, error) => this.#onSerializationFailed(connection, error),
      onTransportError: (connection, error) =>
        this.#logger.warn({ connectionId: connection.id, userId: connection.userId, err: error }, 'transport error'),
      onEventIgnored: (connection, event) => this.#onEventIgnored(connection, event)
    };
    const makeHub = options.sessionHub ?? ((host: SessionHost, sessionOptions: SessionOptions | undefined) => new SessionHub(host, sessionOptions));
    this.#sessions = makeHub(
      {
        logger: this.#logger,
        audit: this.#audit,
        onMessage: (connection, data) => this.#emitSafely('sessionMessage', connection, data),
        onTransition: (record) => this.#emitSafely('sessionTransition', record)
      },
      options.cluster === undefined ? options.sessions : { ...options.sessions, store: options.cluster.store, broker: options.cluster.broker }
    );
    this.#cluster = options.cluster;
    if (this.#cluster !== undefined) {
      const registry = this.#registry;
      this.#cluster.attach({
        usersOnline: () => registry.usersOnline(),
        onChange: (listener) => {
          registry.onUsersChanged = listener;
        }
      });
    }
    this.#delivery = new LocalDelivery(this.#registry, this.#host, this.#logger, (connection) => this.#sessions.owns(connection));
  }

  /** Sessions not yet expired. */
  get sessions(): number {
    return this.#sessions.size;
  }

  /**
   * Where a user is connected (connections not `closing`): over every live
   * node of the cluster, or in this process without one. Rejects when the
   * cluster's store is unreachable.
   *
   * @param {string} userId The user
   * @returns {Promise<UserPresence>} Live connections and the nodes that have them
   */
  presence(userId: string): Promise<UserPresence> {
    if (this.#cluster !== undefined) return this.#cluster.presence.of(userId);
    const connections = this.#registry.usersOnline().get(userId) ?? 0;
    return Promise.resolve({ userId, connections, nodes: connections > 0 ? ['local'] : [] });
  }

  /**
   * Nodes, users and connections over the cluster (this process alone without one).
   *
   * @returns {Promise<ClusterCounts>} The counts
   */
  clusterCounts(): Promise<ClusterCounts> {
    if (this.#cluster !== undefined) return this.#cluster.presence.counts();
    const users = this.#registry.usersOnline();
    let connections = 0;
    for (const count of users.values()) connections += count;
    return Promise.resolve({ nodes: 1, users: users.size, connections });
  }

  /** Number of live (not yet `closed`) connections. */
  get size(): number {
    return this.#registry.size;
  }

  /** Live connections per state; `closed` counts every connection closed so far. */
  get counts(): StateCounts {
    return this.#registry.counts();
  }

  /** Events the machine would have ignored (for example a pong while closing). */
  get ignoredEvents(): number {
    return this.#ignoredEvents;
  }

  /** The application logger the manager writes to (adapters log through it too). */
  get logger(): Logger {
    return this.#logger;
  }

  /** Whether `shutdown()` was called. */
  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /**
   * @param {string} id A connection id
   * @returns {Connection | undefined} The live connection
   */
  get(id: string): Connection | undefined {
    return this.#registry.get(id);
  }

  /** Live connections. */
  connections(): IterableIterator<Connection> {
    return this.#registry.values();
  }

  /**
   * @param {string} userId A user id
   * @returns {Connection[]} The user's live connections
   */
  connectionsOf(userId: string): Connection[] {
    return [...(this.#registry.byUser(userId) ?? NO_CONNECTIONS)];
  }

  /**
   * Recent transitions of a live or recently closed connection.
   *
   * @param {string} id A connection id
   * @returns {TransitionRecord[] | undefined} Oldest first; `undefined` if unknown
   */
  history(id: string): TransitionRecord[] | undefined {
    const records = this.#histories.get(id) ?? this.#closedHistories.get(id);
    if (records) return records.slice();
    return this.#registry.get(id) ? [] : undefined;
  }

  /**
   * Take over a socket from `WebSocketServer`'s `connection` event.
   *
   * @param {WebSocket} ws An open server-side socket
   * @param {AcceptOptions} [options] Who it belongs to
   * @returns {Connection} The handle; `connected` at once unless `authenticate` is set
   */
  accept(ws: WebSocket, options: AcceptOptions = {}): Connection {
    const connection = this.#register(ws, options.userId, options.metadata);
    if (this.#shuttingDown) {
      void connection.close(CLOSE_CODES.GOING_AWAY, 'server shutting down');
    } else if (this.#registry.size > this.#maxConnections) {
      void connection.close(CLOSE_CODES.TRY_AGAIN_LATER, 'server at capacity');
    } else if (this.#authenticate) {
      void this.#runAuthenticate(connection, options.request);
    } else {
      this.#admit(connection);
    }
    this.#emitSafely('connection', connection);
    return connection;
  }

  /**
   * Accept every connection of a `WebSocketServer`.
   *
   * @param {WebSocketServer} wss The server
   * @param {AttachOptions} [options] How to identify users from the request
   * @returns {() => void} Detaches the manager from the server
   */
  attach(wss: WebSocketServer, options: AttachOptions = {}): () => void {
    const { identify } = options;
    const onConnection = (ws: WebSocket, request: IncomingMessage): void => {
      let identity: Omit<AcceptOptions, 'request'> | undefined;
      try {
        identity = identify?.(request);
      } catch (error) {
        this.#logger.error({ err: error }, 'identify threw; accepting without a user');
      }
      this.accept(ws, { ...identity, request });
    };
    wss.on('connection', onConnection);
    return () => {
      wss.off('connection', onConnection);
    };
  }

  /**
   * Open an outgoing client connection; `connecting` until the socket opens.
   *
   * @param {string | URL} url A `ws:` or `wss:` URL
   * @param {ConnectOptions} [options] Identity and `ws` client options
   * @returns {Connection} The handle
   */
  connect(url: string | URL, options: ConnectOptions = {}): Connection {
    const connection = this.#register(new WebSocket(url, options.ws), options.userId, options.metadata);
    if (this.#shuttingDown) void connection.close(CLOSE_CODES.GOING_AWAY, 'client shutting down');
    this.#emitSafely('connection', connection);
    return connection;
  }

  /**
   * Send one message to one connection. Never throws or rejects.
   *
   * @param {string} id A connection id
   * @param {unknown} message See {@link Connection.send}
   * @returns {Promise<SendResult>} `{ ok: true }` once written, or why not
   */
  send(id: string, message: unknown): Promise<SendResult> {
    const connection = this.#registry.get(id);
    if (connection) return connection.send(message);
    this.#logger.warn({ connectionId: id }, 'send to unknown connection');
    return refused('not_found');
  }

  /**
   * Send one message to every `connected` connection (that `filter` keeps),
   * serialized once. One connection's failure never touches another.
   *
   * @param {unknown} message See {@link Connection.send}
   * @param {(connection: Connection) => boolean} [filter] Which connections
   * @returns {Promise<SendReport>} Once every write is reported
   */
  broadcast(message: unknown, filter?: (connection: Connection) => boolean): Promise<SendReport> {
    const plain = this.#delivery.deliver({ kind: 'everyone', filter }, message);
    // Session connections get it as a message of the broadcast topic (a filter applies to plain connections only).
    if (filter !== undefined) return plain;
    // Kept for resumes only while a session exists: with none, no one could ask for it back.
    if (!this.#sessions.active && !this.#sessions.shared) return plain;
    return Promise.all([plain, this.#sessions.publish(BROADCAST_TOPIC, message)]).then(([a, b]) => mergeReports(a, publishReport(b)));
  }

  /**
   * Send one message to every `connected` connection of a user.
   *
   * @param {string} userId The user
   * @param {unknown} message See {@link Connection.send}
   * @returns {Promise<SendReport>} Once every write is reported
   */
  sendToUser(userId: string, message: unknown): Promise<SendReport> {
    // Stored in the user's topic while the user has a session, live or detached: a tab that comes back gets it.
    const plain = this.#delivery.deliver({ kind: 'user', userId }, message);
    if (!this.#sessions.hasUser(userId) && !this.#sessions.shared) return plain;
    return Promise.all([plain, this.#sessions.publish(userTopic(userId), message)]).then(([a, b]) => mergeReports(a, publishReport(b)));
  }

  /**
   * Publish to a topic: the message gets the topic's next offset, is kept
   * in the topic's history for resumes, and is written to the topic's live
   * session connections. Never throws or rejects.
   *
   * @param {string} topic The topic
   * @param {unknown} message A JSON value, a string or bytes
   * @returns {Promise<PublishResult>} The offset and epoch, and the local delivery report
   */
  publish(topic: string, message: unknown): Promise<PublishResult> {
    return this.#sessions.publish(topic, message);
  }

  /**
   * @param {string} topic A topic
   * @returns {Promise<TopicPosition>} Its epoch and newest offset (0 before the first message): as this process
   *   delivered it when a session here holds the topic, else as the store says
   */
  topicPosition(topic: string): Promise<TopicPosition> {
    return this.#sessions.position(topic);
  }


  /**
   * Make a user a member of a topic (a room): every session of the user,
   * now and later, follows it until `unsubscribe`. The server decides,
   * never the client.
   *
   * @param {string} userId The user
   * @param {string} topic The topic
   * @throws {RangeError} If either is not a valid name
   */
  subscribe(userId: string, topic: string): void {
    assertMembership(userId, topic);
    this.#sessions.subscribeUser(userId, topic);
  }

  /**
   * The user leaves a room: their sessions stop receiving it.
   *
   * @param {string} userId The user
   * @param {string} topic The topic
   * @throws {RangeError} If either is not a valid name
   */
  unsubscribe(userId: string, topic: string): void {
    assertMembership(userId, topic);
    this.#sessions.unsubscribeUser(userId, topic);
  }

  /**
   * Close one connection: it is `closing` before this returns.
   *
   * @param {string} id A connection id
   * @param {number} [code=1000] Close code
   * @param {string} [reason=''] Close reason, at most 123 bytes
   * @returns {Promise<CloseInfo | undefined>} Once `closed`; `undefined` for an unknown id
   * @throws {RangeError} If the code or reason is invalid; nothing changes then
   */
  close(id: string, code: number = 1000, reason: string = ''): Promise<CloseInfo | undefined> {
    assertCloseArgs(code, reason);
    const connection = this.#registry.get(id);
    if (connection) return connection.close(code, reason);
    this.#logger.warn({ connectionId: id }, 'close of unknown connection');
    return Promise.resolve(undefined);
  }

  /**
   * Stop accepting, close every connection (in batches if asked), terminate
   * what is still open after `timeoutMs`.
   *
   * @param {ShutdownOptions} [options] Code, reason, timeout, batching
   * @returns {Promise<ShutdownReport>} Once every connection is `closed`
   * @throws {RangeError} If the code or reason is invalid
   */
  async shutdown(options: ShutdownOptions = {}): Promise<ShutdownReport> {
    const code = options.code ?? DEFAULTS.shutdownCode;
    const reason = options.reason ?? DEFAULTS.shutdownReason;
    const timeoutMs = options.timeoutMs ?? DEFAULTS.shutdownTimeoutMs;
    const batchSize = options.batchSize ?? DEFAULTS.shutdownBatchSize;
    const batchIntervalMs = options.batchIntervalMs ?? DEFAULTS.shutdownBatchIntervalMs;
    assertCloseArgs(code, reason);
    assertNumberOption('timeoutMs', timeoutMs, 0);
    assertNumberOption('batchSize', batchSize, 1);
    assertNumberOption('batchIntervalMs', batchIntervalMs, 0);
    this.#shuttingDown = true;
    const targets = [...this.#registry.values()];
    const outcomes = Promise.all(targets.map((c) => c.closed));
    let terminated = 0;
    const deadline = setTimeout(() => {
      for (const connection of targets) {
        if (connection.state !== 'closed') {
          terminated++;
          void connection.terminate();
        }
      }
    }, timeoutMs);
    try {
      for (let i = 0; i < targets.length; i += batchSize) {
        // Yield between batches even at 0 ms, so each batch's close frames go out before the next.
        if (i > 0) await delay(batchIntervalMs);
        for (const connection of targets.slice(i, i + batchSize)) {
          if (connection.state === 'connecting' || connection.state === 'connected') void connection.close(code, reason);
        }
      }
      const infos = await outcomes;
      // Sessions end with the server: no TTL timer outlives shutdown, and each session's trail ends in `expired`.
      this.#sessions.endAll();
      terminated += infos.filter((info) => info.initiator === 'timeout').length;
      return { closed: infos.length - terminated, terminated };
    } finally {
      clearTimeout(deadline);
    }
  }

  #register(ws: WebSocket, userId: string | undefined, metadata: Record<string, unknown> | undefined): Connection {
    const connection = new Connection(this.#host, ws, { id: this.#generateId(), userId, metadata, timing: this.#timing });
    this.#registry.add(connection);
    connection._start();
    return connection;
  }

  async #runAuthenticate(connection: Connection, request: IncomingMessage | undefined): Promise<void> {
    let result: AuthenticateResult;
    try {
      result = await this.#authenticate!({ connection, request });
    } catch (error) {
      this.#logger.warn({ connectionId: connection.id, userId: connection.userId, err: error }, 'authenticate threw; closing');
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
    this.#admit(connection);
  }

  /** Open a connection unless its user is over the limit. */
  #admit(connection: Connection): void {
    const userId = connection.userId;
    if (userId !== undefined && this.#maxConnectionsPerUser !== Infinity) {
      let live = 0;
      for (const other of this.#registry.byUser(userId) ?? NO_CONNECTIONS) {
        if (other !== connection && (other.state === 'connecting' || other.state === 'connected')) live++;
      }
      if (live >= this.#maxConnectionsPerUser) {
        void connection.close(CLOSE_CODES.POLICY_VIOLATION, 'too many connections for user');
        return;
      }
    }
    connection._open();
    if (connection.state === 'connected' && connection.socket.protocol === SESSION_PROTOCOL) this.#sessions.admit(connection);
  }

  #onTransition(connection: Connection, record: TransitionRecord): void {
    this.#registry.moved(record.from, record.to);
    const history = this.#histories.get(connection.id);
    // A one-element literal: an idle connection's history holds one record, not a grown array.
    if (history === undefined) {
      if (this.#historyLimit > 0) this.#histories.set(connection.id, [record]);
    } else {
      history.push(record);
      if (history.length > this.#historyLimit) history.shift();
    }
    this.#audit.info(record, 'transition');
    this.#emitSafely('transition', connection, record);
  }

  #onClosed(connection: Connection, info: CloseInfo): void {
    this.#sessions.closed(connection);
    this.#registry.remove(connection);
    const history = this.#histories.get(connection.id);
    this.#histories.delete(connection.id);
    if (history && this.#closedHistoryLimit > 0) {
      this.#closedHistories.set(connection.id, history);
      if (this.#closedHistories.size > this.#closedHistoryLimit) {
        this.#closedHistories.delete(this.#closedHistories.keys().next().value!);
      }
    }
    this.#emitSafely('close', connection, info);
  }

  #onRefused(connection: Connection, reason: SendFailureReason): void {
    if (this.#audit.isLevelEnabled('debug')) {
      this.#audit.debug(
        { connectionId: connection.id, userId: connection.userId, state: connection.state, reason },
        'send refused'
      );
    }
  }

  #onSerializationFailed(connection: Connection | undefined, error: SerializationError): void {
    this.#logger.error({ connectionId: connection?.id, userId: connection?.userId, err: error }, 'message not serializable');
  }

  #onEventIgnored(connection: Connection, event: ConnectionEvent['type']): void {
    this.#ignoredEvents++;
    if (this.#logger.isLevelEnabled('debug')) {
      this.#logger.debug({ connectionId: connection.id, userId: connection.userId, state: connection.state, event }, 'event ignored');
    }
  }

  /**
   * @internal A promise returned by a listener rejected: logged like a
   * throw, never left as an unhandled rejection that would end the process.
   */
  override [EventEmitter.captureRejectionSymbol]<K>(error: Error, event: K | keyof ConnectionManagerEvents, ...args: unknown[]): void {
    this.#listenerFailed(String(event), args[0], error, 'rejected');
  }

  /** Listeners are application code: a throw is logged, never propagated into the lifecycle. */
  #emitSafely<K extends keyof ConnectionManagerEvents>(event: K, ...args: ConnectionManagerEvents[K]): void {
    try {
      (this.emit as (event: K, ...args: ConnectionManagerEvents[K]) => boolean)(event, ...args);
    } catch (error) {
      this.#listenerFailed(event, args[0], error, 'threw');
    }
  }

  #listenerFailed(event: string, subject: unknown, error: unknown, how: 'threw' | 'rejected'): void {
    const about =
      subject instanceof Connection
        ? { connectionId: subject.id, userId: subject.userId }
        : { sessionId: (subject as SessionTransitionRecord).sessionId, userId: (subject as SessionTransitionRecord).userId };
    this.#logger.error({ ...about, err: error }, `${event} listener ${how}`);
  }
}

function stripUndefined<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<T>;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export type { ConnectionState };

/** A publish as a send report: a message the store did not take counts as one refusal with its reason. */
function publishReport(result: PublishResult): SendReport {
  if (result.ok || result.reason === undefined) return result.report;
  const report: SendReport = { sent: result.report.sent, rejected: result.report.rejected, reasons: { ...result.report.reasons } };
  countRejected(report, result.reason);
  return report;
}
