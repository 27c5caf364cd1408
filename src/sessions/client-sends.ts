/**
 * Which client messages of one session were delivered (#20). Send ids are
 * numbered per client instance (`hello.client`: a reload, a second tab or a
 * duplicated tab is a new instance), from 1 up by exactly 1 per new message
 * (docs/protocol.md section 3.3). So per instance the highest id delivered
 * says it all: an id at or below it is a resend, the next one is new, and
 * one further ahead skips ids the server would otherwise never see. The
 * first id of an instance the session does not know (a session that was
 * lost and made anew, an instance forgotten past the bound) is where its
 * numbering stands (section 3.5): refusing it would stop a client for good
 * for what the server forgot.
 */

import type { Logger } from 'pino';
import type { Connection } from '../core/connection.js';
import { logSafely } from '../core/logging.js';
import { ProtocolError, encodeFrame } from '../protocol/session-protocol.js';
import type { SessionConnection } from './session-connection.js';
import type { Session } from './session-registry.js';
import type { SessionRecords } from './topic-store.js';

/**
 * What to do with a `send`. From a shared record also `pending`: another
 * process recorded the id and has not said yet that it handed it over
 * (ask again); and `lost`: the session's record is gone (the store lost
 * it), so nothing says which ids were delivered.
 */
export type SendVerdict = 'deliver' | 'resend' | 'skip' | 'pending' | 'lost';

/** Client instances remembered per session; the one unheard of longest is forgotten past it. */
export const MAX_CLIENTS_PER_SESSION = 64;

/**
 * @param {number | undefined} last The highest id delivered for the instance (`undefined`: an instance not known)
 * @param {number} id The id of a `send`
 * @returns {SendVerdict} Deliver the next id (any id of an instance not known), acknowledge a resend, refuse a skip
 */
export function sendVerdict(last: number | undefined, id: number): SendVerdict {
  if (last === undefined) return 'deliver';
  if (id <= last) return 'resend';
  return id === last + 1 ? 'deliver' : 'skip';
}

/** The highest id delivered per client instance of one session, in this process. */
export class ClientSends {
  /**
   * Instance -> highest id delivered; Map order is least recently heard
   * first. Made at the first send: most sessions only listen, and a Map
   * with its table is about 200 B of every detached session's heap.
   */
  #last: Map<string, number> | undefined;

  /** What to do with `id` from `client`; a delivered one is recorded. */
  accept(client: string, id: number): SendVerdict {
    const sent = (this.#last ??= new Map<string, number>());
    const last = sent.get(client);
    const verdict = sendVerdict(last, id);
    // A skip records nothing: the instance stays as it was (and is closed with 4400).
    if (verdict === 'skip') return verdict;
    sent.delete(client);
    sent.set(client, verdict === 'deliver' ? id : last!);
    if (sent.size > MAX_CLIENTS_PER_SESSION) sent.delete(sent.keys().next().value!);
    return verdict;
  }
}

/** What the intake needs from its hub. */
export interface SendIntakeHost {
  /** Shared session records (a cluster), or none: then each session's `sends` decides. */
  readonly records: SessionRecords | undefined;
  readonly maxInFlight: number;
  readonly logger: Logger;
  /** A client message to hand to the application, once. */
  onMessage(connection: Connection, data: unknown): void;
  /** Close the connection for a protocol error. */
  refuse(sc: SessionConnection, error: ProtocolError): void;
  /** The session's shared record is gone: nothing says which of its sends were delivered, so the session is over. */
  lost(session: Session): void;
}

/** A send the shared store did not answer is asked again after this, doubling up to the max. */
const CHECK_RETRY_MIN_MS = 50;
const CHECK_RETRY_MAX_MS = 500;

/**
 * The `send` frames of session connections: each acknowledged, delivered
 * to the application once per (session, client instance, id), refused
 * when it skips ids; checked against the shared records in a cluster,
 * one after another per session so they are delivered in order.
 */
export class SendIntake {
  readonly #host: SendIntakeHost;
  /** Checks waiting to be asked again: woken at once when the store is back ({@link storeBack}). */
  readonly #waiting = new Set<() => void>();
  /** The hub shut down: checks still waiting give up (what they held is lost with the process). */
  #stopped = false;

