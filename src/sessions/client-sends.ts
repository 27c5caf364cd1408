/**
 * Which client messages of one session were delivered (#20). Send ids are
 * numbered per client instance (`hello.client`: a reload, a second tab or a
 * duplicated tab is a new instance), from 1 up by exactly 1 per new message
 * (docs/protocol.md section 3.3). So per instance the highest id delivered
 * says it all: an id at or below it is a resend, the next one is new, and
 * one further ahead skips ids the server would otherwise never see.
 */

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
