/**
 * What a topic keeps of a published message (#11, #20): the payload the
 * store holds and every `message` frame carries, serialized once.
 */
import { SerializationError, type WireData } from '../core/serialization.js';

/**
 * The stored form of a topic message: a string as a JSON string, bytes as
 * they are, anything else through the manager's serializer, whose text must
 * be JSON (the frame carries it as `data`; `json`: the default serializer,
 * whose text always is).
 */
export function topicPayload(
  message: unknown,
  serialize: (message: unknown) => WireData | SerializationError,
  json: boolean
): string | Buffer | SerializationError {
  if (typeof message === 'string') return JSON.stringify(message);
  if (Buffer.isBuffer(message)) return message;
  if (message instanceof ArrayBuffer) return Buffer.from(message);
  if (ArrayBuffer.isView(message)) return Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  const data = serialize(message);
  if (data instanceof SerializationError) return data;
  if (typeof data === 'string') return json ? data : jsonText(data);
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return new SerializationError('a Blob cannot be published to a topic; send its bytes');
}

/** The serializer's text, checked once per message: a topic frame carries it as a JSON value. */
function jsonText(text: string): string | SerializationError {
  try {
    JSON.parse(text);
    return text;
  } catch {
    return new SerializationError(`serialize returned text that is not JSON (${JSON.stringify(text.slice(0, 40))}): a topic message carries a JSON value or bytes`);
  }
}
