/**
 * Sessions that survive reconnects (#11): a connection that speaks the
 * session protocol (subprotocol `ws-lifecycle.v1`) belongs to a session,
 * the logical client across sockets, with its own audited actor
 * (machines/session.machine.ts). Topics give every message an offset; a
 * client that comes back with its token and its offsets gets, per topic,
 * every message it missed, in order, before any live one, or is told it
 * cannot (`recovered: false` and where the stream continues).
 *
 * With a synchronous store (the in-memory default) a replay is written in
 * the same synchronous step that makes the connection live in its topics,
 * so no publish can fall between the two: nothing is lost, repeated or
 * reordered across the switch.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { createActor, type Actor } from 'xstate';
import { ActorSystemPool, type ActorSystemSlot } from './actor-systems.js';
import { sessionMachine, type SessionState } from '../machines/session.machine.js';
import type { Connection } from './connection.js';
import { eventLabel } from './machine-graph.js';
import { countRejected, type SendReport, type SendResult } from './send-result.js';
import { SerializationError, serialize, type WireData } from './serialization.js';
import {
  SESSION_CLOSE_CODES,
  encodeFrame,
  messageFrame,
  parseClientFrame,
  type RecoveryFailure,
  type TopicCursor
} from './session-protocol.js';
import { MemoryTopicStore, type TopicPosition, type TopicStore } from './topic-store.js';
import { topicError } from './validation.js';

/** Options of the manager's `sessions`. */
export interface SessionOptions {
  /** How long a session without connections keeps its history for a resume. Default 120,000 (2 minutes). */
  ttlMs?: number;
  /** Where topic history is kept. Default: a `MemoryTopicStore` with its default bounds. */
  store?: TopicStore;
  /** How long a session connection may take to send its hello. Default 10,000. */
  helloTimeoutMs?: number;
}

/** One audit record of a session: a change of its state. */
export interface SessionTransitionRecord {
  sessionId: string;
  userId: string | undefined;
  seq: number;
  from: SessionState;
  to: SessionState;
  event: string;
  at: number;
}

/** What `publish` resolves to. */
export interface PublishResult {
  /** `false` when the topic is not a valid name or the message could not be serialized; nothing was stored. */
  ok: boolean;
  topic: string;
  epoch: string;
  /** The message's offset (the topic's last offset when `ok` is false). */
  offset: number;
  /** The live delivery to the topic's connections of this process. */
  report: SendReport;
  /** Why not: a `RangeError` naming the topic, or the `SerializationError`. */
  error?: SerializationError | RangeError;
}

/** The topic every session is subscribed to: `broadcast` publishes to it. */
export const BROADCAST_TOPIC = 'broadcast';

/** The topic every user has: `sendToUser` publishes to it. */
export function userTopic(userId: string): string {
  return `user:${userId}`;
}

interface Session {
  /** The token is the session's id: unguessable, bound to its user. */
  readonly id: string;
  readonly userId: string | undefined;
  readonly actor: Actor<typeof sessionMachine>;
  /** The shared actor system the actor runs in. */
  readonly system: ActorSystemSlot;
  readonly connections: Set<Connection>;
  readonly topics: Set<string>;
  state: SessionState;
  seq: number;
  /** The highest client message id delivered: a resent one is acknowledged, not delivered again. */
  lastClientId: number;
}

/** What the hub needs from its manager. */
export interface SessionHost {
  readonly logger: Logger;
  readonly audit: Logger;
  /** An application message arrived on a session connection (decoded, delivered once). */
  onMessage(connection: Connection, data: unknown): void;
  onTransition(record: SessionTransitionRecord): void;
}

const TOKEN_BYTES = 24;
/** Session actors share systems like connection actors do (about 3 KiB saved per session). */
const systems = new ActorSystemPool();
const PONG = encodeFrame({ type: 'pong' });

/**
 * The sessions, topics and subscriptions of one manager. Connections are
 * handed to it once admitted; it reads their frames and writes theirs.
 */
