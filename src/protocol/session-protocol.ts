/**
 * The session wire protocol, version 1 (docs/protocol.md): JSON text
 * frames, negotiated with the WebSocket subprotocol {@link SESSION_PROTOCOL}.
 * Parsing never throws: a frame that does not match the schema
 * (src/protocol/schema.ts) is a typed {@link ProtocolError} that names what
 * is wrong and where, and nothing else is disturbed. No Node module is used
 * here: the browser client shares this file.
 */
import { SchemaChecker, described } from './schema-check.js';
import { PROTOCOL_SCHEMA } from './schema.js';

/** The subprotocol a session client asks for. */
export const SESSION_PROTOCOL = 'ws-lifecycle.v1';

/** The protocol version `welcome` announces. */
export const PROTOCOL_VERSION = 1;

/** Where a client stands in one topic. */
export interface TopicCursor {
  epoch: string;
  offset: number;
}

/** Frames a client sends. */
export type ClientFrame =
  /** The first frame: start a session, or resume one with where the client stands per topic. */
  | { type: 'hello'; client?: string; session?: string; topics?: Record<string, TopicCursor> }
  /** An application message, numbered by the client instance so a resend is delivered once. */
  | { type: 'send'; id: number; data: unknown }
  /** The client heard nothing for a while: the server answers `pong` (the browser API cannot send a ping frame). */
  | { type: 'ping' };

/** What `welcome.limits` tells a client (docs/protocol.md section 8.3). */
export interface ProtocolLimits {
  maxFrameBytes: number;
  maxNameLength: number;
  maxInFlight: number;
  maxFramesPerSecond: number;
}

/** Frames the server sends. */
export type ServerFrame =
  | {
    type: 'welcome';
    session: string;
    resumed: boolean;
    ttlMs: number;
    heartbeatMs: number;
    version: typeof PROTOCOL_VERSION;
    topics: string[];
    limits: ProtocolLimits;
  }
  | {
    type: 'recovery';
    topic: string;
    recovered: boolean;
    epoch: string;
    /** recovered: the client's offset, replay follows; not recovered: the stream continues after it. */
    offset: number;
    reason?: RecoveryFailure;
  }
  | { type: 'message'; topic: string; epoch: string; offset: number; data?: unknown; b64?: string }
  | { type: 'replayed'; topic: string; offset: number }
  | { type: 'unsubscribed'; topic: string }
  | { type: 'ack'; id: number }
  | { type: 'pong' }
  | { type: 'error'; code: ProtocolErrorCode; message: string };

/** Why a topic could not be recovered (docs/protocol.md section 4.2). */
export type RecoveryFailure = 'trimmed' | 'epoch_changed' | 'future_offset' | 'unknown_session' | 'new_topic' | 'membership';

export type ProtocolErrorCode = 'malformed' | 'unexpected' | 'forbidden' | 'too_large';

/** Close codes of the session protocol (4000-4999 is the application range). */
export const SESSION_CLOSE_CODES = Object.freeze({
  /** A malformed or out-of-order frame. */
  PROTOCOL_ERROR: 4400,
  /** The session token belongs to another user. */
  FORBIDDEN: 4403,
  /** No hello within the hello timeout. */
  HELLO_TIMEOUT: 4408
});

/**
 * Close codes after which a client must not reconnect: retrying would be
 * refused again (docs/protocol.md section 7). Every other code is retried.
 */
export const FINAL_CLOSE_CODES: ReadonlySet<number> = new Set([1002, 1003, 1007, 1008, 1009, 1010, 4400, 4403]);

/** Close codes after which a client waits at least {@link SLOW_RETRY_MS} before it reconnects. */
export const SLOW_RETRY_CODES: ReadonlySet<number> = new Set([1012, 1013]);
export const SLOW_RETRY_MS = 1_000;

