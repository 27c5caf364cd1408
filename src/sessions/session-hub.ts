/**
 * Sessions that survive reconnects (#11, #20): a connection that speaks the
 * session protocol (subprotocol `ws-lifecycle.v1`, docs/protocol.md) belongs
 * to a session, the logical client across sockets. The hub reads its
 * frames (hello, send, ping), answers them, and wires the pieces that keep
 * the promise, each in its own file:
 *
 * - session-registry.ts: the sessions, their actors and audit records, and
 *   how many a user may keep;
 * - rooms.ts: which topics each user follows, and where each membership began;
 * - topic-holds.ts: the feeds of the topics this process holds;
 * - subscription.ts: one connection in one topic: what it was given, what
 *   waits, and catching up from the store (a resume, a slow reader);
 * - client-sends.ts: which client messages were delivered, per client instance;
 * - session-resume.ts: which session a hello gets (new, resumed, or from the shared record);
 * - session-connection.ts: one connection's hello, subscriptions and inbound bounds.
 */
import type { Connection } from '../core/connection.js';
import { CLOSE_CODES } from '../core/constants.js';
import { logSafely } from '../core/logging.js';
import { emptyReport } from '../core/send-result.js';
import { SerializationError, serialize as defaultSerialize } from '../core/serialization.js';
import { closeReason, topicError } from '../core/validation.js';
import { ProtocolError, SESSION_CLOSE_CODES, encodeFrame, parseClientFrame, type ClientFrame, type TopicCursor } from '../protocol/session-protocol.js';
import { SendIntake } from './client-sends.js';
import { type SESSION_DEFAULTS, sessionSettings, type PublishResult, type SessionHost, type SessionOptions, type SessionSnapshot } from './session-options.js';
import { Rooms, sessionUserError } from './rooms.js';
import { SessionConnection, type InboundLimits, type RawFrame } from './session-connection.js';
import { SessionRegistry, type Session } from './session-registry.js';
import { SessionResume, TRY_AGAIN } from './session-resume.js';
import { Subscription, type SessionProbe, type SubscriptionHost } from './subscription.js';
import type { TopicFeed } from './topic-feed.js';
import { TopicHolds } from './topic-holds.js';
import { sessionSnapshot } from './snapshot.js';
import { topicPayload } from './topic-payload.js';
import { MemoryTopicStore, type SessionRecords, type TopicMessage, type TopicPosition, type TopicStore } from './topic-store.js';

export { BROADCAST_TOPIC, MAX_SESSION_USER_ID_LENGTH, userTopic } from './rooms.js';
export type { SessionTransitionRecord } from './session-registry.js';

export type { PublishResult, SessionHost, SessionOptions, SessionSnapshot } from './session-options.js';
export { SESSION_DEFAULTS } from './session-options.js';

const PONG = encodeFrame({ type: 'pong' });
/**
 * Frames kept at most while a hello is answered. Reading pauses at the
 * hello, so what is kept is what the read under way brought: at most 64 KiB
 * of frames of 6 bytes or more (10,923). A client may pipeline that many
 * (docs/protocol.md 1.4); 256, the limit before, refused one with 4400.
 */
const MAX_EARLY_FRAMES = 16_384;
/** The close when the shared store lost a session's record: the client resumes into a new session (docs/protocol.md 3.5). */
const SESSION_LOST = { code: 1013, reason: 'session record lost, resume' };

/**
 * The sessions, topics and subscriptions of one manager. Connections are
 * handed to it once admitted; it reads their frames and writes theirs.
 */
export class SessionHub {
  readonly #host: SessionHost;
  readonly #store: TopicStore;
  readonly #options: typeof SESSION_DEFAULTS;
  readonly #registry: SessionRegistry;
  /** Which session a hello gets. */
  readonly #resume: SessionResume;
  readonly #holds: TopicHolds;
  readonly #rooms = new Rooms();
  readonly #connections = new Map<Connection, SessionConnection>();
  /** Connections of each user that have no session yet: the user has a session coming. */
  readonly #waiting = new Map<string | undefined, Set<SessionConnection>>();
  /** Session state shared with the other processes of a cluster, when the store has it. */
  readonly #records: SessionRecords | undefined;
  readonly #subscriptionHost: SubscriptionHost;
  readonly #sends: SendIntake;
  readonly #probe: SessionProbe | undefined;
  /** What a session connection's frames are admitted against: its frame rate, and its send buffer (every frame may make a reply). */
  readonly #inbound: InboundLimits;
  /** Keeps the shared records of the sessions attached here from expiring. */
  #touchTimer: NodeJS.Timeout | undefined;

