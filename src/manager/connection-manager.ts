/**
 * `ConnectionManager`: accepts and opens connections, owns the registry,
 * sends to one, to a user or to everyone, closes and shuts down.
 */
import { EventEmitter } from 'node:events';
import { WebSocket, type WebSocketServer } from 'ws';
import type { Logger } from 'pino';
import type { CloseInfo, ConnectionState } from '../../machines/connection.machine.js';
import { CLOSE_CODES } from '../core/constants.js';
import { newId } from '../core/ids.js';
import { Connection } from '../core/connection.js';
import type { ConnectionHost, TransitionRecord } from '../core/connection-host.js';
import { ConnectionRegistry, type StateCounts } from '../core/connection-registry.js';
import { auditLogger, defaultLogger, logSafely, logWriteFailures } from '../core/logging.js';
import { refused, type SendReport, type SendResult } from '../core/send-result.js';
import { guardSerializer, serialize } from '../core/serialization.js';
import { assertCloseArgs, assertMembership } from '../core/validation.js';
import { SESSION_PROTOCOL } from '../protocol/session-protocol.js';
import { SessionHub, type PublishResult, type SessionHost, type SessionOptions, type SessionSnapshot, type SessionTransitionRecord } from '../sessions/session-hub.js';
import type { TopicPosition } from '../sessions/topic-store.js';
import type { Cluster, ClusterCounts, UserPresence } from './cluster.js';
import { Admission } from './admission.js';
import { attachServer } from './attach.js';
import { LocalDelivery } from './delivery.js';
import { FanOut } from './fan-out.js';
import { Histories } from './histories.js';
import { managerHost, type HostCounts } from './manager-host.js';
import { TimedFanOut, probedDelivery, probedHost, probedStore, timed, type MetricsProbe } from './metrics-probe.js';
import type {
  AcceptOptions,
  AttachOptions,
  ConnectOptions,
  ConnectionManagerEvents,
  ConnectionManagerOptions,
  ShutdownOptions,
  ShutdownReport
} from './options.js';
import { managerSettings } from './settings.js';
import { closeAll, shutdownPlan } from './shutdown.js';

export type * from './options.js';

const NO_CONNECTIONS: ReadonlySet<Connection> = new Set();
/** A session connection for its whole life: the subprotocol its socket agreed on (admission decides the same way). */
const speaksSessions = (connection: Connection): boolean => connection.socket.protocol === SESSION_PROTOCOL;

/**
 * Owns every connection: accepts sockets, keeps the registry, sends,
 * closes and shuts down. Never throws from a send.
 */
export class ConnectionManager extends EventEmitter<ConnectionManagerEvents> {
  /** What every connection of this manager calls back; not part of the API. */
  readonly #host: ConnectionHost;
  readonly #fanOut: FanOut;
  readonly #admission: Admission;
  readonly #sessions: SessionHub;
  readonly #cluster: Cluster | undefined;
  readonly #logger: Logger;
  readonly #audit: Logger;
  readonly #registry = new ConnectionRegistry();
  readonly #histories: Histories;
  readonly #timing: { handshakeTimeoutMs: number; closeTimeoutMs: number; heartbeatIntervalMs: number };
  readonly #generateId: () => string;
  readonly #probe: MetricsProbe | undefined;
  readonly #hostCounts: HostCounts = { ignoredEvents: 0 };
  #shuttingDown = false;

