/**
 * The conformance checker of the session protocol (#20, #24): reads every
 * frame each connection of a run received, with what its client sent and
 * what the application knows, and names every breach of docs/protocol.md
 * with the connection and the frame. It checks the specification, not a
 * server: a client written from the spec alone is owed exactly this. Pure:
 * no I/O, no clock; the same records give the same report.
 */
import { SchemaChecker } from '../../protocol/schema-check.js';
import { FINAL_CLOSE_CODES } from '../../protocol/session-protocol.js';
import { PROTOCOL_SCHEMA } from '../../protocol/schema.js';
import { checkDeliveries, type ConnectionSummary } from './deliveries.js';
import { parseSent, show, type SentFrames } from './sent.js';
import type { ConnectionRecord, Membership, Position, RunRecord, Violation } from './records.js';
import { topicAccess, type TopicAccess } from './visibility.js';

export { describeViolations } from './records.js';
export type { CloseRecord, ConnectionRecord, Delivery, Membership, Position, Rule, RunRecord, Violation } from './records.js';

const schema = new SchemaChecker(PROTOCOL_SCHEMA);
const SERVER_TYPES: ReadonlySet<string> = new Set(['welcome', 'recovery', 'message', 'replayed', 'unsubscribed', 'ack', 'pong', 'error']);
/** Section 7: what a client may see a connection closed with. 1006 is never sent, but is what a dropped connection reads as. */
const CLOSE_CODES: ReadonlySet<number> = new Set([1000, 1001, 1002, 1003, 1006, 1007, 1008, 1009, 1011, 1012, 1013]);
/** Section 4.5: which close codes follow an `error` of each code. */
const ERROR_CLOSES: Readonly<Record<string, readonly number[]>> = {
  malformed: [4400],
  unexpected: [4400],
  forbidden: [4403, 1008],
  too_large: [1009, 4400]
};
/** At most this many breaches are reported per connection: one broken rule should not bury the others. */
const MAX_PER_CONNECTION = 40;

/** Where one topic stands on one connection, as a client following section 5 would see it. */
interface Stream {
  /** The client's cursor (section 5): from the hello, then every message and `recovered: false`. */
  cursor: Position | undefined;
  /** A recovery started the topic on this connection (and no `unsubscribed` stopped it since). */
  started: boolean;
  /** The frame of the recovery that started it. */
  startedAt: number;
  /** An `unsubscribed` stopped the topic, and no recovery started it again. */
  left: boolean;
  /** The offset the next message must have, and its epoch. */
  next: Position | undefined;
  /** Between `recovered: true` and `replayed`: the epoch and the cursor it replays from. */
  replaying: Position | undefined;
  /** After `recovered: true`: nothing at or below this position may come on this connection. */
  floor: Position | undefined;
  /** Offsets received, per epoch, with the frame that brought each. */
  seen: Map<string, Map<number, number>>;
}

/**
 * @param {RunRecord} run The connections of a run and what the application knows
 * @returns {Violation[]} Every breach found, connection by connection, in frame order
 */
export function checkRun(run: RunRecord): Violation[] {
  const violations: Violation[] = [];
  const summaries = new Map<string, ConnectionSummary>();
  for (const record of run.connections) {
    const check = new ConnectionCheck(record, run.memberships ?? [], run.epochOrder ?? {});
    summaries.set(record.id, check.run());
    violations.push(...check.violations);
  }
  if (run.deliveries !== undefined) violations.push(...checkDeliveries(run.connections, summaries, run.deliveries));
  return violations;
}

class ConnectionCheck {
  readonly violations: Violation[] = [];
  readonly #record: ConnectionRecord;
  readonly #access: TopicAccess;
  readonly #sent: SentFrames;
  readonly #streams = new Map<string, Stream>();
  #welcome: { session: string | undefined; resumed: boolean | undefined; topics: string[] } | undefined;
  #errorAt: number | undefined;
  #acked: number[] = [];
  #pongs = 0;
  #dropped = 0;

  constructor(record: ConnectionRecord, memberships: readonly Membership[], epochOrder: Readonly<Record<string, readonly string[]>>) {
    this.#record = record;
    this.#access = topicAccess(record.user, memberships, epochOrder);
    this.#sent = parseSent(record.sent);
  }