  constructor(host: SessionHost, options: SessionOptions = {}, probe?: SessionProbe) {
    this.#host = host;
    this.#probe = probe;
    const o = (this.#options = sessionSettings(options));
    this.#inbound = { framesPerSecond: o.maxFramesPerSecond, maxBufferedBytes: host.maxBufferedBytes };
    this.#store = options.store ?? new MemoryTopicStore();
    this.#records = this.#store.sessions;
    this.#holds = new TopicHolds(this.#store, host.logger);
    this.#sends = new SendIntake({
      records: this.#records,
      maxInFlight: o.maxInFlight,
      logger: host.logger,
      onMessage: (connection, data) => host.onMessage(connection, data),
      refuse: (sc, error) => this.#refuse(sc, error),
      lost: (session) => this.#lost(session)
    });
    this.#registry = new SessionRegistry(
      { audit: host.audit, onTransition: (record) => host.onTransition(record), expired: (session) => this.#expired(session) },
      { ttlMs: o.ttlMs, maxSessionsPerUser: o.maxSessionsPerUser, maxSessions: o.maxSessions }
    );
    this.#resume = new SessionResume(host, o, this.#registry, this.#records, {
      current: (sc) => this.#connections.get(sc.connection) === sc && sc.phase !== 'refused',
      joined: (sc, session, resumed, cursors) => this.#joined(sc, session, resumed, cursors),
      refuse: (sc, error) => this.#refuse(sc, error)
    });
    this.#subscriptionHost = {
      readAfter: (topic, epoch, offset) => this.#store.readAfter(topic, epoch, offset),
      drainedBytes: Math.max(1, Math.floor(host.maxBufferedBytes / 2)),
      unreachable: (connection, topic, error) => {
        logSafely(host.logger, 'warn', { connectionId: connection.id, topic, err: error }, 'topic store unreachable while catching up; closing so the client resumes later');
        void connection.close(TRY_AGAIN.code, TRY_AGAIN.reason);
      },
      probe
    };
    options.broker?.listen({
      message: (message) => this.#holds.feed(message.topic)?.offer(message),
      resync: () => {
        for (const feed of this.#holds.feeds()) feed.resync();
        this.#sends.storeBack();
      }
    });
    if (this.#records !== undefined) {
      // A third of the TTL: a record outlives a missed touch or two, and a dead process's sessions expire soon after it.
      this.#touchTimer = setInterval(() => this.#touchAttached(), Math.max(50, Math.floor(o.ttlMs / 3)));
      this.#touchTimer.unref();
    }
  }

  /** Whether the store is shared by several processes: every publish to a user's topic or `broadcast` is then kept. */
  get shared(): boolean {
    return this.#records !== undefined;
  }

  /** Sessions not yet expired. */
  get size(): number {
    return this.#registry.size;
  }

  /** Topics some session, or a connection before its hello, holds. */
  get heldTopics(): number {
    return this.#holds.size;
  }

  get store(): TopicStore {
    return this.#store;
  }

  /** What the hub holds now, for an operator's view: see {@link sessionSnapshot}. */
  snapshot(limit = 100): SessionSnapshot {
    return sessionSnapshot(this.#registry.values(), this.#registry.size, this.#holds, limit);
  }

  /** Whether any session exists or is being made: a broadcast is then kept for resumes. */
  get active(): boolean {
    return this.#registry.size > 0 || this.#waiting.size > 0;
  }

  /** Whether the user has a session, live or detached, or a connection about to make one. */
  hasUser(userId: string): boolean {
    return (this.#registry.of(userId)?.size ?? 0) > 0 || this.#waiting.has(userId);
  }

  /** Whether the connection speaks the session protocol. */
  owns(connection: Connection): boolean {
    return this.#connections.has(connection);
  }

  /** Where a topic stands: as this process delivered it when it holds the topic, else as the store says. */
  async position(topic: string): Promise<TopicPosition> {
    const invalid = topicError(topic);
    if (invalid) throw invalid;
    const feed = this.#holds.feed(topic);
    if (feed !== undefined) {
      await feed.ready;
      if (feed.position !== undefined) return feed.position;
    }
    return this.#store.position(topic);
  }

  /**
   * A session connection was admitted: it has `helloTimeoutMs` to say
   * hello. It holds its user's topics from now on and buffers what they
   * carry, so a new session starts where its topics stood at the upgrade.
   */
  admit(connection: Connection): void {
    // Written by this protocol alone from now on (the manager reserves an accepted socket earlier, an outgoing one only now).
    connection._reserveForProtocol();
    // A user id its topic cannot name (docs/protocol.md 2.4): over 195 characters, or an unpaired surrogate (its topic
    // would be stored as another user's: one reads as U+FFFD in Redis). No session, and the client is told it is final.
    const invalid = connection.userId === undefined ? undefined : sessionUserError(connection.userId);
    if (invalid !== undefined) {
      const why = invalid instanceof TypeError ? 'user id is not well-formed Unicode' : 'user id too long for a session';
      logSafely(this.#host.logger, 'error', { connectionId: connection.id, userIdLength: connection.userId!.length, err: invalid }, `${why}; session connection refused`);
      return void connection.close(CLOSE_CODES.POLICY_VIOLATION, why);
    }
    const sc = new SessionConnection(connection);
    this.#connections.set(connection, sc);
    this.#wait(sc, connection.userId);
    for (const topic of this.#rooms.topicsOf(connection.userId)) this.#holdForHello(sc, topic);
    sc.helloTimer = setTimeout(() => void connection.close(SESSION_CLOSE_CODES.HELLO_TIMEOUT, 'no hello'), this.#options.helloTimeoutMs);
    sc.helloTimer.unref();
  }

  /** A frame arrived on a session connection. Never throws: a bad frame closes its connection with a code. */
  receive(connection: Connection, data: string | Buffer, isBinary: boolean): void {
    const sc = this.#connections.get(connection);
    if (sc === undefined || sc.phase === 'refused') return;
    if (!sc.admit({ data, isBinary }, this.#inbound, Date.now(), (held) => this.#replay(connection, held))) return;
    this.#handle(sc, data, isBinary);
  }

  /** A frame admitted (counted against its second): parsed and acted on. */
  #handle(sc: SessionConnection, data: string | Buffer, isBinary: boolean): void {
    if (sc.phase === 'refused') return;
    const { connection } = sc;
    const frame: ClientFrame | ProtocolError = isBinary ? new ProtocolError('malformed', 'binary frames are not part of the protocol') : parseClientFrame(data as string);
    if (frame instanceof ProtocolError) return this.#refuse(sc, frame);
    if (frame.type === 'hello') {
      if (sc.phase !== 'admitted') return this.#refuse(sc, new ProtocolError('unexpected', 'a second hello'));
      return this.#resume.hello(sc, frame);
    }
    if (sc.phase === 'admitted') return this.#refuse(sc, new ProtocolError('unexpected', `${frame.type} before hello`));
    if (sc.phase === 'greeting') {
      // Sent right after the hello, while the shared store is asked about its token: handled after the welcome.
      if (!sc.keep({ data, isBinary }, MAX_EARLY_FRAMES)) this.#refuse(sc, new ProtocolError('too_large', `more than ${MAX_EARLY_FRAMES} frames before the welcome`));
      return;
    }
    if (frame.type === 'ping') return void connection._sendControl(PONG);
    this.#sends.accept(sc, frame.id, frame.data);
  }

  /** Frames that waited for the next second are handled in order, as if they had just arrived (counted against it). */
  #replay(connection: Connection, frames: readonly RawFrame[]): void {
    for (const frame of frames) this.receive(connection, frame.data, frame.isBinary);
  }

  /** A session connection closed. */
  closed(connection: Connection): void {
    const sc = this.#connections.get(connection);
    if (sc === undefined) return;
    this.#connections.delete(connection);
    sc.close();
    this.#releaseHeld(sc);
    const session = sc.session;
    if (session === undefined) return;
    this.#registry.detach(session, connection);
    // The shared record's TTL counts from this detach.
    if (this.#records !== undefined && session.connections.size === 0) void this.#records.touch([session.token], this.#options.ttlMs).catch(() => {});
  }

  /** Publish to a topic: the store gives it the next offset; the topic's feed here writes it to the live connections, in order. */
  publish(topic: string, message: unknown): Promise<PublishResult> {
    const invalid = topicError(topic);
    if (invalid) return Promise.resolve({ ok: false, topic, epoch: '', offset: 0, report: emptyReport(), error: invalid, reason: 'invalid_topic' });
    const payload = topicPayload(message, (value) => this.#host.serialize(value), this.#host.serialize === defaultSerialize);
    if (payload instanceof SerializationError) {
      const position = this.#holds.feed(topic)?.position;
      return Promise.resolve({ ok: false, topic, epoch: position?.epoch ?? '', offset: position?.offset ?? 0, report: emptyReport(), error: payload });
    }
    return this.#append(topic, payload);
  }

  /**
   * Make a user a member of a topic (a room) until `unsubscribeUser`: every
   * session of the user, now and later, follows it from where it stands now.
   */
  subscribeUser(userId: string, topic: string): void {
    // Where the store stands, not what this process delivered: a message already appended is from before the membership.
    if (!this.#rooms.join(userId, topic, () => this.#store.position(topic))) return;
    const floor = this.#rooms.floorOf(userId, topic);
    for (const sc of this.#waiting.get(userId) ?? []) this.#holdForHello(sc, topic);
    for (const session of this.#registry.of(userId) ?? []) {
      if (!this.#follow(session, topic)) continue;
      // A room joined now starts where it stands: the client is told so, then gets what follows.
      for (const connection of session.connections) this.#subscribe(this.#connections.get(connection)!, topic).start(undefined, 'new_topic', floor);
    }
  }

  /** The user leaves a room: no session of theirs receives it any more, and each live connection is told `unsubscribed`. */
  unsubscribeUser(userId: string, topic: string): void {
    if (!this.#rooms.leave(userId, topic)) return;
    for (const sc of this.#waiting.get(userId) ?? []) {
      if (!this.#unsubscribe(sc, topic)) continue;
      sc.held.splice(sc.held.indexOf(topic), 1);
      this.#holds.release(topic);
    }
    for (const session of this.#registry.of(userId) ?? []) {
      if (!session.topics.delete(topic)) continue;
      for (const connection of session.connections) {
        const sc = this.#connections.get(connection)!;
        if (this.#unsubscribe(sc, topic)) void connection._sendControl(encodeFrame({ type: 'unsubscribed', topic }));
      }
      this.#holds.release(topic);
    }
  }

  /** End every session here now (the manager shuts down). Shared records stay until their TTL: the clients resume elsewhere. */
  endAll(): void {
    this.#sends.stop();
    clearInterval(this.#touchTimer);
    this.#touchTimer = undefined;
    this.#registry.endAll();
  }

  /** A subscription of a connection to a topic (a test subclass makes a naive one to show the checks failing). */
  protected makeSubscription(connection: Connection, feed: TopicFeed, host: SubscriptionHost): Subscription {
    return new Subscription(connection, feed, host);
  }

  #subscribe(sc: SessionConnection, topic: string): Subscription {
    let subscription = sc.subscriptions.get(topic);
    if (subscription === undefined) {
      subscription = this.makeSubscription(sc.connection, this.#holds.feed(topic)!, this.#subscriptionHost);
      sc.subscriptions.set(topic, subscription);
    }
    return subscription;
  }

  #unsubscribe(sc: SessionConnection, topic: string): boolean {
    const subscription = sc.subscriptions.get(topic);
    if (subscription === undefined) return false;
    subscription.end();
    sc.subscriptions.delete(topic);
    return true;
  }

  /** A connection without a session holds `topic` and buffers it until its hello is answered. */
  #holdForHello(sc: SessionConnection, topic: string): void {
    if (sc.held.includes(topic)) return;
    sc.held.push(topic);
    this.#holds.hold(topic);
    this.#subscribe(sc, topic);
  }

  #wait(sc: SessionConnection, userId: string | undefined): void {
    let waiting = this.#waiting.get(userId);
    if (waiting === undefined) this.#waiting.set(userId, (waiting = new Set()));
    waiting.add(sc);
  }

  /** A connection that waited for its session lets go of its topics (it joined one, or closed). */
  #releaseHeld(sc: SessionConnection): void {
    const waiting = this.#waiting.get(sc.connection.userId);
    if (waiting?.delete(sc) !== true) return;
    if (waiting.size === 0) this.#waiting.delete(sc.connection.userId);
    for (const topic of sc.held) this.#holds.release(topic);
    sc.held = [];
  }

  /** The session follows `topic` from now on; false when it already did. */
  #follow(session: Session, topic: string): boolean {
    if (session.topics.has(topic)) return false;
    session.topics.add(topic);
    this.#holds.hold(topic);
    return true;
  }

  /** The connection joined `session` (see session-resume.ts): it follows the session's topics from where the client stands. */
  #joined(sc: SessionConnection, session: Session, resumed: boolean, cursors: Record<string, TopicCursor>): void {
    const { connection } = sc;
    sc.session = session;
    sc.phase = 'joined';
    // The session holds its topics before the connection lets go of them, so no count touches zero in between.
    for (const topic of this.#rooms.topicsOf(connection.userId)) this.#follow(session, topic);
    this.#releaseHeld(sc);
    for (const topic of [...sc.subscriptions.keys()]) if (!session.topics.has(topic)) this.#unsubscribe(sc, topic);
    void connection._sendControl(encodeFrame(this.#resume.welcome(session, resumed)));
    const { userId } = connection;
    for (const topic of session.topics) {
      this.#subscribe(sc, topic).start(resumed ? cursors[topic] : undefined, resumed ? 'new_topic' : 'unknown_session', this.#rooms.floorOf(userId, topic));
    }
    // What came while the hello was answered, in order; each was counted against its second when it came.
    for (const frame of sc.welcomed()) this.#handle(sc, frame.data, frame.isBinary);
  }

  #touchAttached(): void {
    const tokens: string[] = [];
    for (const session of this.#registry.values()) if (session.connections.size > 0) tokens.push(session.token);
    if (tokens.length > 0) void this.#records!.touch(tokens, this.#options.ttlMs).catch(() => {});
  }

  async #append(topic: string, payload: string | Buffer): Promise<PublishResult> {
    const startedAt = this.#probe === undefined ? 0 : performance.now();
    let position: TopicPosition;
    try {
      position = await this.#store.append(topic, payload);
    } catch (error) {
      // Refused, with the reason: never a message reported published that no one can get.
      logSafely(this.#host.logger, 'warn', { topic, err: error }, 'topic store unavailable; publish refused');
      return { ok: false, topic, epoch: '', offset: 0, report: emptyReport(), error: error as Error, reason: 'store_unavailable' };
    }
    const { epoch, offset } = position;
    const feed = this.#holds.feed(topic);
    if (feed === undefined) {
      // Nobody here can ever resume it: a store of this process keeps nothing of it (a shared one keeps it for the others).
      if (this.#records === undefined) void Promise.resolve(this.#store.forget(topic)).catch(() => {});
      return { ok: true, topic, epoch, offset, report: emptyReport() };
    }
    const message: TopicMessage = { topic, epoch, offset, payload };
    this.#probe?.published(message, startedAt);
    return { ok: true, topic, epoch, offset, report: await feed.accept(message) };
  }

  /** The session is over: it lets go of its topics. */
  #expired(session: Session): void {
    for (const topic of session.topics) this.#holds.release(topic);
  }

  /**
   * The shared store no longer has the session's record (a Redis restarted
   * empty, a key evicted): nothing says which of its sends were delivered,
   * so it cannot go on as if it did. It ends here, and its connections
   * resume into a new session (`resumed: false`), which their clients are
   * told (docs/protocol.md 3.5).
   */
  #lost(session: Session): void {
    if (session.state === 'expired') return;
    logSafely(this.#host.logger, 'warn', { sessionId: session.id, userId: session.userId }, 'session record lost by the shared store; ending the session so its clients start a new one');
    const connections = [...session.connections];
    this.#registry.end(session);
    for (const connection of connections) void connection.close(SESSION_LOST.code, SESSION_LOST.reason);
  }

  #refuse(sc: SessionConnection, error: ProtocolError): void {
    const { connection } = sc;
    logSafely(this.#host.logger, 'warn', { connectionId: connection.id, userId: connection.userId, code: error.code, message: error.message }, 'session protocol error; closing');
    void connection._sendControl(encodeFrame({ type: 'error', code: error.code, message: error.message }));
    sc.refuse();
    void connection.close(error.closeCode, closeReason(error.message));
  }
}