export class SessionHub {
  readonly #host: SessionHost;
  readonly #store: TopicStore;
  readonly #ttlMs: number;
  readonly #helloTimeoutMs: number;
  readonly #sessions = new Map<string, Session>();
  /** The session of each live session connection; a connection without one has not said hello yet. */
  readonly #sessionOf = new Map<Connection, Session | undefined>();
  readonly #helloTimers = new Map<Connection, NodeJS.Timeout>();
  /** Live connections per topic. */
  readonly #subscribers = new Map<string, Set<Connection>>();
  /** Sessions (live or detached) per user, and session connections still before their hello. */
  readonly #sessionsPerUser = new Map<string | undefined, number>();
  /**
   * Where a connection's own topics stood when it was admitted: a new
   * session starts there, so what was published before its hello arrived
   * is not lost.
   */
  readonly #admittedAt = new Map<Connection, Map<string, TopicPosition>>();
  /**
   * Sessions and connections before their hello that hold each topic: a
   * topic nobody holds can never be resumed, so its history is dropped
   * from the store (a session that expires leaves nothing behind).
   */
  readonly #holders = new Map<string, number>();
  /** The rooms each user is a member of (`subscribeUser`), for the sessions they have and will have. */
  readonly #rooms = new Map<string, Set<string>>();

  /** The session machine with its audit provided: built once per hub, not per session. */
  readonly #machine;
  readonly #sessionOfActor = new WeakMap<object, Session>();