  run(): ConnectionSummary {
    this.#record.received.forEach((data, index) => this.#frame(data, index));
    this.#ended();
    if (this.#dropped > 0) this.#breach(-1, 'frame', `and ${this.#dropped} more breaches on this connection`, true);
    return { session: this.#welcome?.session ?? this.#sent.hello?.session, acked: this.#acked, sent: this.#sent };
  }

  #breach(frame: number, rule: Violation['rule'], message: string, force = false): void {
    if (!force && this.violations.length >= MAX_PER_CONNECTION) {
      this.#dropped++;
      return;
    }
    this.violations.push({ connection: this.#record.id, frame, rule, message });
  }

  #stream(topic: string): Stream {
    let stream = this.#streams.get(topic);
    if (stream === undefined) {
      const cursor = this.#sent.hello?.topics[topic];
      stream = { cursor, started: false, startedAt: -1, left: false, next: undefined, replaying: undefined, floor: undefined, seen: new Map() };
      this.#streams.set(topic, stream);
    }
    return stream;
  }

  #frame(data: string | Uint8Array, index: number): void {
    if (typeof data !== 'string') return this.#breach(index, 'frame', `a binary message (${data.length} bytes): the server never sends one (2.1)`);
    let frame: unknown;
    try {
      frame = JSON.parse(data);
    } catch {
      return this.#breach(index, 'frame', `not JSON: ${show(data)} (2.1)`);
    }
    if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) return this.#breach(index, 'frame', `not a JSON object: ${show(frame)} (2.1)`);
    const value = frame as Record<string, unknown>;
    const type = value.type;
    if (typeof type !== 'string') return this.#breach(index, 'frame', `no string member type: ${show(value)} (2.2)`);
    // A newer server may send frame types a v1 client does not know (9): not a breach, and nothing to check.
    if (!SERVER_TYPES.has(type)) return;
    const invalid = schema.check(value, `#/$defs/${type}`);
    if (invalid !== undefined) this.#breach(index, 'frame', `${type} ${invalid.path === '' ? '' : `at ${invalid.path} `}${invalid.message} (4)`);
    if (this.#errorAt !== undefined) this.#breach(index, 'close', `${type} after the error of frame ${this.#errorAt}: an error is the last frame (4.5)`);
    if (type === 'welcome') return this.#onWelcome(value, index);
    if (type === 'error') {
      this.#errorAt ??= index;
      return;
    }
    if (this.#welcome === undefined) {
      this.#breach(index, 'welcome', `${type} before the welcome: the server sends nothing but welcome or error before it answered the hello (1.4, 6.1)`);
    }
    switch (type) {
      case 'recovery':
        return this.#onRecovery(value, index);
      case 'message':
        return this.#onMessage(value, index);
      case 'replayed':
        return this.#onReplayed(value, index);
      case 'unsubscribed':
        return this.#onUnsubscribed(value);
      case 'ack':
        return this.#onAck(value, index);
      default:
        if (++this.#pongs > this.#sent.pings) this.#breach(index, 'ack', `pong ${this.#pongs}, but the client sent ${this.#sent.pings} pings (3.4)`);
    }
  }

  #onWelcome(frame: Record<string, unknown>, index: number): void {
    const hello = this.#sent.hello;
    if (this.#welcome !== undefined) return this.#breach(index, 'welcome', 'a second welcome (6.1)');
    if (hello === undefined) this.#breach(index, 'welcome', 'welcome without a hello: the client sent none (1.4)');
    if (index > 0) this.#breach(index, 'welcome', `the welcome is frame ${index}: it must be the first frame after the hello (6.1)`);
    const session = typeof frame.session === 'string' ? frame.session : undefined;
    const resumed = typeof frame.resumed === 'boolean' ? frame.resumed : undefined;
    const topics = Array.isArray(frame.topics) ? frame.topics.filter((topic): topic is string => typeof topic === 'string') : [];
    this.#welcome = { session, resumed, topics };
    if (resumed === true && hello?.session === undefined) this.#breach(index, 'welcome', 'resumed: true, but the hello named no session (4.1)');
    if (resumed === true && hello?.session !== undefined && session !== hello.session) {
      this.#breach(index, 'welcome', `resumed: true with session ${show(session)}, but the hello named ${show(hello.session)} (4.1)`);
    }
    if (resumed === false && session !== undefined && session === hello?.session) this.#breach(index, 'welcome', 'resumed: false with the token the hello named: a new session has a new token (4.1)');
    for (const topic of topics) this.#topicAllowed(topic, index, 'welcome.topics');
    if (Array.isArray(frame.topics)) {
      const own = ['broadcast', ...(this.#record.user === undefined ? [] : [`user:${this.#record.user}`])];
      for (const topic of own) if (!topics.includes(topic)) this.#breach(index, 'welcome', `welcome.topics lacks ${topic}: every session follows it (10)`);
    }
  }

  /** Whether the connection's user may see the topic at all; a breach when not. */
  #topicAllowed(topic: unknown, index: number, what: string): topic is string {
    if (typeof topic !== 'string') return false;
    const refusal = this.#access.refusal(topic);
    if (refusal === undefined) return true;
    this.#breach(index, 'topic', `${what} ${show(topic)}: ${refusal} (10)`);
    return false;
  }

  #onRecovery(frame: Record<string, unknown>, index: number): void {
    if (!this.#topicAllowed(frame.topic, index, 'recovery of')) return;
    const topic = frame.topic;
    const { epoch, offset } = frame;
    if (typeof epoch !== 'string' || typeof offset !== 'number') return;
    const stream = this.#stream(topic);
    if (stream.replaying !== undefined) {
      this.#breach(index, 'replay', `recovery of ${show(topic)} before the replay from ${at(stream.replaying)} ended with replayed (6.2)`);
      stream.replaying = undefined;
    }
    if (frame.recovered === true && stream.started) {
      this.#breach(index, 'replay', `recovered: true for ${show(topic)}, which a recovery already started at frame ${stream.startedAt}: a replay comes only where the topic starts (4.2)`);
    }
    stream.started = true;
    stream.startedAt = index;
    stream.left = false;
    if (frame.recovered === true) {
      const cursor = stream.cursor;
      if (this.#welcome?.resumed === false) this.#breach(index, 'replay', `recovered: true for ${show(topic)} in a new session: there is nothing to resume (4.1, 4.2)`);
      if (cursor === undefined) this.#breach(index, 'replay', `recovered: true for ${show(topic)} at ${at({ epoch, offset })}, but the client has no cursor of it (4.2)`);
      else if (cursor.epoch !== epoch || cursor.offset !== offset) {
        this.#breach(index, 'replay', `recovered: true for ${show(topic)} at ${at({ epoch, offset })}, but the client's cursor is ${at(cursor)} (4.2)`);
      }
      stream.replaying = { epoch, offset };
      stream.floor = { epoch, offset };
    } else stream.cursor = { epoch, offset };
    stream.next = { epoch, offset: offset + 1 };
  }

  #onMessage(frame: Record<string, unknown>, index: number): void {
    if (!this.#topicAllowed(frame.topic, index, 'message of')) return;
    const topic = frame.topic;
    const { epoch, offset } = frame;
    if (typeof epoch !== 'string' || typeof offset !== 'number') return;
    const name = `${show(topic)} ${at({ epoch, offset })}`;
    const outside = this.#access.outsideMembership(topic, { epoch, offset });
    if (outside !== undefined) this.#breach(index, 'membership', `message ${name}: ${outside} (10)`);
    const stream = this.#stream(topic);
    let seen = stream.seen.get(epoch);
    if (seen === undefined) stream.seen.set(epoch, (seen = new Map<number, number>()));
    const first = seen.get(offset);
    if (first !== undefined) this.#breach(index, 'duplicate', `message ${name} again: frame ${first} had it; one offset is never sent twice on a connection (6.2)`);
    else seen.set(offset, index);
    if (stream.floor !== undefined && stream.floor.epoch === epoch && offset <= stream.floor.offset) {
      this.#breach(index, 'replay', `message ${name} at or below the cursor ${at(stream.floor)} of recovered: true (6.2)`);
    }
    if (stream.left) {
      this.#breach(index, 'unsubscribed', `message ${name} after unsubscribed, with no recovery starting the topic again (4.4)`);
    } else if (!stream.started) {
      this.#breach(index, 'order', `message ${name} before any recovery of the topic (5.6, 6.2)`);
    } else if (stream.next !== undefined && stream.next.epoch !== epoch) {
      this.#breach(index, 'order', `message ${name} in another epoch than ${show(stream.next.epoch)} without a recovery in between (5.6)`);
    } else if (stream.next !== undefined && stream.next.offset !== offset) {
      const due = stream.next.offset;
      const what = offset > due ? `skips ${due === offset - 1 ? `offset ${due}` : `offsets ${due} to ${offset - 1}`}` : `goes back from ${due - 1}`;
      this.#breach(index, 'order', `message ${name} where ${due} was due: it ${what} with no recovery (5.6, 6.2)`);
    }
    stream.next = { epoch, offset: offset + 1 };
    // Section 5.2: a client keeps the higher cursor of an epoch.
    if (stream.cursor === undefined || stream.cursor.epoch !== epoch || stream.cursor.offset < offset) stream.cursor = { epoch, offset };
  }

  #onReplayed(frame: Record<string, unknown>, index: number): void {
    if (!this.#topicAllowed(frame.topic, index, 'replayed of')) return;
    const stream = this.#stream(frame.topic);
    if (stream.replaying === undefined) return this.#breach(index, 'replay', `replayed of ${show(frame.topic)} without a recovered: true before it (4.2, 6.2)`);
    const last = stream.next !== undefined ? stream.next.offset - 1 : stream.replaying.offset;
    if (frame.offset !== last) this.#breach(index, 'replay', `replayed of ${show(frame.topic)} at ${show(frame.offset)}, but the replay ended at ${last} (4.2)`);
    stream.replaying = undefined;
  }

  #onUnsubscribed(frame: Record<string, unknown>): void {
    if (typeof frame.topic !== 'string') return;
    const stream = this.#stream(frame.topic);
    stream.started = false;
    stream.left = true;
    stream.replaying = undefined;
  }

  #onAck(frame: Record<string, unknown>, index: number): void {
    const ids = this.#sent.sendIds;
    const k = this.#acked.length;
    if (typeof frame.id !== 'number') return;
    this.#acked.push(frame.id);
    if (k >= ids.length) return this.#breach(index, 'ack', `ack of ${frame.id}, but the client made only ${ids.length} sends on this connection (3.3)`);
    if (ids[k] !== frame.id) this.#breach(index, 'ack', `ack of ${frame.id} where the ack of send ${k + 1} (id ${ids[k]}) was due: one ack per send, in order (3.3, 6.4)`);
  }

  /** What must hold of the whole connection once it closed, or once the run settled. */
  #ended(): void {
    const record = this.#record;
    const close = record.close;
    const last = record.received.length;
    if (close !== undefined && close.by === 'server') this.#closeCode(close.code, close.reason);
    this.#clientFrames();
    if (close?.by === 'server' && FINAL_CLOSE_CODES.has(close.code) && record.expectedClose === undefined) {
      this.#breach(-1, 'close', `closed with ${close.code} (${show(close.reason)}), a final code, though the client was not meant to break the protocol (7)`);
    }
    if (record.expectedClose !== undefined) {
      const expected = record.expectedClose.join(' or ');
      if (close === undefined) this.#breach(-1, 'close', `still open, but the client broke the protocol: ${expected} was due (7)`);
      else if (close.by === 'server' && close.code !== 1006 && !record.expectedClose.includes(close.code)) {
        this.#breach(-1, 'close', `closed with ${close.code}, but the client broke the protocol: ${expected} was due (7)`);
      }
    }
    if (this.#errorAt !== undefined && close !== undefined && close.by === 'server' && close.code !== 1006) {
      const code = JSON.parse(record.received[this.#errorAt] as string) as { code?: unknown };
      const allowed = ERROR_CLOSES[String(code.code)];
      if (allowed !== undefined && !allowed.includes(close.code)) this.#breach(-1, 'close', `closed with ${close.code} after an error ${show(code.code)}: ${allowed.join(' or ')} was due (4.5, 7)`);
    }
    if (record.complete !== true || close !== undefined) return;
    if (this.#sent.hello !== undefined && this.#welcome === undefined) this.#breach(last, 'welcome', 'the hello was never answered (1.4)');
    for (let k = this.#acked.length; k < this.#sent.sendIds.length; k++) {
      this.#breach(last, 'ack', `send id ${this.#sent.sendIds[k]} (send ${k + 1} on this connection) was never acknowledged (3.3)`);
    }
    for (const topic of this.#welcome?.topics ?? []) {
      if (this.#streams.get(topic)?.next === undefined && this.#streams.get(topic)?.left !== true) this.#breach(last, 'order', `no recovery of ${show(topic)}, which the welcome lists (4.2)`);
    }
    for (const [topic, stream] of this.#streams) {
      if (stream.replaying !== undefined) this.#breach(last, 'replay', `the replay of ${show(topic)} from ${at(stream.replaying)} never ended with replayed (4.2)`);
    }
  }

  /** The client's side of sections 1.4 and 3.3: a breach here is the client's, and explains a refusal. */
  #clientFrames(): void {
    const { sent } = this.#record;
    if (sent.length > 0 && this.#sent.hello === undefined) this.#breach(-1, 'client', `the client's first frame is not a hello: ${show(sent[0])} (1.4)`);
    const ids = this.#sent.sendIds;
    for (let k = 1; k < ids.length; k++) {
      if (ids[k]! <= ids[k - 1]!) {
        this.#breach(-1, 'client', `the client sent id ${ids[k]} after id ${ids[k - 1]}: on a connection ids rise, resends first (3.3)`);
        return;
      }
    }
  }

  #closeCode(code: number, reason: string): void {
    if (!CLOSE_CODES.has(code) && !(code >= 4000 && code <= 4999)) {
      this.#breach(-1, 'close', `closed with ${code === 1005 ? '1005 (no code)' : code} (${show(reason)}), a code section 7 does not list`);
    }
    if (code === 4403) {
      const leaked = this.#record.received.findIndex((data) => typeof data === 'string' && /"type"\s*:\s*"(message|recovery|replayed)"/.test(data));
      if (leaked >= 0) this.#breach(leaked, 'close', 'a topic frame on a connection later refused with 4403: nothing of that session is sent (7)');
    }
  }
}

/** A position as reports show it. */
export function at(position: Position): string {
  return `${show(position.epoch)}:${position.offset}`;
}
