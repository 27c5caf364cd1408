/**
 * What a client sent on one connection, as the conformance checker needs
 * it: its hello (client id, session, cursors), its sends in order, its
 * pings. Frames that are not valid client frames are left out: the server
 * owes them nothing but a close.
 */
import { shown } from '../../protocol/schema-check.js';
import type { Position } from './records.js';

/** The hello as the server should have read it (`null` means absent, 2.2). */
export interface SentHello {
  client: string | undefined;
  session: string | undefined;
  topics: Readonly<Record<string, Position>>;
}

export interface SentFrames {
  /** The first frame, when it was a hello. */
  hello: SentHello | undefined;
  /** The id of every `send`, in the order sent. */
  sendIds: number[];
  /** The data of every `send`, as JSON text (absent data is `null`, section 3), in the same order. */
  sendData: string[];
  pings: number;
}

function parse(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    // Not JSON, or nested deeper than this engine parses: not a frame the checker can read.
    return undefined;
  }
}

/**
 * A value as reports show it, short: `shown` of the protocol's schema
 * checker, which falls back to `String`, and that throws on an array
 * nested deeper than the stack (a hostile frame can be).
 */
export function show(value: unknown): string {
  try {
    return shown(value);
  } catch {
    return Array.isArray(value) ? '[an array nested too deep to show]' : `<${typeof value}>`;
  }
}

/**
 * A value as JSON text, to compare what was sent with what was handed over;
 * a value too deep to write gives a text no other value has.
 */
export function jsonText(value: unknown): string {
  try {
    return JSON.stringify(value) ?? 'undefined';
  } catch (error) {
    return `<unwritable: ${String(error)}>`;
  }
}

function helloOf(frame: Record<string, unknown>): SentHello {
  const topics: Record<string, Position> = {};
  if (typeof frame.topics === 'object' && frame.topics !== null) {
    for (const [topic, cursor] of Object.entries(frame.topics as Record<string, unknown>)) {
      const { epoch, offset } = (cursor ?? {}) as { epoch?: unknown; offset?: unknown };
      if (typeof epoch === 'string' && Number.isSafeInteger(offset)) topics[topic] = { epoch, offset: offset as number };
    }
  }
  return {
    client: typeof frame.client === 'string' ? frame.client : undefined,
    session: typeof frame.session === 'string' ? frame.session : undefined,
    topics
  };
}

/**
 * @param {readonly string[]} sent Every frame a client sent on one connection, in order
 * @returns {SentFrames} Its hello, sends and pings
 */
export function parseSent(sent: readonly string[]): SentFrames {
  const result: SentFrames = { hello: undefined, sendIds: [], sendData: [], pings: 0 };
  sent.forEach((text, index) => {
    const frame = parse(text);
    if (frame === undefined) return;
    if (index === 0 && frame.type === 'hello') result.hello = helloOf(frame);
    else if (frame.type === 'send' && Number.isSafeInteger(frame.id) && (frame.id as number) >= 1) {
      result.sendIds.push(frame.id as number);
      result.sendData.push(jsonText(frame.data ?? null));
    } else if (frame.type === 'ping') result.pings++;
  });
  return result;
}
