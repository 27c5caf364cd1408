/**
 * Which session a hello gets (#20, docs/protocol.md 3): a new one, one this
 * process has (a resume), or one another process made that the shared
 * store still records; never another user's. The hub then wires the
 * session's topics to the connection and writes the welcome made here.
 */
import { logSafely } from '../core/logging.js';
import { maxPayloadOf } from '../core/ws-internals.js';
import {
  MAX_NAME_LENGTH,
  PROTOCOL_VERSION,
  ProtocolError,
  SESSION_CLOSE_CODES,
  type ClientFrame,
  type encodeFrame,
  type TopicCursor
} from '../protocol/session-protocol.js';
import type { SESSION_DEFAULTS, SessionHost } from './session-options.js';
import type { SessionConnection } from './session-connection.js';
import type { Session, SessionRegistry } from './session-registry.js';
import type { SessionRecords } from './topic-store.js';

/** The close code and reason when the store cannot be reached: the client tries again later. */
export const TRY_AGAIN = { code: 1013, reason: 'history unavailable, try again later' };

/** What answering a hello needs of the hub. */
export interface ResumeHost {
  /** Whether the hub still has `sc` (it may have closed while the shared store was asked). */
  current(sc: SessionConnection): boolean;
  /** The connection joined `session`: the hub wires its topics and welcomes it. */
  joined(sc: SessionConnection, session: Session, resumed: boolean, cursors: Record<string, TopicCursor>): void;
  refuse(sc: SessionConnection, error: ProtocolError): void;
}

export class SessionResume {
  readonly #host: SessionHost;
  readonly #options: typeof SESSION_DEFAULTS;
  readonly #registry: SessionRegistry;
  /** Session state shared with the other processes of a cluster, when the store has it. */
  readonly #records: SessionRecords | undefined;
  readonly #hub: ResumeHost;

  constructor(host: SessionHost, options: typeof SESSION_DEFAULTS, registry: SessionRegistry, records: SessionRecords | undefined, hub: ResumeHost) {
    this.#host = host;
    this.#options = options;
    this.#registry = registry;
    this.#records = records;
    this.#hub = hub;
  }

  hello(sc: SessionConnection, frame: ClientFrame & { type: 'hello' }): void {
    clearTimeout(sc.helloTimer);
    // Without a client id, sends are numbered for this connection alone ('~' is not in a client id's alphabet).
    sc.client = frame.client ?? `~${sc.connection.id}`;
    const cursors = frame.topics ?? {};
    const token = frame.session;
    const local = token === undefined ? undefined : this.#registry.get(token);
    if (local !== undefined || token === undefined || this.#records === undefined) return this.#join(sc, local, cursors);
    // A session this process does not know may live on another one: ask the shared record.
    sc.greet();
    this.#recordOf(token).then(
      (record) => {
        if (!this.#hub.current(sc)) return;
        const known = this.#registry.get(token);
        if (known !== undefined || record === undefined) return this.#join(sc, known, cursors);
        if (record.userId !== sc.connection.userId) return this.#hub.refuse(sc, new ProtocolError('forbidden', 'session belongs to another user', SESSION_CLOSE_CODES.FORBIDDEN));
        this.#join(sc, undefined, cursors, token);
      },
      (error: unknown) => {
        if (!this.#hub.current(sc)) return;
        logSafely(this.#host.logger, 'warn', { connectionId: sc.connection.id, err: error }, 'session store unavailable; closing so the client retries');
        void sc.connection.close(TRY_AGAIN.code, TRY_AGAIN.reason);
        // Read again (a closing connection hands nothing on), so the client's answer to the close ends it now, not at the close timeout.
        sc.welcomed();
      }
    );
  }

  /**
   * The shared record of `token`, or a rejection once the wait is past its
   * bound (docs/protocol.md 1.4): the connection is not read meanwhile, so
   * the answer (a welcome, or 1013) must come before the heartbeat would
   * judge the client silent. Half the heartbeat interval, or the hello
   * timeout without a heartbeat; the store bounds its own calls too (a
   * cluster's `commandTimeoutMs`).
   */
  #recordOf(token: string): ReturnType<SessionRecords['get']> {
    const heartbeatMs = this.#host.heartbeatIntervalMs;
    const ms = heartbeatMs > 0 ? Math.max(1, Math.floor(heartbeatMs / 2)) : this.#options.helloTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the session store did not answer within ${ms} ms`)), ms);
    });
    return Promise.race([this.#records!.get(token), late]).finally(() => clearTimeout(timer));
  }

  /**
   * The connection joins `session` (a resume), or a new one: made here, or,
   * with `recorded`, from the token of a session another process made.
   */
  #join(sc: SessionConnection, session: Session | undefined, cursors: Record<string, TopicCursor>, recorded?: string): void {
    const { connection } = sc;
    if (session !== undefined && session.userId !== connection.userId) {
      // Never another user's history, and no hint whether the token exists beyond that.
      return this.#hub.refuse(sc, new ProtocolError('forbidden', 'session belongs to another user', SESSION_CLOSE_CODES.FORBIDDEN));
    }
    const resumed = session !== undefined || recorded !== undefined;
    if (session === undefined) {
      session = this.#registry.start(connection.userId, connection, recorded);
      if (session === undefined) return void connection.close(1008, 'too many sessions for this user');
      if (this.#records !== undefined && recorded === undefined) {
        const { id } = session;
        void this.#records.create(session.token, session.userId, this.#options.ttlMs).catch((error: unknown) => {
          // It still works here; only a resume on another process will not find it.
          logSafely(this.#host.logger, 'warn', { sessionId: id, err: error }, 'session store unavailable; session not shared');
        });
      }
    } else {
      this.#registry.attach(session, connection);
    }
    this.#hub.joined(sc, session, resumed, cursors);
  }

  /** The `welcome` of a connection that joined `session`. */
  welcome(session: Session, resumed: boolean): Parameters<typeof encodeFrame>[0] {
    const o = this.#options;
    return {
      type: 'welcome',
      session: session.token,
      resumed,
      ttlMs: o.ttlMs,
      heartbeatMs: this.#host.heartbeatIntervalMs,
      version: PROTOCOL_VERSION,
      topics: [...session.topics],
      limits: {
        maxFrameBytes: maxPayloadOf(session.connections.values().next().value!.socket),
        maxNameLength: MAX_NAME_LENGTH,
        maxInFlight: o.maxInFlight,
        maxFramesPerSecond: o.maxFramesPerSecond
      }
    };
  }
}
