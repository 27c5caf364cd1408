/**
 * Turning an application message into what goes on the wire: strings as
 * text, bytes as binary, anything else as JSON text.
 */

/** What {@link serialize} hands to the socket. */
export type WireData = string | Buffer | Uint8Array | ArrayBuffer | ArrayBufferView;

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

/**
 * Serialize one message.
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
    if (ArrayBuffer.isView(message) || message instanceof ArrayBuffer) return message;
  }
  let text: string | undefined;
  try {
    // V8's plain JSON.stringify is about twice as fast as one with a replacer.
    // It writes a Map, Set or plain Error as `{}` and throws on BigInt, so
    // only output with an empty object (or a throw) pays for the replacer.
    try {
      text = JSON.stringify(message);
    } catch {
      text = undefined;
    }
    if (text === undefined || text.includes('{}')) text = JSON.stringify(message, replacer);
  } catch (error) {
    return new SerializationError(`Cannot serialize message: ${(error as Error).message}`, { cause: error });
  }
  if (text === undefined) {
    return new SerializationError(`Cannot serialize message of type ${typeof message}`);
  }
  return text;
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
