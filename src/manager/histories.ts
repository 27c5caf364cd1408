/**
 * The recent transitions of each connection, for `manager.history(id)`:
 * up to `historyLimit` per live connection, kept for the last
 * `closedHistoryLimit` closed ones.
 */
import type { TransitionRecord } from '../core/connection-host.js';

export class Histories {
  readonly #live = new Map<string, TransitionRecord[]>();
  readonly #closed = new Map<string, TransitionRecord[]>();
  readonly #limit: number;
  readonly #closedLimit: number;

  constructor(limit: number, closedLimit: number) {
    this.#limit = limit;
    this.#closedLimit = closedLimit;
  }

  /** A connection changed state. */
  record(id: string, record: TransitionRecord): void {
    const history = this.#live.get(id);
    // A one-element literal: an idle connection's history holds one record, not a grown array.
    if (history === undefined) {
      if (this.#limit > 0) this.#live.set(id, [record]);
    } else {
      history.push(record);
      if (history.length > this.#limit) history.shift();
    }
  }

  /** A connection is `closed`: its history moves to the closed ones, the oldest of which is dropped past the limit. */
  closed(id: string): void {
    const history = this.#live.get(id);
    this.#live.delete(id);
    if (history && this.#closedLimit > 0) {
      this.#closed.set(id, history);
      if (this.#closed.size > this.#closedLimit) this.#closed.delete(this.#closed.keys().next().value!);
    }
  }

  /** The records kept for `id`, oldest first (a copy), or `undefined`. */
  of(id: string): TransitionRecord[] | undefined {
    return (this.#live.get(id) ?? this.#closed.get(id))?.slice();
  }
}
