/**
 * What every case of the server suite uses (#24): raw clients and sockets
 * of the case's own users, recorded for the checker and closed when the
 * case ends; the control endpoint; waits bounded in time; and the checker
 * over every frame of the case.
 */
import type { ClientOptions, WebSocket } from 'ws';
import { SESSION_PROTOCOL } from '../../protocol/session-protocol.js';
import { checkRun, describeViolations } from './checker.js';
import { show } from './sent.js';
import type { ControlClient } from './control-client.js';
import { CONNECTION_QUERY, USER_QUERY } from './control.js';
import { RawSessionClient, type RawClientOptions } from './raw-client.js';
import type { ConnectionRecord, Membership, Position } from './records.js';
import { recordingWebSocket } from './recording-socket.js';
import { sleep, until, within, type Verdict } from './suite.js';

/** Non-ASCII text in payloads: frames must carry it byte for byte. */
export const TEXT = 'ünï€😀 \u2028 "quoted" \\';

/** Resolves once the socket is open; rejects with why it never was. */
export function opened(socket: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', (error) => reject(new Error(`the upgrade failed: ${error.message}`)));
    socket.once('close', (code) => reject(new Error(`closed with ${code} before it opened`)));
  });
}

/** Everything a case of the server suite uses; one per case, its names its own. */
export class ServerContext {
  readonly control: ControlClient;
  readonly helloTimeoutMs: number;
  readonly records: ConnectionRecord[] = [];
  readonly memberships: Membership[] = [];
  /** Prefix of every name the case makes: users, topics, connections. */
  readonly prefix: string;
  readonly #url: string;
  readonly #verdict: Verdict;
  #clients = 0;

  constructor(options: { url: string; control: ControlClient; helloTimeoutMs: number; prefix: string; verdict: Verdict }) {
    this.#url = options.url;
    this.control = options.control;
    this.helloTimeoutMs = options.helloTimeoutMs;
    this.prefix = options.prefix;
    this.#verdict = options.verdict;
  }

  /** A name (a user, a room) no other case or run uses. */
  name(label: string): string {
    return `${this.prefix}-${label}`;
  }

