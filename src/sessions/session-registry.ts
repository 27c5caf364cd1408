/**
 * The sessions of one hub (#11, #20): each is an actor of the session
 * machine (`attached`, `detached`, `expired`), audited like connections.
 * The registry makes them, finds them by token, bounds how many a user
 * (and the process) keeps, and ends them.
 *
 * A session has two names. Its **token** is a bearer secret: whoever shows
 * it resumes the session, so it leaves the server only in `welcome`. Its
 * **id** is a short hash of the token, safe to log: audit records, log
 * lines and events name the session by it.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { createActor, type Actor } from 'xstate';
import { sessionMachine, type SessionEvent, type SessionState } from '../../machines/session.machine.js';
import { ActorSystemPool, type ActorSystemSlot } from '../core/actor-systems.js';
import type { Connection } from '../core/connection.js';
import { logSafely } from '../core/logging.js';
import { eventLabel } from '../core/machine-graph.js';
import { TimerSlot, processTimers } from '../core/timer-lists.js';
import { ClientSends } from './client-sends.js';

/** One audit record of a session: a change of its state. */
export interface SessionTransitionRecord {
  /** The session's id: a hash of its token, not the token. */
  sessionId: string;
  userId: string | undefined;
  seq: number;
  from: SessionState;
  to: SessionState;
  event: string;
  at: number;
}

export interface Session {
  /** The bearer secret that resumes the session. Never logged. */
  readonly token: string;
  /** A name for logs: the first 16 characters of the token's SHA-256, in base64url. */
  readonly id: string;
  readonly userId: string | undefined;
  readonly actor: Actor<typeof sessionMachine>;
  readonly system: ActorSystemSlot;
  readonly connections: Set<Connection>;
  /** The topics the session follows. */
  readonly topics: Set<string>;
  /** Which client message ids were delivered, per client instance (without a shared store). */
  readonly sends: ClientSends;
  state: SessionState;
  seq: number;
  /** When the session last lost its last connection: the oldest detached session is ended first. */
  detachedAt: number;
  /** Client messages checked against the shared record one after another, so they are delivered in order. */
  checks: Promise<void>;
  /** The chart's TTL timer (`startTimer` in `detached`). */
  readonly timer: TimerSlot;
}

export interface SessionRegistryHost {
  readonly audit: Logger;
  onTransition(record: SessionTransitionRecord): void;
  /** The session is over: let go of what it held. */
  expired(session: Session): void;
}

export interface SessionLimits {
  ttlMs: number;
  maxSessionsPerUser: number;
  maxSessions: number;
}

const TOKEN_BYTES = 24;
const TTL_ELAPSED: SessionEvent = Object.freeze({ type: 'after sessionTtl' });
const END: SessionEvent = Object.freeze({ type: 'END' });
/** Where every session's chain of send checks starts: one settled promise shared, not one per session (48 B each). */
const NO_CHECKS: Promise<void> = Promise.resolve();
/** Session actors share systems like connection actors do (about 3 KiB saved per session). */
const systems = new ActorSystemPool();

/**
 * @param {string} token A session token
 * @returns {string} Its id for logs: not the token, and not enough to find it
 */
export function sessionIdOf(token: string): string {
  return createHash('sha256').update(token).digest('base64url').slice(0, 16);
}

export class SessionRegistry {
  readonly #host: SessionRegistryHost;
  readonly #limits: SessionLimits;
  readonly #byToken = new Map<string, Session>();
  /** Each user's sessions, oldest first. Anonymous sessions (no user) are bounded only by `maxSessions`. */
  readonly #byUser = new Map<string, Set<Session>>();
  /** The session machine with its audit and timer provided: built once per registry, not per session. */
  readonly #machine;
  readonly #sessionOfActor = new WeakMap<object, Session>();

