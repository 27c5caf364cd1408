/**
 * Turning an application message into what goes on the wire: strings as
 * text, bytes as binary, anything else as JSON text.
 */

/** What {@link serialize} hands to the socket. */
export type WireData = string | Buffer | Uint8Array | ArrayBuffer | ArrayBufferView | Blob;

/** A message that cannot be serialized; carries the reason. */
export class SerializationError extends Error {
  override readonly name = 'SerializationError';
}

/**
 * JSON replacer for the types `JSON.stringify` gets wrong: BigInt as a
 * decimal string, Map as an object, Set as an array, Error as
 * `{ name, message, ...own fields }`. Dates and `toJSON` keep their
 * usual meaning.
 */
function replacer(_key: string, value: unknown): unknown {
  if (typeof value !== 'object' || value === null) {
    return typeof value === 'bigint' ? value.toString() : value;
  }
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return Array.from(value);
  if (value instanceof Error) return { ...value, name: value.name, message: value.message };
  return value;
}

/** Array items and object keys {@link scan} reads before it gives up. */
const SCAN_LIMIT = 256;
/** What {@link scan} returns when it found a value plain `JSON.stringify` writes wrongly. */
const FOUND = -1;
/** What {@link scan} returns when the value was too large to read within its budget. */
const EXHAUSTED = -2;

/**
 * Look for what plain `JSON.stringify` writes wrongly: a BigInt (it
 * throws), a Map, Set or Error (an Error with fields of its own loses its
 * name and message, and nothing in the output shows it), or an object with
 * a `toJSON` other than a Date's (its result may hold any of those).
 *
 * @returns The budget left when nothing was found; {@link FOUND}; or {@link EXHAUSTED}
 */
function scan(value: unknown, budget: number): number {
  if (typeof value !== 'object') return typeof value === 'bigint' ? FOUND : budget;
  if (value === null) return budget;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto === Array.prototype) {
    const array = value as unknown[];
    let left = budget - array.length;
    if (left < 0) return EXHAUSTED;
    for (let i = 0; i < array.length; i++) {
      left = scan(array[i], left);
      if (left < 0) return left;
    }
    return left;
  }
  if (proto !== Object.prototype && proto !== null) {
    if (value instanceof Date) return budget;
    if (value instanceof Map || value instanceof Set || value instanceof Error) return FOUND;
  }
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return FOUND;
  let left = budget;
  for (const key in value) {
    if (--left < 0) return EXHAUSTED;
    left = scan((value as Record<string, unknown>)[key], left);
    if (left < 0) return left;
  }
  return left;
}

/**
 * A value too large to scan: plain first, and the replacer only when the
 * output shows a Map, Set or plain Error (`{}`) or plain throws (a BigInt).
 * An Error with fields of its own deep in such a value keeps only those.
 */
function stringifyUnscanned(message: unknown): string | undefined {
  let text: string | undefined;
  try {
    text = JSON.stringify(message);
  } catch {
    text = undefined;
  }
  return text === undefined || text.includes('{}') ? JSON.stringify(message, replacer) : text;
}

/**
 * The default serializer: serialize one message.
 *
 * @param {unknown} message A string (sent as text), bytes (sent as binary)
 *   or any JSON-serializable value (sent as JSON text)
 * @returns {WireData | SerializationError} The wire data, or the error that
 *   explains why there is none (a circular reference, a throwing `toJSON`,
 *   `undefined`, a function or a symbol)
 */
export function serialize(message: unknown): WireData | SerializationError {
  if (typeof message === 'string') return message;
  if (typeof message === 'object' && message !== null) {
    if (ArrayBuffer.isView(message) || message instanceof ArrayBuffer) {
      // ws throws on a detached buffer inside the write; refuse it here instead.
      return isDetached(message)
        ? new SerializationError(`Cannot send ${message.constructor.name} over a detached ArrayBuffer`)
        : message;
    }
    // ws reads a Blob itself and keeps it in order with the frames around it.
    if (message instanceof Blob) return message;
  }
  let text: string | undefined;
  try {
    // V8's plain JSON.stringify is about twice as fast as one with a
    // replacer; a short scan decides which one a message needs.
    const scanned = scan(message, SCAN_LIMIT);
    if (scanned === FOUND) text = JSON.stringify(message, replacer);
    else text = scanned === EXHAUSTED ? stringifyUnscanned(message) : JSON.stringify(message);
  } catch (error) {
    return new SerializationError(`Cannot serialize message: ${(error as Error).message}`, { cause: error });
  }
  if (text === undefined) {
    return new SerializationError(`Cannot serialize message of type ${typeof message}`);
  }
  return text;
}

function isDetached(data: ArrayBuffer | ArrayBufferView): boolean {
  const buffer = data instanceof ArrayBuffer ? data : data.buffer;
  // Only an empty buffer can be detached; Node 20 has no ArrayBuffer#detached, but slice() throws on one.
  if (buffer.byteLength !== 0 || !(buffer instanceof ArrayBuffer)) return false;
  try {
    buffer.slice(0);
    return false;
  } catch {
    return true;
  }
}

/**
 * Whether serialized data goes out as a binary frame.
 *
 * @param {WireData} data Output of {@link serialize}
 * @returns {boolean} `false` for text
 */
export function isBinary(data: WireData): boolean {
  return typeof data !== 'string';
}

/**
 * What a user's `serialize` option may do: return a string (a text frame)
 * or bytes (a binary frame), or throw to refuse the message.
 */
export type Serializer = (message: unknown) => WireData;

/**
 * Wrap a user's serializer so that it behaves like {@link serialize}: a
 * throw, or a result that is not a string or bytes, becomes a
 * {@link SerializationError} that names it.
 *
 * @param {Serializer} user The `serialize` option
 * @returns {(message: unknown) => WireData | SerializationError} Never throws
 */
export function guardSerializer(user: Serializer): (message: unknown) => WireData | SerializationError {
  return (message) => {
    let data: unknown;
    try {
      data = user(message);
    } catch (error) {
      return new SerializationError(`serialize threw: ${(error as Error)?.message ?? String(error)}`, { cause: error });
    }
    if (typeof data === 'string' || data instanceof ArrayBuffer || ArrayBuffer.isView(data) || data instanceof Blob) return data;
    return new SerializationError(`serialize returned ${data === null ? 'null' : typeof data}; expected a string or bytes`);
  };
}