  /** The URL of a connection of `user` (anonymous when undefined). */
  url(user: string | undefined): string {
    const url = new URL(this.#url);
    if (user !== undefined) url.searchParams.set(USER_QUERY, user);
    return url.toString();
  }

  /** A raw client of `user`, recorded for the checker, closed when the case ends; not yet connected. */
  client(user: string | undefined, options: Partial<RawClientOptions> = {}): RawSessionClient {
    const client = new RawSessionClient({
      url: this.url(user),
      user,
      name: `${this.prefix} c${++this.#clients}`,
      connectionParam: CONNECTION_QUERY,
      records: this.records,
      ...options
    });
    this.#verdict.defer(() => client.stop());
    return client;
  }

  /** A `ws` socket of `user` that asks for the protocol and is recorded, with `ws` options (`autoPong: false`: a silent peer). */
  socket(user: string | undefined, options: ClientOptions = {}): WebSocket {
    const Socket = recordingWebSocket({ name: `${this.prefix} s${++this.#clients}`, user, records: this.records, connectionParam: CONNECTION_QUERY });
    const socket = new Socket(this.url(user), [SESSION_PROTOCOL], options);
    this.#verdict.defer(() => socket.terminate());
    return socket;
  }

  /** A client of `user`, connected and welcomed. */
  async connected(user: string | undefined, options: Partial<RawClientOptions> = {}): Promise<RawSessionClient> {
    const client = this.client(user, options).connect();
    await this.welcomed(client);
    return client;
  }

  /** Publish `count` to the topic and wait until the client has it all; where the last one went. */
  async publishTo(client: RawSessionClient, topic: string, count: number): Promise<Position> {
    const last = await this.control.publish(topic, count);
    await this.reaches(client, topic, last);
    return last;
  }

  /** Close the client's connection (1000) and wait for it. */
  async away(client: RawSessionClient): Promise<void> {
    client.disconnect(1000);
    await this.closed(client);
  }

  /** End the case: these clients' connections have nothing owed, and every frame of the case goes through the checker. */
  async finish(clients: readonly RawSessionClient[], options: { deliveries?: boolean } = {}): Promise<void> {
    await this.settle();
    for (const client of clients) client.markComplete();
    await this.check(options);
  }

  /** Add the user to the room through the control endpoint; the checker learns where the membership began. */
  async join(user: string, topic: string): Promise<Position> {
    const from = await this.control.join(user, topic);
    this.memberships.push({ user, topic, from });
    return from;
  }

  async leave(user: string, topic: string): Promise<Position> {
    const until = await this.control.leave(user, topic);
    const membership = this.memberships.find((m) => m.user === user && m.topic === topic && m.until === undefined);
    if (membership !== undefined) membership.until = until;
    return until;
  }

  /** Wait until the client's current connection is welcomed. */
  async welcomed(client: RawSessionClient, what = 'the welcome'): Promise<void> {
    await until(() => client.open || client.current?.close !== undefined, 5_000, `${what} of ${client.name}`);
    if (!client.open) throw new Error(`${client.name} was closed before ${what}: ${describeClose(client.current)}`);
  }

  /** Wait until the client's current connection is closed; its close code. */
  async closed(client: RawSessionClient, timeoutMs = 5_000): Promise<number> {
    await until(() => client.current?.close !== undefined, timeoutMs, `the close of ${client.name}'s connection`);
    return client.current!.close!.code;
  }

  /**
   * Wait until the client's cursor of `topic` is `position`; given up
   * sooner when the client's connection closed or the case's connections
   * heard nothing for a second (the server has nothing more to send).
   */
  async reaches(client: RawSessionClient, topic: string, position: Position, timeoutMs = 5_000): Promise<void> {
    const there = (): boolean => {
      const cursor = client.cursors[topic];
      return cursor?.epoch === position.epoch && cursor.offset === position.offset;
    };
    let frames = this.#frameCount();
    let heard = Date.now();
    await within(() => {
      if (there() || client.current?.close !== undefined) return true;
      if (this.#frameCount() !== frames) [frames, heard] = [this.#frameCount(), Date.now()];
      return Date.now() - heard > 1_000;
    }, timeoutMs);
    if (!there()) throw new Error(`${client.name} never reached ${position.epoch}:${position.offset} of ${topic}: it stands at ${show(client.cursors[topic])}, its connection ${describeClose(client.current)}`);
  }

  /** Wait until no connection of the case has received a frame (a pong aside) for `quietMs`. */
  async settle(quietMs = 80, timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let seen = this.#frameCount();
    let since = Date.now();
    while (Date.now() < deadline && Date.now() - since < quietMs) {
      await sleep(10);
      const now = this.#frameCount();
      if (now !== seen) {
        seen = now;
        since = Date.now();
      }
    }
  }

  /**
   * Every frame of the case through the checker, with the memberships and,
   * when asked, what the application was handed: each breach fails the case.
   */
  async check(options: { deliveries?: boolean } = {}): Promise<void> {
    const deliveries = options.deliveries === true ? await this.control.deliveries(`${this.prefix} `) : undefined;
    const lying = new Set(this.records.filter((record) => record.expectedClose !== undefined).map((record) => record.id));
    // A connection that broke the client's rules on purpose (a frame before the hello) is the server's to refuse, not a breach.
    const violations = checkRun({ connections: this.records, memberships: this.memberships, ...(deliveries === undefined ? {} : { deliveries }) })
      .filter((violation) => !(violation.rule === 'client' && lying.has(violation.connection)));
    for (const line of describeViolations(violations, 20).split('\n')) if (line !== '') this.#verdict.must(false, line);
  }

  #frameCount(): number {
    let count = 0;
    for (const record of this.records) count += record.received.filter((frame) => typeof frame !== 'string' || !frame.includes('"pong"')).length;
    return count;
  }
}

/** The frames of a record that are JSON objects, parsed (what is not is the checker's to report). */
export function framesOf(record: ConnectionRecord | undefined): Array<Record<string, unknown>> {
  const frames: Array<Record<string, unknown>> = [];
  for (const data of record?.received ?? []) {
    if (typeof data !== 'string') continue;
    try {
      const frame: unknown = JSON.parse(data);
      if (typeof frame === 'object' && frame !== null && !Array.isArray(frame)) frames.push(frame as Record<string, unknown>);
    } catch {
      // Not JSON: the checker names it.
    }
  }
  return frames;
}

/** The frames of one type (and topic) on a record. */
export function framesOfType(record: ConnectionRecord | undefined, type: string, topic?: string): Array<Record<string, unknown>> {
  return framesOf(record).filter((frame) => frame.type === type && (topic === undefined || frame.topic === topic));
}

export function describeClose(record: ConnectionRecord | undefined): string {
  const close = record?.close;
  return close === undefined ? 'still open' : `closed with ${close.code}${close.reason === '' ? '' : ` (${JSON.stringify(close.reason)})`} by the ${close.by}`;
}