  /**
   * @param {ConnectionManagerOptions} [options] See the README for defaults
   * @throws {RangeError} If a numeric option is out of range
   */
  constructor(options: ConnectionManagerOptions = {}) {
    // An async listener's rejection comes back to captureRejectionSymbol below instead of going unhandled.
    super({ captureRejections: true });
    const o = managerSettings(options);
    this.#logger = options.logger ?? defaultLogger();
    this.#audit = auditLogger(this.#logger, options.audit);
    this.#timing = {
      handshakeTimeoutMs: o.handshakeTimeoutMs,
      closeTimeoutMs: o.closeTimeoutMs,
      heartbeatIntervalMs: o.heartbeatIntervalMs
    };
    this.#histories = new Histories(o.historyLimit, o.closedHistoryLimit);
    this.#generateId = options.generateId ?? newId;
    // One function for plain and topic messages: the hub can tell the default (whose text is always JSON) by identity.
    const serializer = options.serialize === undefined ? serialize : guardSerializer(options.serialize);
    const { maxBufferedBytes, backpressurePolicy, maxMessagesPerSecond } = o;
    const baseHost = managerHost(
      { maxBufferedBytes, backpressurePolicy, maxMessagesPerSecond, serialize: serializer },
      {
        onTransition: (connection, record) => this.#onTransition(connection, record),
        onClosed: (connection, info) => this.#onClosed(connection, info),
        onOpen: (connection) => this.#admission.admit(connection),
        onMessage: (connection, data, isBinary) => {
          if (this.#sessions.owns(connection)) this.#sessions.receive(connection, data, isBinary);
          else this.#emitSafely('message', connection, data, isBinary);
        }
      },
      { logger: this.#logger, audit: this.#audit },
      this.#hostCounts
    );
    // Decided once: without a probe every connection gets the host above, and nothing is counted anywhere.
    const probe = (this.#probe = options.metrics);
    this.#host = probe === undefined ? baseHost : probedHost(baseHost, probe, speaksSessions);
    const makeHub = options.sessionHub ?? ((host: SessionHost, sessionOptions?: SessionOptions) => new SessionHub(host, sessionOptions, probe));
    const { cluster } = options;
    const sessions = cluster === undefined ? options.sessions : { ...options.sessions, store: cluster.store, broker: cluster.broker };
    this.#sessions = makeHub(
      {
        logger: this.#logger,
        audit: this.#audit,
        serialize: serializer,
        maxBufferedBytes: o.maxBufferedBytes,
        heartbeatIntervalMs: o.heartbeatIntervalMs,
        onMessage: (connection, data) => this.#emitSafely('sessionMessage', connection, data),
        onTransition: (record) => this.#emitSafely('sessionTransition', record)
      },
      probe === undefined || sessions?.store === undefined ? sessions : { ...sessions, store: probedStore(sessions.store, probe) }
    );
    this.#cluster = cluster;
    if (this.#cluster !== undefined) {
      const registry = this.#registry;
      this.#cluster.attach({
        usersOnline: () => registry.usersOnline(),
        onChange: (listener) => {
          registry.onUsersChanged = listener;
        }
      });
    }
    // The delivery writes through the host without a probe: its report counts every target at once.
    // Session connections get topic messages instead: application data is never written to them (`_reserved`).
    const delivery = new LocalDelivery(this.#registry, baseHost, this.#logger, (connection) => connection._reserved);
    const hub = this.#sessions;
    this.#fanOut = probe === undefined ? new FanOut(delivery, hub) : new TimedFanOut(probedDelivery(delivery, probe), hub, probe);
    const { maxConnections, maxConnectionsPerUser, authenticate } = o;
    this.#admission = new Admission(this.#registry, { maxConnections, maxConnectionsPerUser, authenticate, logger: this.#logger }, (connection) => {
      if (speaksSessions(connection)) this.#sessions.admit(connection);
    });
    probe?.observe(this);
  }

  /** Sessions not yet expired. */
  get sessions(): number {
    return this.#sessions.size;
  }

  /**
   * Sessions by state and the busiest topics this process holds (where each
   * stands, how many connections follow it), for an operator's view.
   *
   * @param {number} [limit=100] Topics listed at most
   * @returns {SessionSnapshot} The snapshot
   */
  sessionSnapshot(limit?: number): SessionSnapshot {
    return this.#sessions.snapshot(limit);
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
    return this.#hostCounts.ignoredEvents;
  }

  /** The application logger the manager writes to (adapters log through it too). */
  get logger(): Logger {
    return this.#logger;
  }

  /** Log and audit records dropped because the logger or the audit target threw (the first is a process warning). */
  get logFailures(): number {
    const logger = logWriteFailures(this.#logger);
    return this.#audit === this.#logger ? logger : logger + logWriteFailures(this.#audit);
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
    return this.#histories.of(id) ?? (this.#registry.get(id) ? [] : undefined);
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
    this.#admission.decide(connection, options.request, this.#shuttingDown);
    this.#emitSafely('connection', connection);
    return connection;
  }

  /**
   * Accept every connection of a `WebSocketServer` through the upgrade
   * checks, before the handshake: `allowedOrigins` (a page of another origin
   * gets 403), `maxConnectionsPerIp` (429), then `identify` (a throw refuses
   * with 500: fail closed; no answer within `identifyTimeoutMs`, 503).
   *
   * @param {WebSocketServer} wss The server
   * @param {AttachOptions} [options] Who may connect and who they are
   * @returns {() => void} Detaches the manager from the server
   * @throws {RangeError | TypeError} If an upgrade option is invalid (naming it)
   */
  attach(wss: WebSocketServer, options: AttachOptions = {}): () => void {
    return attachServer(this, wss, options);
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
    logSafely(this.#logger, 'warn', { connectionId: id }, 'send to unknown connection');
    this.#probe?.refused('not_found', 1);
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
    return this.#fanOut.broadcast(message, filter);
  }

  /**
   * Send one message to every `connected` connection of a user.
   *
   * @param {string} userId The user
   * @param {unknown} message See {@link Connection.send}
   * @returns {Promise<SendReport>} Once every write is reported
   */
  sendToUser(userId: string, message: unknown): Promise<SendReport> {
    return this.#fanOut.toUser(userId, message);
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
    const probe = this.#probe;
    if (probe === undefined) return this.#sessions.publish(topic, message);
    return timed(probe, 'publish', topic, performance.now(), this.#sessions.publish(topic, message));
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
    logSafely(this.#logger, 'warn', { connectionId: id }, 'close of unknown connection');
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
    const plan = shutdownPlan(options);
    this.#shuttingDown = true;
    const report = await closeAll([...this.#registry.values()], plan);
    // Sessions end with the server: no TTL timer outlives shutdown, and each session's trail ends in `expired`.
    this.#sessions.endAll();
    return report;
  }

  #register(ws: WebSocket, userId: string | undefined, metadata: Record<string, unknown> | undefined): Connection {
    const connection = new Connection(this.#host, ws, { id: this.#generateId(), userId, metadata, timing: this.#timing });
    // A session connection from its first moment: no application write reaches it, even before its session hub admits it.
    if (speaksSessions(connection)) connection._reserveForProtocol();
    this.#registry.add(connection);
    connection._start();
    return connection;
  }

  #onTransition(connection: Connection, record: TransitionRecord): void {
    this.#registry.moved(record.from, record.to);
    this.#histories.record(connection.id, record);
    logSafely(this.#audit, 'info', record, 'transition');
    this.#emitSafely('transition', connection, record);
  }

  #onClosed(connection: Connection, info: CloseInfo): void {
    // The registry first: nothing the session hub does may leave a closed connection in it.
    this.#registry.remove(connection);
    this.#histories.closed(connection.id);
    try {
      this.#sessions.closed(connection);
    } catch (error) {
      logSafely(this.#logger, 'error', { connectionId: connection.id, userId: connection.userId, err: error }, 'session hub failed on close');
    }
    this.#emitSafely('close', connection, info);
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
    logSafely(this.#logger, 'error', { ...about, err: error }, `${event} listener ${how}`);
  }
}

export type { ConnectionState };
