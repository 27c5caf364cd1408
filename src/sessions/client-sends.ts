/**
 * Which client messages of one session were delivered (#20). Send ids are
 * numbered per client instance (`hello.client`: a reload, a second tab or a
 * duplicated tab is a new instance), from 1 up by exactly 1 per new message
 * (docs/protocol.md section 3.3). So per instance the highest id delivered
 * says it all: an id at or below it is a resend, the next one is new, and
 * one further ahead skips ids the server would otherwise never see.
 */

import type { Logger } from 'pino';
import type { Connection } from '../core/connection.js';
import { logSafely } from '../core/logging.js';
import { ProtocolError, encodeFrame } from '../protocol/session-protocol.js';
import type { SessionConnection } from './session-connection.js';
import type { Session } from './session-registry.js';
import type { SessionRecords } from './topic-store.js';

/** What to do with a `send`. */
export type SendVerdict = 'deliver' | 'resend' | 'skip';

/** Client instances remembered per session; the one unheard of longest is forgotten past it. */
export const MAX_CLIENTS_PER_SESSION = 64;

/**
 * @param {number} last The highest id delivered for the instance (0 for none)
 * @param {number} id The id of a `send`
 * @returns {SendVerdict} Deliver the next id, acknowledge a resend, refuse a skip
 */
export function sendVerdict(last: number, id: number): SendVerdict {
  if (id <= last) return 'resend';
  return id === last + 1 ? 'deliver' : 'skip';
}

/** The highest id delivered per client instance of one session, in this process. */
export class ClientSends {
  /** Instance -> highest id delivered; Map order is least recently heard first. */
  readonly #last = new Map<string, number>();

  /** What to do with `id` from `client`; a delivered one is recorded. */
  accept(client: string, id: number): SendVerdict {
    const last = this.#last.get(client) ?? 0;
    const verdict = sendVerdict(last, id);
    this.#last.delete(client);
    this.#last.set(client, verdict === 'deliver' ? id : last);
    if (this.#last.size > MAX_CLIENTS_PER_SESSION) this.#last.delete(this.#last.keys().next().value!);
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
    // Ids rise on a connection (section 3.3): one at or below the last seen here is a resend, answered without the store.
    if (id <= sc.lastSendId) return this.#answer(sc, id, data, 'resend');
    sc.lastSendId = id;
    if (this.#host.records === undefined) return this.#answer(sc, id, data, session.sends.accept(sc.client, id));
    // A session other processes may also have served: the shared record says whether the id is new.
    const records = this.#host.records;
    const limit = this.#host.maxInFlight;
    sc.checking(limit);
    session.checks = session.checks.then(async () => {
      let verdict: SendVerdict | undefined;
      try {
        verdict = await this.#check(records, session, sc, id);
      } finally {
        sc.checked(limit);
      }
      if (verdict !== undefined) this.#answer(sc, id, data, verdict);
    });
  }

  /**
   * Ask the shared record about a send until it answers. An answer lost in a
   * cut may have recorded the id: asked again with the same attempt id, the
   * record says `deliver` for it still, so the message is delivered once
   * rather than never (a resend elsewhere meanwhile is told `resend`).
   * Gives up only when the hub shuts down: a session that expired here may
   * live on another process, and only this one may deliver the message.
   */
  async #check(records: SessionRecords, session: Session, sc: SessionConnection, id: number): Promise<SendVerdict | undefined> {
    const attempt = `${sc.connection.id}:${id}`;
    for (let delayMs = CHECK_RETRY_MIN_MS; ; delayMs = Math.min(CHECK_RETRY_MAX_MS, delayMs * 2)) {
      try {
        return await records.acceptSend(session.token, sc.client, id, attempt);
      } catch (error) {
        if (delayMs === CHECK_RETRY_MIN_MS) {
          logSafely(this.#host.logger, 'warn', { connectionId: sc.connection.id, sessionId: session.id, err: error }, 'session store unavailable; checking the send again until it answers');
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
