/**
 * A session client written from docs/protocol.md alone, over `ws` (#20,
 * #24): it hides nothing (no dedupe, no renumbering, no retry the test did
 * not ask for) and records every frame of every connection for the
 * conformance checker. It has the knobs real use needs: read slower than
 * the socket, reload (a new instance resuming the session with its pending
 * sends renumbered), share a token with a second instance, lie (cursors,
 * tokens, send ids, any frame at all). Nothing is thrown out of a socket
 * handler: what goes wrong there is kept in `faults`.
 */
import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import { FINAL_CLOSE_CODES, SESSION_PROTOCOL } from '../../protocol/session-protocol.js';
import type { ConnectionRecord, Position } from './records.js';

export interface RawClientOptions {
  /** The server's URL, e.g. `ws://127.0.0.1:8080/?user=alice`. */
  url: string;
  /** The user the server knows the connection as (from the URL), for the records. */
  user: string | undefined;
  /** Records are named `<name> #<n>`. */
  name: string;
  /** The client id of every hello: 128 random bits by default (section 3.2); `null` sends none. */
  client?: string | null;
  /** Resume this session (its token), from these cursors. */
  session?: string;
  cursors?: Readonly<Record<string, Position>>;
  /** Data of sends not acknowledged before a reload: sent first, numbered from 1 (section 3.3). */
  pending?: readonly unknown[];
  /** Reconnect by itself after a close that is not final, after a full-jitter delay of at most this many ms. Default: never. */
  reconnectMs?: number;
  /** Keep the cursors of topics the welcome does not list (a client that never drops one, against section 5.5). */
  keepAllCursors?: boolean;
  /** Add `<name>=<record id>` to each connection's URL, so the server side can tell connections apart. */
  connectionParam?: string;
  /** Open each connection without a hello: the test says it with `hello()` (a client slow to say hello). */
  holdHello?: boolean;
  /** Every record made is pushed here too. */
  records?: ConnectionRecord[];
  /** Called with each frame once the client handled it: where a test reacts, as an application's listener would. */
  onFrame?: (frame: Readonly<Record<string, unknown>>, client: RawSessionClient) => void;
}

interface PendingSend {
  id: number;
  data: unknown;
}

/** 128 random bits as `[A-Za-z0-9_-]` (section 2.4). */
export function newClientId(): string {
  return randomBytes(16).toString('base64url');
}

export class RawSessionClient {
  readonly name: string;
  readonly user: string | undefined;
  /** This instance's client id (`undefined`: its hellos carry none). */
  readonly client: string | undefined;
  /** Every connection this instance made, oldest first. */
  readonly records: ConnectionRecord[] = [];
  /** What went wrong inside a socket handler (never thrown there). */
  readonly faults: unknown[] = [];
  readonly #options: RawClientOptions;
  readonly #cursors = new Map<string, Position>();
  readonly #pending: PendingSend[] = [];
  #session: string | undefined;
  #lastId = 0;
  #socket: WebSocket | undefined;
  #record: ConnectionRecord | undefined;
  #welcomed = false;
  #stopped = false;
  #closing = false;
  #retry: NodeJS.Timeout | undefined;
  #finalCode: number | undefined;
  #helloOverride: string | undefined;
  /** `hello()` was called while the socket was still opening: said once it opens. */
  #helloOnOpen = false;

  constructor(options: RawClientOptions) {
    this.#options = options;
    this.name = options.name;
    this.user = options.user;
    this.client = options.client === null ? undefined : (options.client ?? newClientId());
    this.#session = options.session;
    for (const [topic, cursor] of Object.entries(options.cursors ?? {})) this.#cursors.set(topic, { ...cursor });
    for (const data of options.pending ?? []) this.#pending.push({ id: ++this.#lastId, data });
  }

  /** The session token, once welcomed (or the one it resumes). */
  get session(): string | undefined {
    return this.#session;
  }

