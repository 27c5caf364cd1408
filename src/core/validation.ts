/** Input checks that throw a precise RangeError naming the offending value. */

/**
 * Whether `code` may be sent in a close frame (RFC 6455 section 7.4):
 * 1000-1003, 1007-1014 or 3000-4999.
 *
 * @param {number} code The close code
 * @returns {boolean} `true` if the code is valid
 */
export function isValidCloseCode(code: number): boolean {
  return (
    Number.isInteger(code) &&
    ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999))
  );
}

/**
 * Throw unless `code` and `reason` can go in a close frame.
 *
 * @param {unknown} code The close code
 * @param {unknown} reason The close reason, at most 123 bytes of UTF-8
 * @throws {RangeError} If either is invalid
 */
export function assertCloseArgs(code: unknown, reason: unknown): asserts code is number {
  if (typeof code !== 'number' || !isValidCloseCode(code)) {
    throw new RangeError(`Invalid close code: ${String(code)} (allowed: 1000-1003, 1007-1014, 3000-4999)`);
  }
  if (typeof reason !== 'string') {
    throw new RangeError(`Invalid close reason: expected a string, got ${typeof reason}`);
  }
  const bytes = Buffer.byteLength(reason);
  if (bytes > MAX_CLOSE_REASON_BYTES) {
    throw new RangeError(`Invalid close reason: ${bytes} bytes long, at most ${MAX_CLOSE_REASON_BYTES} allowed`);
  }
}

/** The most bytes of UTF-8 a close frame's reason may hold (RFC 6455 section 5.5: 125 bytes of payload, 2 for the code). */
export const MAX_CLOSE_REASON_BYTES = 123;

/**
 * A close reason that fits a close frame, whatever it was built from: text
 * longer than {@link MAX_CLOSE_REASON_BYTES} bytes of UTF-8 is cut at the
 * last whole character that fits, and marked with an ellipsis. The one
 * place a reason built from untrusted input (a client's frame, an error
 * message) is made safe to pass to `close()`.
 *
 * @param {string} text The reason as built
 * @returns {string} At most 123 bytes of UTF-8, never half a character
 */
export function closeReason(text: string): string {
  // Fast path: 123 UTF-16 units are at most 369 bytes, but 41 or fewer are at most 123.
  if (text.length <= 41 || Buffer.byteLength(text) <= MAX_CLOSE_REASON_BYTES) return text;
  const ellipsis = '...';
  const budget = MAX_CLOSE_REASON_BYTES - ellipsis.length;
  let bytes = 0;
  let end = 0;
  for (const char of text) {
    const size = Buffer.byteLength(char);
    if (bytes + size > budget) break;
    bytes += size;
    end += char.length;
  }
  return text.slice(0, end) + ellipsis;
}

/**
 * Throw unless `value` is a number at least `min` (Infinity allowed).
 *
 * @param {string} name The option's name, for the message
 * @param {unknown} value The option's value
 * @param {number} min The smallest allowed value
 * @throws {RangeError} If the value is not such a number
 */
export function assertNumberOption(name: string, value: unknown, min: number): void {
  if (typeof value !== 'number' || Number.isNaN(value) || value < min) {
    throw new RangeError(`Invalid option ${name}: ${String(value)} (expected a number >= ${min})`);
  }
}

/** The longest delay Node's timers keep, 2^31 - 1 ms (about 24.8 days): a longer one, `Infinity` too, fires after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Throw unless `value` is a duration a timer can wait: milliseconds from 1
 * to {@link MAX_TIMER_MS}, or 0 when `zeroMeans` says what 0 does (`'off'`
 * for a timeout that can be turned off). Every duration option is checked
 * with this, so none passes validation only to fire at once.
 *
 * @param {string} name The option's name, for the message (`'heartbeatIntervalMs'`, `'sessions.ttlMs'`)
 * @param {unknown} value The option's value
 * @param {string} [zeroMeans] What 0 means for this option; without it, 0 is refused
 * @throws {RangeError} Naming the option, the value and the range
 */
export function assertDuration(name: string, value: unknown, zeroMeans?: string): asserts value is number {
  if (typeof value === 'number' && ((value >= 1 && value <= MAX_TIMER_MS) || (value === 0 && zeroMeans !== undefined))) return;
  const range = zeroMeans === undefined ? `1 to ${MAX_TIMER_MS}` : `1 to ${MAX_TIMER_MS}, or 0 (${zeroMeans})`;
  throw new RangeError(`Invalid option ${name}: ${String(value)} (expected milliseconds from ${range})`);
}

/** Topic names are at most this long (the protocol's limit on names). */
const MAX_TOPIC_LENGTH = 200;

/**
 * Whether `text` is well-formed Unicode: no unpaired surrogate (`String.prototype.isWellFormed`).
 * Redis, and anything else that stores names as UTF-8, turns an unpaired
 * surrogate into U+FFFD, so two names that differ only there would be one.
 */
function isWellFormed(text: string): boolean {
  return (text as string & { isWellFormed(): boolean }).isWellFormed();
}

/**
 * Why `topic` cannot name a topic, or undefined when it can: a string of
 * 1 to 200 characters of well-formed Unicode (docs/protocol.md 2.4).
 *
 * @param {unknown} topic The topic name
 * @returns {RangeError | TypeError | undefined} The error naming the value (escaped): a `TypeError` for an unpaired surrogate
 */
export function topicError(topic: unknown): RangeError | TypeError | undefined {
  if (typeof topic !== 'string') return new RangeError(`Invalid topic: ${String(topic)} (expected a string of 1 to ${MAX_TOPIC_LENGTH} characters)`);
  const fits = topic.length > 0 && topic.length <= MAX_TOPIC_LENGTH;
  const wellFormed = isWellFormed(topic);
  if (fits && wellFormed) return undefined;
  // JSON.stringify escapes an unpaired surrogate (\ud800): the message names the value as it is, whole when it fits.
  const shown = fits ? JSON.stringify(topic) : `${JSON.stringify(topic.slice(0, 40))}${topic.length > 40 ? '...' : ''} (${topic.length} characters)`;
  if (!wellFormed) return new TypeError(`Invalid topic: ${shown} (expected well-formed Unicode: it holds an unpaired surrogate)`);
  return new RangeError(`Invalid topic: ${shown} (expected a string of 1 to ${MAX_TOPIC_LENGTH} characters)`);
}

/**
 * Throw unless `userId` and `topic` can name a user and a topic.
 *
 * @throws {RangeError} Naming the offending value
 * @throws {TypeError} If the topic holds an unpaired surrogate
 */
export function assertMembership(userId: unknown, topic: unknown): void {
  if (typeof userId !== 'string' || userId.length === 0) throw new RangeError(`Invalid userId: ${String(userId)} (expected a non-empty string)`);
  const error = topicError(topic);
  if (error) throw error;
}
