/**
 * The frames one connection sends in one event-loop turn, written together.
 *
 * `Connection.send` writes the first send of a turn at once. A second send
 * in the same turn corks the socket, which is uncorked once the turn's
 * synchronous code is done (or the batch reaches {@link BATCH_FLUSH_BYTES}),
 * so a burst of sends costs one `writev` instead of one per message, and the
 * batch shares one promise: every frame in it is reported written when ws
 * has reported the last of them written.
 */
import { SENT, failure, type SendResult } from './send-result.js';

/** A batch is written at once when it holds this much (Node's default stream high-water mark). */
export const BATCH_FLUSH_BYTES = 16 * 1024;

let turn = 1;
let turnEnding = false;

function endTurn(): void {
  turnEnding = false;
  turn++;
}

/**
 * The current turn of the event loop, as a number that changes once the
 * turn's synchronous code (and the ticks queued before this call) are done.
 *
 * @returns {number} Equal for two calls in the same turn
 */
export function currentTurn(): number {
  if (!turnEnding) {
    turnEnding = true;
    process.nextTick(endTurn);
  }
  return turn;
}

/** One turn's sends on one socket: one promise, one write callback. */
export class SendBatch {
  /**
   * The callback to pass with each frame's write; shared by the batch.
   * (Assigned in the constructor, not as a class field: tools that keep
   * function names would rename a field's closure on every batch.)
   */
  readonly written: (error?: Error | null) => void;
  #promise: Promise<SendResult> | undefined;
  #resolve: ((result: SendResult) => void) | undefined;
  #result: SendResult | undefined;
  #pending = 0;
  #sealed = false;

  constructor() {
    this.written = (error) => {
      if (error) this.#settle(failure('transport_error', error));
      else if (--this.#pending === 0 && this.#sealed) this.#settle(SENT);
    };
  }

  /**
   * Settles once every frame of the batch is reported written, or one
   * failed. Made on first use: a send reported at once never needs it.
   */
  get promise(): Promise<SendResult> {
    if (this.#promise === undefined) {
      const result = this.#result;
      this.#promise =
        result !== undefined
          ? Promise.resolve(result)
          : new Promise((resolve) => {
            this.#resolve = resolve;
          });
    }
    return this.#promise;
  }

  /** Count one more frame handed to ws with {@link written}. */
  add(): void {
    this.#pending++;
  }

  /** Take back {@link add} for a frame that was refused instead of written. */
  withdraw(): void {
    if (--this.#pending === 0 && this.#sealed) this.#settle(SENT);
  }

  /** No frame joins after this; the batch settles when the last is written. */
  seal(): void {
    this.#sealed = true;
    if (this.#pending === 0) this.#settle(SENT);
  }

  #settle(result: SendResult): void {
    if (this.#result !== undefined) return;
    this.#result = result;
    this.#resolve?.(result);
  }
}
