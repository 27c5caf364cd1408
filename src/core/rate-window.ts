/**
 * Inbound messages per second on one connection: a fixed one-second
 * window, counted, with no timer. Made only when a limit is set, so a
 * connection without one carries nothing for it.
 */
export class RateWindow {
  #start = 0;
  #count = 0;

  /**
   * Count one message.
   *
   * @param {number} limit Messages allowed per second
   * @param {number} now The clock, in milliseconds
   * @returns {boolean} Whether the message is within the limit
   */
  admit(limit: number, now: number): boolean {
    if (now - this.#start >= 1000) {
      this.#start = now;
      this.#count = 0;
    }
    return ++this.#count <= limit;
  }

  /** Milliseconds until the window that `now` falls in is over. */
  resetsIn(now: number): number {
    return Math.max(1, 1000 - (now - this.#start));
  }
}