  constructor(host: SessionRegistryHost, limits: SessionLimits) {
    this.#host = host;
    this.#limits = limits;
    this.#machine = sessionMachine.provide({
      actions: {
        reportEntry: ({ self, event }, { state }) => this.#entered(this.#sessionOfActor.get(self), state, event.type),
        startTimer: ({ self, context }) => {
          const session = this.#sessionOfActor.get(self);
          if (session) processTimers.arm(session.timer, context.ttlMs);
        },
        cancelTimer: ({ self }) => {
          const session = this.#sessionOfActor.get(self);
          if (session) processTimers.disarm(session.timer);
        }
      }
    });
  }

  /** Sessions not yet expired. */
  get size(): number {
    return this.#byToken.size;
  }

  values(): IterableIterator<Session> {
    return this.#byToken.values();
  }

  get(token: string): Session | undefined {
    return this.#byToken.get(token);
  }

  /** The user's sessions, live or detached. */
  of(userId: string): ReadonlySet<Session> | undefined {
    return this.#byUser.get(userId);
  }

  /**
   * Make a session for `userId` (with `token` when another process made it),
   * attached to `connection`, the one that asked for it. Past `maxSessionsPerUser`
   * (or `maxSessions` in all) the oldest detached session ends first; when
   * every one of the user's sessions is attached, none is made.
   *
   * @returns {Session | undefined} The session, or `undefined` when the user is at the limit
   */
  start(userId: string | undefined, connection: Connection, token = randomBytes(TOKEN_BYTES).toString('base64url')): Session | undefined {
    const mine = userId === undefined ? undefined : this.#byUser.get(userId);
    if (mine !== undefined && mine.size >= this.#limits.maxSessionsPerUser && !this.#endOldestDetached(mine.values())) return undefined;
    if (this.#byToken.size >= this.#limits.maxSessions && !this.#endOldestDetached(this.#byToken.values())) return undefined;
    const system = systems.acquire();
    const actor = createActor(this.#machine, { input: { ttlMs: this.#limits.ttlMs }, parent: system.root });
    const session: Session = {
      token,
      id: sessionIdOf(token),
      userId,
      actor,
      system,
      connections: new Set([connection]),
      topics: new Set(),
      sends: new ClientSends(),
      state: 'attached',
      seq: 0,
      detachedAt: 0,
      checks: NO_CHECKS,
      timer: new TimerSlot({ _timerElapsed: () => actor.send(TTL_ELAPSED) })
    };
    this.#sessionOfActor.set(actor, session);
    this.#byToken.set(token, session);
    if (userId !== undefined) {
      let sessions = this.#byUser.get(userId);
      if (sessions === undefined) this.#byUser.set(userId, (sessions = new Set()));
      sessions.add(session);
    }
    actor.start();
    return session;
  }

  /** A connection joins a session that already exists (a resume). */
  attach(session: Session, connection: Connection): void {
    if (session.connections.has(connection)) return;
    session.connections.add(connection);
    session.actor.send({ type: 'ATTACH' });
  }

  /** A connection of the session closed. */
  detach(session: Session, connection: Connection): void {
    if (!session.connections.delete(connection) || session.state === 'expired') return;
    if (session.connections.size === 0) session.detachedAt = Date.now();
    session.actor.send({ type: 'DETACH' });
  }

  /** End a session now (`expired` by `END`). */
  end(session: Session): void {
    session.actor.send(END);
  }

  endAll(): void {
    for (const session of [...this.#byToken.values()]) this.end(session);
  }

  /** End the session among `candidates` that lost its last connection longest ago; false when all are attached. */
  #endOldestDetached(candidates: Iterable<Session>): boolean {
    let oldest: Session | undefined;
    for (const session of candidates) {
      if (session.state === 'detached' && (oldest === undefined || session.detachedAt < oldest.detachedAt)) oldest = session;
    }
    if (oldest === undefined) return false;
    this.end(oldest);
    return true;
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
    logSafely(this.#host.audit, 'info', record, 'session transition');
    this.#host.onTransition(record);
  }

  #expired(session: Session): void {
    this.#byToken.delete(session.token);
    const mine = session.userId === undefined ? undefined : this.#byUser.get(session.userId);
    if (mine?.delete(session) === true && mine.size === 0) this.#byUser.delete(session.userId!);
    systems.release(session.system);
    this.#host.expired(session);
  }
}
