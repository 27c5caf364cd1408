/**
 * The session client's frames as text (#11, docs/protocol.md 2): a server
 * frame read and checked against the protocol's schema before the client
 * believes it, a `send` frame written, the bytes of a `b64` field, and a
 * client instance id. Pure functions; no Node module is imported here (the
 * client runs in browsers).
 */
import { protocolSchema, type ServerFrame } from '../protocol/session-protocol.js';

const SERVER_TYPES: ReadonlySet<string> = new Set(['welcome', 'recovery', 'message', 'replayed', 'unsubscribed', 'ack', 'pong', 'error']);
const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * One frame from the server, checked against the protocol: the frame; a
 * string saying what breaks the protocol (the client resumes); or
 * `undefined` for a frame type this client does not know, which is ignored:
 * a newer server may send them (section 2.3).
 */
export function readServerFrame(data: unknown): ServerFrame | string | undefined {
  if (typeof data !== 'string') return 'a binary frame';
  let frame: unknown;
  try {
    frame = JSON.parse(data);
  } catch {
    return 'a frame that is not JSON';
  }
  const type = (frame as { type?: unknown } | null)?.type;
  if (typeof type !== 'string' || !SERVER_TYPES.has(type)) return undefined;
  const error = protocolSchema.check(frame, `#/$defs/${type}`);
  if (error) return `${type}${error.path.replaceAll('/', '.')} ${error.message}`;
  return frame as ServerFrame;
}

/** A client instance id: 22 characters of `[A-Za-z0-9_-]`, 128 bits from the platform's random source. */
export function newClientId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(22));
  let id = '';
  for (const byte of bytes) id += ID_ALPHABET[byte & 63];
  return id;
}

/** A `send` frame's text: the data's JSON is made once, when the application sends. */
export function sendFrame(id: number, data: string | undefined): string {
  return data === undefined ? `{"type":"send","id":${id}}` : `{"type":"send","id":${id},"data":${data}}`;
}

/** Bytes of a `b64` field (standard base64, checked by the schema); `atob` works in browsers and Node alike. */
export function fromBase64(b64: string): Uint8Array {
  const binary = atob(b64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
