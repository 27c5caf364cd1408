/**
 * Counts operations that must settle exactly once (a send promise, a ws
 * write callback). Memory is bounded by what is pending, so a long soak
 * does not grow the heap it measures.
 */

/** What a ledger saw: created, settled, still pending, settled more than once. */
export interface LedgerSummary {
  created: number;
  settled: number;
  pending: number;
  /** Settlements of a token that was already settled or never opened. */
  extraSettles: number;
}

export class SettleLedger {
  #next = 0;
  #settled = 0;
  #extra = 0;
  readonly #pending = new Set<number>();

  /** Operations still waiting to settle. */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Record a new operation.
   *
   * @returns {number} The token to pass to {@link settle}
   */
  open(): number {
    const token = ++this.#next;
    this.#pending.add(token);
    return token;
  }

  /**
   * Record that an operation settled; a second settlement is counted, not ignored.
   *
   * @param {number} token From {@link open}
   */
  settle(token: number): void {
    if (this.#pending.delete(token)) this.#settled++;
    else this.#extra++;
  }

  /**
   * Track a promise: opened now, settled when it resolves or rejects.
   *
   * @param {Promise<T>} promise The operation
   * @returns {Promise<T>} The same promise, for chaining
   */
  track<T>(promise: Promise<T>): Promise<T> {
    const token = this.open();
    const settle = (): void => this.settle(token);
    promise.then(settle, settle);
    return promise;
  }

  /** A snapshot of the counts. */
  summary(): LedgerSummary {
    return { created: this.#next, settled: this.#settled, pending: this.#pending.size, extraSettles: this.#extra };
  }
}