  constructor(host: SessionHost, options: SessionOptions = {}) {
    this.#host = host;
    this.#machine = sessionMachine.provide({
      actions: { reportEntry: ({ self, event }, { state }) => this.#entered(this.#sessionOfActor.get(self), state, event.type) }
    });
    this.#store = options.store ?? new MemoryTopicStore();
    this.#ttlMs = options.ttlMs ?? 120_000;
    this.#helloTimeoutMs = options.helloTimeoutMs ?? 10_000;
    for (const [name, value] of [['ttlMs', this.#ttlMs], ['helloTimeoutMs', this.#helloTimeoutMs]] as const) {
      if (!(typeof value === 'number' && value > 0 && Number.isFinite(value))) throw new RangeError(`Invalid option sessions.${name}: ${String(value)} (expected a number > 0)`);
    }
  }

  /** Sessions not yet expired. */
  get size(): number {
    return this.#sessions.size;
  }

  /** Topics some session, or a connection before its hello, holds. */
  get heldTopics(): number {
    return this.#holders.size;
  }

  /** The topic store. */
  get store(): TopicStore {
    return this.#store;
  }

  /**
   * @param {string} userId A user
   * @returns {boolean} Whether the user has a session, live or detached
   */
  hasUser(userId: string): boolean {
    return (this.#sessionsPerUser.get(userId) ?? 0) > 0;
  }

  /** Whether any session exists or is being made: a broadcast is then kept for resumes. */
  get active(): boolean {
    return this.#sessions.size > 0 || this.#admittedAt.size > 0;
  }

  /**
   * @param {Connection} connection A connection
   * @returns {boolean} Whether it speaks the session protocol
   */
  owns(connection: Connection): boolean {
    return this.#sessionOf.has(connection);
  }

  /** A session connection was admitted: it has `helloTimeoutMs` to say hello. */
  admit(connection: Connection): void {
    this.#sessionOf.set(connection, undefined);
    const positions = new Map<string, TopicPosition>();
    for (const topic of this.#ownTopics(connection)) {
      this.#hold(topic);
      positions.set(topic, this.#store.position(topic));
    }
    this.#admittedAt.set(connection, positions);
    this.#countUser(connection.userId, 1);
    const timer = setTimeout(() => {
      this.#helloTimers.delete(connection);
      void connection.close(SESSION_CLOSE_CODES.HELLO_TIMEOUT, 'no hello');
    }, this.#helloTimeoutMs);
    timer.unref();
    this.#helloTimers.set(connection, timer);
  }

  /** A frame arrived on a session connection. */
  receive(connection: Connection, data: string | Buffer, isBinary: boolean): void {
    const frame = isBinary ? undefined : parseClientFrame(data as string);
    if (frame === undefined || frame instanceof Error) {
      this.#refuse(connection, frame === undefined ? 'malformed' : frame.code, frame === undefined ? 'binary frames are not part of the protocol' : frame.message, frame?.closeCode);
      return;
    }
    const session = this.#sessionOf.get(connection);
    if (frame.type === 'hello') {
      if (session !== undefined) return this.#refuse(connection, 'unexpected', 'a second hello');
      this.#hello(connection, frame.session, frame.topics ?? {});
      return;
    }
    if (session === undefined) return this.#refuse(connection, 'unexpected', `${frame.type} before hello`);
    if (frame.type === 'ping') {
      void connection.send(PONG);
      return;
    }
    void connection.send(encodeFrame({ type: 'ack', id: frame.id }));
    // A resend after a reconnect: acknowledged again, delivered once.
    if (frame.id <= session.lastClientId) return;
    session.lastClientId = frame.id;
    this.#host.onMessage(connection, frame.data);
  }

  /** A session connection closed. */
  closed(connection: Connection): void {
    clearTimeout(this.#helloTimers.get(connection));
    this.#helloTimers.delete(connection);
    this.#releaseAdmitted(connection);
    const session = this.#sessionOf.get(connection);
    this.#sessionOf.delete(connection);
    if (session === undefined) return;
    session.connections.delete(connection);
    for (const topic of session.topics) this.#subscribers.get(topic)?.delete(connection);
    session.actor.send({ type: 'DETACH' });
  }

  /**
   * Publish to a topic: store it with the next offset, and write it to the
   * topic's live connections.
   */
  publish(topic: string, message: unknown): Promise<PublishResult> {
    const invalid = topicError(topic);
    if (invalid) return Promise.resolve({ ok: false, topic, epoch: '', offset: 0, report: { sent: 0, rejected: 0, reasons: {} }, error: invalid });
    const payload = topicPayload(message);
    if (payload instanceof SerializationError) {
      const { epoch, offset } = this.#store.position(topic);
      return Promise.resolve({ ok: false, topic, epoch, offset, report: { sent: 0, rejected: 0, reasons: {} }, error: payload });
    }
    const { epoch, offset } = this.#store.append(topic, payload);
    const frame = messageFrame(topic, epoch, offset, payload);
    const writes: Array<Promise<SendResult>> = [];
    for (const connection of this.#subscribers.get(topic) ?? []) writes.push(connection.send(frame));
    return Promise.all(writes).then((results) => {
      const report: SendReport = { sent: 0, rejected: 0, reasons: {} };
      for (const result of results) {
        if (result.ok) report.sent++;
        else countRejected(report, result.reason);
      }
      return { ok: true, topic, epoch, offset, report };
    });
  }

  /**
   * Make a user a member of a topic (a room) until `unsubscribeUser`: every
   * session of the user, now and later, follows it. Live connections
   * receive it from the next publish; a resume replays it.
   */
  subscribeUser(userId: string, topic: string): void {
    let rooms = this.#rooms.get(userId);
    if (rooms === undefined) this.#rooms.set(userId, (rooms = new Set()));
    rooms.add(topic);
    for (const session of this.#sessions.values()) {
      if (session.userId !== userId || session.topics.has(topic)) continue;
      // A room joined now starts at its end: the client learns the cursor from the first message.
      this.#addTopic(session, topic);
      for (const connection of session.connections) this.#subscribersOf(topic).add(connection);
    }
  }

  /** The user leaves a room: no session of theirs receives it any more. */
  unsubscribeUser(userId: string, topic: string): void {
    const rooms = this.#rooms.get(userId);
    if (rooms?.delete(topic) !== true) return;
    if (rooms.size === 0) this.#rooms.delete(userId);
    for (const session of this.#sessions.values()) {
      if (session.userId !== userId || !session.topics.delete(topic)) continue;
      for (const connection of session.connections) this.#subscribers.get(topic)?.delete(connection);
      this.#release(topic);
    }
  }

  /** End every session now (the manager shuts down). */
  endAll(): void {
    for (const session of [...this.#sessions.values()]) session.actor.send({ type: 'END' });
  }

  #hello(connection: Connection, token: string | undefined, cursors: Record<string, TopicCursor>): void {
    clearTimeout(this.#helloTimers.get(connection));
    this.#helloTimers.delete(connection);
    const admittedAt = this.#admittedAt.get(connection) ?? new Map<string, TopicPosition>();
    let session = token === undefined ? undefined : this.#sessions.get(token);
    if (session !== undefined && session.userId !== connection.userId) {
      // Never another user's history, and no hint whether the token exists beyond that.
      return this.#refuse(connection, 'forbidden', 'session belongs to another user', SESSION_CLOSE_CODES.FORBIDDEN);
    }
    const resumed = session !== undefined;
    if (session === undefined) session = this.#start(connection.userId);
    else session.actor.send({ type: 'ATTACH' });
    session.connections.add(connection);
    this.#sessionOf.set(connection, session);
    // The session holds its topics before the connection lets go of them, so no count touches zero in between.
    for (const topic of this.#ownTopics(connection)) this.#addTopic(session, topic);
    // Counted as a session from here (#start counted it), no longer as a connection before its hello.
    this.#releaseAdmitted(connection);
    void connection.send(encodeFrame({ type: 'welcome', session: session.id, resumed, ttlMs: this.#ttlMs }));
    for (const topic of session.topics) this.resumeTopic(connection, topic, resumed ? cursors[topic] : admittedAt.get(topic), resumed);
  }

  /** The topics every session of this connection's user has: broadcast, the user's own, the user's rooms. */
  #ownTopics(connection: Connection): string[] {
    const { userId } = connection;
    if (userId === undefined) return [BROADCAST_TOPIC];
    return [BROADCAST_TOPIC, userTopic(userId), ...(this.#rooms.get(userId) ?? [])];
  }

  #addTopic(session: Session, topic: string): void {
    if (session.topics.has(topic)) return;
    session.topics.add(topic);
    this.#hold(topic);
  }

  #hold(topic: string): void {
    this.#holders.set(topic, (this.#holders.get(topic) ?? 0) + 1);
  }

  #release(topic: string): void {
    const count = (this.#holders.get(topic) ?? 0) - 1;
    if (count > 0) {
      this.#holders.set(topic, count);
      return;
    }
    this.#holders.delete(topic);
    this.#subscribers.delete(topic);
    this.#store.forget(topic);
  }

  /** A connection before its hello lets go of its topics (it said hello, or closed). */
  #releaseAdmitted(connection: Connection): void {
    const positions = this.#admittedAt.get(connection);
    if (positions === undefined) return;
    this.#admittedAt.delete(connection);
    this.#countUser(connection.userId, -1);
    for (const topic of positions.keys()) this.#release(topic);
  }

  #countUser(userId: string | undefined, by: number): void {
    const count = (this.#sessionsPerUser.get(userId) ?? 0) + by;
    if (count === 0) this.#sessionsPerUser.delete(userId);
    else this.#sessionsPerUser.set(userId, count);
  }

  /**
   * Replay a topic to a connection and make it live there, in one
   * synchronous step: no publish can fall in between. (A test subclass
   * replaces this with the naive order to show the property failing.)
   */
  protected resumeTopic(connection: Connection, topic: string, cursor: TopicCursor | undefined, resumed: boolean): void {
    this.replayTopic(connection, topic, cursor, resumed);
    this.goLive(connection, topic);
  }

  /** The connection receives the topic's publishes from now on. */
  protected goLive(connection: Connection, topic: string): void {
    if (this.#sessionOf.has(connection)) this.#subscribersOf(topic).add(connection);
  }

  /** Write the recovery frame of a topic, and the replay when there is one. */
  protected replayTopic(connection: Connection, topic: string, cursor: TopicCursor | undefined, resumed: boolean): void {
    const position = this.#store.position(topic);
    if (cursor === undefined) {
      // A client that does not know the topic yet starts at its end; it is told so.
      const reason: RecoveryFailure = resumed ? 'new_topic' : 'unknown_session';
      void connection.send(encodeFrame({ type: 'recovery', topic, recovered: false, epoch: position.epoch, offset: position.offset, reason }));
      return;
    }
    const read = this.#store.readAfter(topic, cursor.epoch, cursor.offset);
    if (!resumed) {
      // A new session: its stream starts where the topic stood when the connection was admitted.
      const start = read.recovered ? cursor.offset : position.offset;
      void connection.send(encodeFrame({ type: 'recovery', topic, recovered: false, epoch: position.epoch, offset: start, reason: 'unknown_session' }));
      if (!read.recovered) return;
      for (const entry of read.entries) void connection.send(messageFrame(topic, read.epoch, entry.offset, entry.payload));
      void connection.send(encodeFrame({ type: 'replayed', topic, offset: read.entries.at(-1)?.offset ?? start }));
      return;
    }
    if (!read.recovered) {
      void connection.send(encodeFrame({ type: 'recovery', topic, recovered: false, epoch: read.epoch, offset: read.offset, reason: read.reason }));
      return;
    }
    void connection.send(encodeFrame({ type: 'recovery', topic, recovered: true, epoch: read.epoch, offset: cursor.offset }));
    for (const entry of read.entries) void connection.send(messageFrame(topic, read.epoch, entry.offset, entry.payload));
    void connection.send(encodeFrame({ type: 'replayed', topic, offset: read.entries.at(-1)?.offset ?? cursor.offset }));
  }

  #start(userId: string | undefined): Session {
    const id = randomBytes(TOKEN_BYTES).toString('base64url');
    const system = systems.acquire();
    const actor = createActor(this.#machine, { input: { ttlMs: this.#ttlMs }, parent: system.root });
    const session: Session = { id, userId, actor, system, connections: new Set(), topics: new Set(), state: 'attached', seq: 0, lastClientId: 0 };
    this.#sessionOfActor.set(actor, session);
    this.#sessions.set(id, session);
    this.#countUser(userId, 1);
    actor.start();
    return session;
  }

  #entered(session: Session | undefined, to: SessionState, eventType: string): void {
    if (session === undefined || session.state === to) return;
    const record: SessionTransitionRecord = {
      sessionId: session.id,
      userId: session.userId,
      seq: ++session.seq,
      from: session.state,
      to,
      event: eventLabel(eventType),
      at: Date.now()
    };
    session.state = to;
    if (to === 'expired') this.#expired(session);
    this.#host.audit.info(record, 'session transition');
    this.#host.onTransition(record);
  }

  /** The session is over: it lets go of its topics and its actor system slot. */
  #expired(session: Session): void {
    this.#sessions.delete(session.id);
    this.#countUser(session.userId, -1);
    for (const topic of session.topics) this.#release(topic);
    systems.release(session.system);
  }

  #subscribersOf(topic: string): Set<Connection> {
    let subscribers = this.#subscribers.get(topic);
    if (subscribers === undefined) this.#subscribers.set(topic, (subscribers = new Set()));
    return subscribers;
  }

  #refuse(connection: Connection, code: 'malformed' | 'unexpected' | 'forbidden' | 'too_large', message: string, closeCode: number = SESSION_CLOSE_CODES.PROTOCOL_ERROR): void {
    this.#host.logger.warn({ connectionId: connection.id, userId: connection.userId, code, message }, 'session protocol error; closing');
    void connection.send(encodeFrame({ type: 'error', code, message }));
    void connection.close(closeCode, message.slice(0, 120));
  }
}

/** The stored form of a topic message: JSON text for values and strings, bytes as they are. */
function topicPayload(message: unknown): string | Buffer | SerializationError {
  if (typeof message === 'string') return JSON.stringify(message);
  const data: WireData | SerializationError = serialize(message);
  if (data instanceof SerializationError || typeof data === 'string') return data;
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return new SerializationError('a Blob cannot be published to a topic; send its bytes');
}