  /** Where this client stands per topic (section 5). */
  get cursors(): Record<string, Position> {
    return Object.fromEntries([...this.#cursors].map(([topic, cursor]) => [topic, { ...cursor }]));
  }

  /** Sends not yet acknowledged, oldest first. */
  get pending(): ReadonlyArray<{ id: number; data: unknown }> {
    return this.#pending;
  }

  /** Whether the current connection was welcomed and is open. */
  get open(): boolean {
    return this.#welcomed && this.#socket?.readyState === WebSocket.OPEN;
  }

  /** The code of the final close that stopped this client, if one did. */
  get finalCode(): number | undefined {
    return this.#finalCode;
  }

  /** The record of the current (or last) connection. */
  get current(): ConnectionRecord | undefined {
    return this.#record;
  }

  /** Whether the current socket is open (welcomed or not). */
  get socketOpen(): boolean {
    return this.#socket?.readyState === WebSocket.OPEN;
  }

  /** Whether a socket is open or opening. */
  get connected(): boolean {
    return this.#socket !== undefined;
  }

  /** Open a connection (if none is open or opening) and say hello on it. */
  connect(): this {
    if (this.#socket !== undefined || this.#stopped) return this;
    clearTimeout(this.#retry);
    this.#retry = undefined;
    const record: ConnectionRecord = { id: `${this.name} #${this.records.length + 1}`, user: this.user, sent: [], received: [] };
    this.records.push(record);
    this.#options.records?.push(record);
    let url = this.#options.url;
    if (this.#options.connectionParam !== undefined) {
      url += `${url.includes('?') ? '&' : '?'}${this.#options.connectionParam}=${encodeURIComponent(record.id)}`;
    }
    const socket = new WebSocket(url, [SESSION_PROTOCOL]);
    this.#socket = socket;
    this.#record = record;
    this.#welcomed = false;
    this.#closing = false;
    this.#helloOnOpen = false;
    const hello = this.#helloOverride;
    socket.on('open', () => this.#guard(() => {
      if (this.#options.holdHello !== true) this.#write(hello ?? this.#hello());
      else if (this.#helloOnOpen) this.#write(this.#hello());
    }));
    socket.on('message', (data, isBinary) => this.#guard(() => this.#receive(record, data as Buffer, isBinary)));
    socket.on('error', () => {});
    socket.on('close', (code, reason) => this.#guard(() => this.#closed(socket, record, code, reason.toString())));
    this.#helloOverride = undefined;
    return this;
  }

  /** Say hello (with `holdHello`): the hello it would have said, from where it stands now; once open, if the socket is still opening. */
  hello(): void {
    if (this.#socket?.readyState === WebSocket.CONNECTING) this.#helloOnOpen = true;
    else this.#write(this.#hello());
  }

  /** Send an application message: numbered, kept until acknowledged, resent after a welcome. Returns its id. */
  send(data: unknown): number {
    const pending = { id: ++this.#lastId, data };
    this.#pending.push(pending);
    if (this.#welcomed) this.#write(JSON.stringify({ type: 'send', id: pending.id, data }));
    return pending.id;
  }

  /** Write anything at all on the current connection: a frame object (as JSON), text as it is, or bytes as a binary message. */
  sendRaw(frame: string | Uint8Array | Record<string, unknown>): void {
    if (frame instanceof Uint8Array) {
      if (this.#socket?.readyState !== WebSocket.OPEN) return;
      this.#record!.sent.push(`<binary ${frame.length} bytes>`);
      this.#socket.send(frame, { binary: true });
      return;
    }
    this.#write(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Write bytes as a text message as they are, valid UTF-8 or not (a lie no WebSocket API lets a browser tell). */
  sendTextBytes(bytes: Uint8Array): void {
    if (this.#socket?.readyState !== WebSocket.OPEN) return;
    this.#record!.sent.push(`<text of ${bytes.length} bytes>`);
    this.#socket.send(bytes, { binary: false });
  }

  /** The next connection says this hello (a frame object or any text) instead of its own. */
  lieInNextHello(hello: string | Record<string, unknown>): void {
    this.#helloOverride = typeof hello === 'string' ? hello : JSON.stringify(hello);
  }

  /** Set a cursor by hand (a lie, or a position kept elsewhere). */
  setCursor(topic: string, cursor: Position): void {
    this.#cursors.set(topic, { ...cursor });
  }

  ping(): void {
    this.#write(JSON.stringify({ type: 'ping' }));
  }

  /** Stop reading the socket: a reader slower than the server writes. */
  pause(): void {
    this.#socket?.pause();
  }

  resume(): void {
    this.#socket?.resume();
  }

  /** Cut the connection without a close handshake (a dead network); reconnects if asked to. */
  drop(): void {
    this.#closing = true;
    this.#socket?.terminate();
  }

  /** Close the connection with a handshake; reconnects if asked to. */
  disconnect(code = 1000, reason = ''): void {
    this.#closing = true;
    this.#socket?.close(code, reason);
  }

  /** Close for good (a page closed): no reconnect. */
  stop(code = 1001): void {
    this.#stopped = true;
    clearTimeout(this.#retry);
    this.#retry = undefined;
    if (this.#socket !== undefined) {
      this.#closing = true;
      if (this.#socket.readyState === WebSocket.CONNECTING) this.#socket.terminate();
      else this.#socket.close(code, 'stopped');
    }
  }

  /**
   * The page reloads: this instance stops, and a new one resumes the
   * session from the same cursors with a new client id, its unacknowledged
   * sends renumbered from 1 (as a page that kept them in storage would).
   */
  reload(name: string, options: Partial<RawClientOptions> = {}): RawSessionClient {
    this.stop();
    const pending = this.#pending.map((send) => send.data);
    return new RawSessionClient({ ...this.#options, name, client: undefined, session: this.#session, cursors: this.cursors, pending, ...options });
  }

  /** A second instance with this one's token and cursors (a duplicated tab copies sessionStorage); this one goes on. */
  duplicate(name: string, options: Partial<RawClientOptions> = {}): RawSessionClient {
    const copied = { session: this.#session, cursors: this.cursors, pending: [] };
    return new RawSessionClient({ ...this.#options, name, client: undefined, ...copied, ...options });
  }

  /** The run settled with this connection open: the checker may require every ack and recovery of it. */
  markComplete(): void {
    if (this.#record !== undefined && this.#record.close === undefined) this.#record.complete = true;
  }

  /** The current connection broke the protocol on purpose: the server must close it with one of these codes. */
  expectClose(codes: readonly number[]): void {
    if (this.#record !== undefined) this.#record.expectedClose = codes;
  }

  #hello(): string {
    return JSON.stringify({ type: 'hello', client: this.client, session: this.#session, topics: this.cursors });
  }

  #write(text: string): void {
    const socket = this.#socket;
    if (socket?.readyState !== WebSocket.OPEN) return;
    this.#record!.sent.push(text);
    socket.send(text);
  }

  #guard(handler: () => void): void {
    try {
      handler();
    } catch (error) {
      this.faults.push(error);
    }
  }

  #receive(record: ConnectionRecord, data: Buffer, isBinary: boolean): void {
    if (isBinary) {
      record.received.push(new Uint8Array(data));
      return;
    }
    const text = data.toString('utf8');
    record.received.push(text);
    if (record !== this.#record) return;
    let frame: unknown;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) return;
    this.#handle(frame as Record<string, unknown>);
    this.#options.onFrame?.(frame as Record<string, unknown>, this);
  }

  /** Section 5 (cursors) and 3.3 (resends), and nothing else. */
  #handle(frame: Record<string, unknown>): void {
    const { topic, epoch, offset } = frame;
    switch (frame.type) {
      case 'welcome':
        if (typeof frame.session === 'string') this.#session = frame.session;
        this.#welcomed = true;
        if (Array.isArray(frame.topics) && this.#options.keepAllCursors !== true) {
          const followed = new Set(frame.topics);
          for (const name of [...this.#cursors.keys()]) if (!followed.has(name)) this.#cursors.delete(name);
        }
        for (const pending of this.#pending) this.#write(JSON.stringify({ type: 'send', id: pending.id, data: pending.data }));
        return;
      case 'recovery':
        if (frame.recovered !== false || typeof topic !== 'string' || typeof epoch !== 'string' || typeof offset !== 'number') return;
        this.#cursors.set(topic, { epoch, offset });
        return;
      case 'message': {
        if (typeof topic !== 'string' || typeof epoch !== 'string' || typeof offset !== 'number') return;
        const cursor = this.#cursors.get(topic);
        if (cursor === undefined || cursor.epoch !== epoch || cursor.offset < offset) this.#cursors.set(topic, { epoch, offset });
        return;
      }
      case 'unsubscribed':
        if (typeof topic === 'string' && this.#options.keepAllCursors !== true) this.#cursors.delete(topic);
        return;
      case 'ack': {
        const index = this.#pending.findIndex((pending) => pending.id === frame.id);
        if (index >= 0) this.#pending.splice(index, 1);
        return;
      }
      default:
    }
  }

  #closed(socket: WebSocket, record: ConnectionRecord, code: number, reason: string): void {
    record.close = { code, reason, by: this.#closing ? 'client' : 'server' };
    if (this.#socket !== socket) return;
    this.#socket = undefined;
    this.#welcomed = false;
    if (!this.#closing && FINAL_CLOSE_CODES.has(code)) {
      this.#finalCode = code;
      this.#stopped = true;
    }
    const delay = this.#options.reconnectMs;
    if (this.#stopped || delay === undefined) return;
    // Full jitter (section 7); at least a second after 1012 and 1013.
    const wait = Math.round(Math.random() * delay) + (code === 1012 || code === 1013 ? 1_000 : 0);
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.connect();
    }, wait);
  }
}
