/**
 * The session wire protocol, version 1 (#11; docs/protocol.md): JSON text
 * frames, negotiated with the WebSocket subprotocol {@link SESSION_PROTOCOL}.
 * Parsing never throws: a bad frame is a typed {@link ProtocolError} that
 * names what is wrong, and nothing else is disturbed.
 */

/** The subprotocol a session client asks for. */
export const SESSION_PROTOCOL = 'ws-lifecycle.v1';

/** Where a client stands in one topic. */
export interface TopicCursor {
  epoch: string;
  offset: number;
}

/** Frames a client sends. */
export type ClientFrame =
  /** The first frame: start a session, or resume one with where the client stands per topic. */
  | { type: 'hello'; session?: string; topics?: Record<string, TopicCursor> }
  /** An application message, numbered by the client so a resend is delivered once. */
  | { type: 'send'; id: number; data: unknown }
  /** The client heard nothing for a while: the server answers `pong` (the browser API cannot send a ping frame). */
  | { type: 'ping' };

/** Frames the server sends. */
export type ServerFrame =
  | { type: 'welcome'; session: string; resumed: boolean; ttlMs: number }
  | {
    type: 'recovery';
    topic: string;
    recovered: boolean;
    epoch: string;
    /** recovered: the client's offset, replay follows; not recovered: where the stream continues (the newest offset). */
    offset: number;
    reason?: RecoveryFailure;
  }
  | { type: 'message'; topic: string; epoch: string; offset: number; data?: unknown; b64?: string }
  | { type: 'replayed'; topic: string; offset: number }
  | { type: 'ack'; id: number }
  | { type: 'pong' }
  | { type: 'error'; code: ProtocolErrorCode; message: string };

/** Why a topic could not be recovered. */
export type RecoveryFailure = 'trimmed' | 'epoch_changed' | 'future_offset' | 'unknown_session' | 'new_topic';

export type ProtocolErrorCode = 'malformed' | 'unexpected' | 'forbidden' | 'too_large';

/** A frame the protocol refuses, with the close code the server ends the connection with. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
    readonly closeCode: number = SESSION_CLOSE_CODES.PROTOCOL_ERROR
  ) {
    super(message);
  }
}

/** Close codes of the session protocol (4000-4999 is the application range). */
export const SESSION_CLOSE_CODES = Object.freeze({
  /** A malformed, oversized or out-of-order frame. */
  PROTOCOL_ERROR: 4400,
  /** The session token belongs to another user. */
  FORBIDDEN: 4403,
  /** No hello within the hello timeout. */
  HELLO_TIMEOUT: 4408
});

/** At most this many topics in one hello. */
export const MAX_HELLO_TOPICS = 256;
/** Topic names and session tokens at most this long. */
export const MAX_NAME_LENGTH = 200;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isName(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_NAME_LENGTH;
}

/**
 * Parse one text frame from a client.
 *
 * @param {string} text The frame
 * @returns {ClientFrame | ProtocolError} The frame, or why it is refused
 */
export function parseClientFrame(text: string): ClientFrame | ProtocolError {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return new ProtocolError('malformed', 'frame is not JSON');
  }
  if (!isRecord(value)) return new ProtocolError('malformed', 'frame is not a JSON object');
  if (value.type === 'send') {
    if (!Number.isSafeInteger(value.id) || (value.id as number) < 1) return new ProtocolError('malformed', `send id ${JSON.stringify(value.id)} is not a positive integer`);
    return { type: 'send', id: value.id as number, data: value.data };
  }
  if (value.type === 'ping') return { type: 'ping' };
  if (value.type !== 'hello') return new ProtocolError('malformed', `unknown frame type ${JSON.stringify(value.type)}`);
  const frame: ClientFrame = { type: 'hello' };
  if (value.session !== undefined && value.session !== null) {
    if (!isName(value.session)) return new ProtocolError('malformed', 'hello session is not a token');
    frame.session = value.session;
  }
  if (value.topics !== undefined) {
    if (!isRecord(value.topics)) return new ProtocolError('malformed', 'hello topics is not an object');
    const entries = Object.entries(value.topics);
    if (entries.length > MAX_HELLO_TOPICS) return new ProtocolError('too_large', `hello names ${entries.length} topics, more than ${MAX_HELLO_TOPICS}`);
    const topics: Record<string, TopicCursor> = {};
    for (const [topic, cursor] of entries) {
      if (!isName(topic)) return new ProtocolError('malformed', 'hello topic name is empty or too long');
      if (!isRecord(cursor) || !isName(cursor.epoch) || !Number.isSafeInteger(cursor.offset) || (cursor.offset as number) < 0) {
        return new ProtocolError('malformed', `hello cursor of topic ${JSON.stringify(topic)} is not { epoch, offset >= 0 }`);
      }
      topics[topic] = { epoch: cursor.epoch, offset: cursor.offset as number };
    }
    frame.topics = topics;
  }
  return frame;
}

/**
 * The `message` frame of one topic message. Binary payloads travel as base64 (`b64`).
 *
 * @returns {string} The frame's text
 */
export function messageFrame(topic: string, epoch: string, offset: number, payload: string | Buffer): string {
  // The payload is stored already serialized: splice it in rather than parse it again.
  if (typeof payload === 'string') return `{"type":"message","topic":${JSON.stringify(topic)},"epoch":${JSON.stringify(epoch)},"offset":${offset},"data":${payload}}`;
  return JSON.stringify({ type: 'message', topic, epoch, offset, b64: payload.toString('base64') } satisfies ServerFrame);
}

/**
 * @param {ServerFrame} frame Any other server frame
 * @returns {string} Its text
 */
export function encodeFrame(frame: ServerFrame): string {
  return JSON.stringify(frame);
}