  constructor(host: SendIntakeHost) {
    this.#host = host;
  }

  /** A `send` arrived on a joined connection. */
  accept(sc: SessionConnection, id: number, data: unknown): void {
    const session = sc.session!;
    // Ids rise on a connection (section 3.3): one at or below the last sent on it is no resend (resends come on a new
    // connection) but a client numbering again from 1 on a connection it already wrote sends on (3.5). Acknowledged
    // as a resend, it was never delivered: refused instead, so the loss is told.
    if (id <= sc.lastSendId) {
      return this.#host.refuse(sc, new ProtocolError('unexpected', `send id ${id} after ${sc.lastSendId} on this connection: ids rise on a connection`));
    }
    sc.lastSendId = id;
    if (this.#host.records === undefined) return this.#answer(sc, id, data, session.sends.accept(sc.client, id));
    // A session other processes may also have served: the shared record says whether the id is new.
    const records = this.#host.records;
    const limit = this.#host.maxInFlight;
    sc.checking(limit);
    session.checks = session.checks.then(async () => {
      const attempt = `${sc.connection.id}:${id}`;
      let verdict: SendVerdict | undefined;
      try {
        verdict = await this.#untilAnswered(sc, session, 'checking the send', async () => {
          const answer = await records.acceptSend(session.token, sc.client, id, attempt);
          // Recorded by a process that has not said it handed it over: asked again until it does, or is presumed gone.
          return answer === 'pending' ? undefined : answer;
        });
      } finally {
        sc.checked(limit);
      }
      if (verdict === 'lost') return this.#host.lost(session);
      if (verdict === undefined) return;
      this.#answer(sc, id, data, verdict);
      // Only now may another process that gets this id again take it for a resend: until then it waits (`pending`).
      if (verdict === 'deliver') void this.#untilAnswered(sc, session, 'recording the send as handed over', () => records.delivered(session.token, sc.client, id, attempt));
    });
  }

  /**
   * Ask the shared record until it answers (`undefined` from `ask`: ask
   * again). An answer lost in a cut may have recorded the id: asked again
   * with the same attempt id, the record says `deliver` for it still, so the
   * message is delivered once rather than never (a resend elsewhere
   * meanwhile waits, `pending`, until this process says it handed it over).
   * Gives up only when the hub shuts down: a session that expired here may
   * live on another process, and only this one may deliver the message.
   */
  async #untilAnswered<T>(sc: SessionConnection, session: Session, what: string, ask: () => Promise<T | undefined>): Promise<T | undefined> {
    for (let delayMs = CHECK_RETRY_MIN_MS; ; delayMs = Math.min(CHECK_RETRY_MAX_MS, delayMs * 2)) {
      try {
        const answer = await ask();
        if (answer !== undefined) return answer;
      } catch (error) {
        if (delayMs === CHECK_RETRY_MIN_MS) {
          logSafely(this.#host.logger, 'warn', { connectionId: sc.connection.id, sessionId: session.id, err: error }, `session store unavailable; ${what} again until it answers`);
        }
      }
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.#waiting.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, delayMs).unref();
        this.#waiting.add(wake);
      });
      if (this.#stopped) return undefined;
    }
  }

  /** The hub shuts down: waiting checks give up now. */
  stop(): void {
    this.#stopped = true;
    this.storeBack();
  }

  /** The shared store is reachable again (the broker resynced): every waiting check is asked again now. */
  storeBack(): void {
    for (const wake of [...this.#waiting]) wake();
  }

  #answer(sc: SessionConnection, id: number, data: unknown, verdict: SendVerdict): void {
    if (verdict === 'skip') return this.#host.refuse(sc, new ProtocolError('unexpected', `send id ${id} skips ids: the next is one more than the last sent`));
    void sc.connection._sendControl(encodeFrame({ type: 'ack', id }));
    // Delivered even when the connection closed meanwhile: the id is recorded, a resend would not deliver it again.
    if (verdict === 'deliver') this.#host.onMessage(sc.connection, data);
  }
}