/** Topic names, session tokens and epochs are at most this many characters (code points). */
export const MAX_NAME_LENGTH = 200;
/** An `error` frame's message is at most this many characters. */
export const MAX_ERROR_MESSAGE_LENGTH = 200;

/** A frame the protocol refuses, with the close code the server ends the connection with. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
    readonly closeCode: number = SESSION_CLOSE_CODES.PROTOCOL_ERROR
  ) {
    super(message.length > MAX_ERROR_MESSAGE_LENGTH ? `${message.slice(0, MAX_ERROR_MESSAGE_LENGTH - 3)}...` : message);
  }
}

/** The schema, read once; shared by the client and the conformance tools. */
export const protocolSchema = new SchemaChecker(PROTOCOL_SCHEMA);

/**
 * The same schema for the frames a server reads, whose refusals name a
 * value by its JSON type and size only: a hello may carry a session token
 * anywhere (wrapped in an array, padded, as `client`, as a topic, as
 * `type`), and the refusal's text goes to the log, the audit trail and the
 * close reason, where no token may be (docs/protocol.md section 10).
 */
const clientFrames = new SchemaChecker(PROTOCOL_SCHEMA, described);

const CLIENT_TYPES: ReadonlySet<string> = new Set(['hello', 'send', 'ping']);

/**
 * Parse one text frame from a client.
 *
 * @param {string} text The frame
 * @returns {ClientFrame | ProtocolError} The frame, or why it is refused (naming where, and the offending value by its type and size)
 */
export function parseClientFrame(text: string): ClientFrame | ProtocolError {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return new ProtocolError('malformed', 'frame is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return new ProtocolError('malformed', 'frame is not a JSON object');
  const frame = value as Record<string, unknown>;
  if (typeof frame.type !== 'string' || !CLIENT_TYPES.has(frame.type)) {
    return new ProtocolError('malformed', `unknown frame type: ${described(frame.type)} (a client sends hello, send or ping)`);
  }
  const error = clientFrames.check(frame, `#/$defs/${frame.type}`);
  if (error) return new ProtocolError('malformed', `${frame.type}${error.path.replaceAll('/', '.')} ${error.message}`);
  if (frame.type === 'send') return { type: 'send', id: frame.id as number, data: frame.data === undefined ? null : frame.data };
  if (frame.type === 'ping') return { type: 'ping' };
  // Optional fields may be null (docs/protocol.md section 2.2): absent.
  const hello: ClientFrame = { type: 'hello' };
  if (typeof frame.client === 'string') hello.client = frame.client;
  if (typeof frame.session === 'string') hello.session = frame.session;
  if (frame.topics !== undefined && frame.topics !== null) hello.topics = frame.topics as Record<string, TopicCursor>;
  return hello;
}

/**
 * The `message` frame of one topic message. Binary payloads travel as base64 (`b64`).
 *
 * @returns {string} The frame's text
 */
export function messageFrame(topic: string, epoch: string, offset: number, payload: string | Uint8Array): string {
  // The payload is stored already serialized: splice it in rather than parse it again.
  if (typeof payload === 'string') return `{"type":"message","topic":${JSON.stringify(topic)},"epoch":${JSON.stringify(epoch)},"offset":${offset},"data":${payload}}`;
  return JSON.stringify({ type: 'message', topic, epoch, offset, b64: base64(payload) } satisfies ServerFrame);
}

/** Node's Buffer when there is one: this file also runs in browsers. */
const NodeBuffer = (globalThis as { Buffer?: typeof Buffer }).Buffer;

/** Standard base64 with padding (RFC 4648 section 4), in Node and in browsers. */
function base64(bytes: Uint8Array): string {
  if (NodeBuffer?.isBuffer(bytes)) return bytes.toString('base64');
  if (NodeBuffer !== undefined) return NodeBuffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/**
 * @param {ServerFrame} frame Any other server frame
 * @returns {string} Its text
 */
export function encodeFrame(frame: ServerFrame): string {
  return JSON.stringify(frame);
}
