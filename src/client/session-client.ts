/**
 * `ws-lifecycle/client`: the reconnecting session client (#11), one source
 * for browsers (the global `WebSocket`) and Node (pass `ws`'s). Its
 * lifecycle is machines/client.machine.ts; this file does the socket I/O.
 * It follows docs/protocol.md: it resumes with its session token and its
 * cursor per topic (dropping cursors of topics the session no longer
 * follows), drops any message at or below a cursor, resets a cursor to
 * where a `recovery` says the stream continues even when that is lower,
 * and resumes when a frame breaks the protocol (a gap, a message before
 * its recovery, a frame that is not JSON) instead of trusting it. It
 * queues what the application sends while it is away: each send is
 * numbered per client instance (a reload or a second tab is a new
 * instance, with a new random `client` id), resent in order after a resume
 * before any new one until the server acknowledges it, and delivered by the
 * server once. It stops for good on the close codes the protocol calls
 * final. Nothing thrown by a socket handler escapes, and no Node module is
 * imported here.
 */
import { createActor } from 'xstate';
import { clientMachine, type ClientState } from '../../machines/client.machine.js';
import { FINAL_CLOSE_CODES, SESSION_PROTOCOL, SLOW_RETRY_CODES, SLOW_RETRY_MS, type ServerFrame, type TopicCursor } from '../protocol/session-protocol.js';
import { fromBase64, newClientId, readServerFrame, sendFrame } from './client-frames.js';
import { clientSettings, type ClientSettings, type ClientSocket, type SessionClientOptions } from './client-options.js';

export type { ClientSocket, ClientSocketConstructor, SessionClientOptions } from './client-options.js';
export type { TopicCursor };

/**
 * A topic message: `data` for a JSON value, `bytes` for bytes (a `b64`
 * frame), never both, so bytes are never mistaken for a string.
 */
export type ClientMessage = { topic: string; epoch: string; offset: number } & (
  | { data: unknown; bytes?: undefined }
  | { bytes: Uint8Array; data?: undefined }
);

/** What the server said about one topic at a (re)connect. */
export interface ClientRecovery {
  topic: string;
  recovered: boolean;
  /** Why not, when `recovered` is false. */
  reason?: string;
  /** Where the stream continues. */
  epoch: string;
  offset: number;
}

/**
 * How a send ended. `session_lost`: it was sent to a session the server no
 * longer had when the client came back (`welcome.resumed: false`), without
 * an ack: it may or may not have been delivered, and it is not sent again
 * unasked, which could deliver it twice (docs/protocol.md 3.5).
 */
export type SendOutcome = { ok: true } | { ok: false; reason: 'queue_full' | 'closed' | 'session_lost' };

interface ClientEvents {
  message: ClientMessage;
  recovery: ClientRecovery;
  /** The session no longer follows the topic (the user left the room): its cursor is dropped. */
  unsubscribed: { topic: string };
  state: ClientState;
  /** The server's `error` frame, or a breach of the protocol the client saw (`protocol`), or a final close (`closed`). */
  error: { code: string; message: string };
}

interface Pending {
  id: number;
  /** The data's JSON, as it was when sent (`undefined`: no data, read as `null`). */
  data: string | undefined;
  text: string;
  /** Written to a socket at least once: the session it went to may have delivered it. */
  written: boolean;
  settle: (outcome: SendOutcome) => void;
}

const OPEN = 1;
const PING = JSON.stringify({ type: 'ping' });

export class SessionClient {
  readonly #options: ClientSettings;
  readonly #listeners: { [K in keyof ClientEvents]: Set<(value: ClientEvents[K]) => void> } = {
    message: new Set(),
    recovery: new Set(),
    unsubscribed: new Set(),
    state: new Set(),
    error: new Set()
  };
  /** This instance's id: its sends are numbered for it alone (docs/protocol.md section 3.2). */
  readonly #clientId = newClientId();
  /** Topics whose `recovery` arrived on the current socket: a message of any other breaks the protocol. */
  readonly #started = new Set<string>();
  /** The least wait before the next attempt, after a close that asks for one (1012, 1013). */
  #retryFloorMs = 0;
  readonly #cursors = new Map<string, TopicCursor>();
  readonly #pending: Pending[] = [];
  readonly #actor;
  #socket: ClientSocket | undefined;
  #session: string | undefined;
  #state: ClientState = 'idle';
  #lastId = 0;
  /** A frame arrived since the heartbeat last looked: one assignment per frame, no timer. */
  #heard = false;

  /**
   * @param {SessionClientOptions} options Where and how to connect
   * @throws {TypeError} If there is no WebSocket class to use
   */
  constructor(options: SessionClientOptions) {
    this.#options = clientSettings(options);
    if (options.resume) {
      this.#session = options.resume.session;
      for (const [topic, cursor] of Object.entries(options.resume.cursors)) this.#cursors.set(topic, cursor);
    }
    const machine = clientMachine.provide({
      actions: {
        openSocket: () => this.#open(),
        // Both forget the socket first: nothing it still delivers reaches the application after this.
        closeSocket: () => this.#dropSocket('client closed'),
        abandonSocket: () => this.#dropSocket('no answer from the server'),
        sendPing: () => this.#write(PING),
        forgetHeard: () => {
          this.#heard = false;
        },
        reportEntry: (_, { state }) => this.#entered(state)
      },
      guards: { heard: () => this.#heard },
      delays: {
        // Full jitter: a reconnect storm after a deploy spreads out instead of arriving at once.
        backoff: ({ context }) => {
          const ceiling = Math.min(context.maxDelayMs, context.minDelayMs * 2 ** Math.max(0, context.attempts - 1));
          return Math.max(this.#retryFloorMs, Math.round(this.#options.random() * ceiling));
        }
      }
    });
    const { minDelayMs, maxDelayMs, heartbeatIntervalMs, heartbeatTimeoutMs, connectTimeoutMs } = this.#options;
    this.#actor = createActor(machine, { input: { minDelayMs, maxDelayMs, heartbeatIntervalMs, heartbeatTimeoutMs, connectTimeoutMs } });
    this.#actor.start();
  }

  /** `idle`, `connecting`, `open`, `reconnecting` or `closed`. */
  get state(): ClientState {
    return this.#state;
  }

  /** The session token, once welcomed: keep it (with `cursors`) to resume after a reload. */
  get session(): string | undefined {
    return this.#session;
  }

  /** This instance's id in its hellos: its sends are numbered for it alone (a reload is a new instance). */
  get clientId(): string {
    return this.#clientId;
  }

  /** Where the client stands per topic. */
  get cursors(): Record<string, TopicCursor> {
    return Object.fromEntries(this.#cursors);
  }

  /** Sends not yet acknowledged by the server. */
  get queued(): number {
    return this.#pending.length;
  }

  start(): this {
    this.#actor.send({ type: 'START' });
    return this;
  }

  /** Close for good: pending sends resolve `{ ok: false, reason: 'closed' }`. */
  close(): void {
    if (this.#state === 'closed') return;
    this.#actor.send({ type: 'CLOSE' });
  }

  on<K extends keyof ClientEvents>(event: K, listener: (value: ClientEvents[K]) => void): () => void {
    this.#listeners[event].add(listener);
    return () => this.#listeners[event].delete(listener);
  }

  /**
   * Send an application message (a JSON value). Resolves `{ ok: true }` once
   * the server has acknowledged it; while the client is away it waits in
   * the queue and is sent after the resume. Never rejects.
   */
  send(data: unknown): Promise<SendOutcome> {
    if (this.#state === 'closed') return Promise.resolve({ ok: false, reason: 'closed' });
    if (this.#pending.length >= this.#options.maxQueued) return Promise.resolve({ ok: false, reason: 'queue_full' });
    return new Promise((settle) => {
      const id = ++this.#lastId;
      const json = JSON.stringify(data) as string | undefined;
      const pending: Pending = { id, data: json, text: sendFrame(id, json), written: false, settle };
      this.#pending.push(pending);
      if (this.#state === 'open') this.#writePending(pending);
    });
  }

  #open(): void {
    let socket: ClientSocket;
    try {
      socket = new this.#options.WebSocket(this.#options.url, [SESSION_PROTOCOL]);
    } catch (error) {
      // A URL the WebSocket constructor refuses: nothing to retry.
      this.#fail('closed', `cannot open ${this.#options.url}: ${String(error)}`);
      return;
    }
    this.#socket = socket;
    this.#started.clear();
    socket.onopen = () => {
      if (this.#socket !== socket) return;
      if (socket.protocol !== undefined && socket.protocol !== SESSION_PROTOCOL) {
        // The server does not speak the protocol (docs/protocol.md section 1.2): final.
        this.#fail('protocol', `the server did not select ${SESSION_PROTOCOL}`);
        return;
      }
      this.#write(JSON.stringify({ type: 'hello', client: this.#clientId, session: this.#session, topics: this.cursors }));
    };
    socket.onmessage = (event) => {
      if (this.#socket !== socket) return;
      this.#heard = true;
      try {
        // Checked against the protocol before it is believed; a frame type this client does not know is ignored.
        const frame = readServerFrame(event.data);
        if (typeof frame === 'string') this.#breach(socket, frame);
        else if (frame !== undefined) this.#frame(socket, frame);
      } catch (error) {
        // An application listener is guarded in #emit; anything else here is a bug, reported, never thrown into the socket.
        this.#report(error);
      }
    };
    // A handshake whose 101 did not select the subprotocol: ws says so in its error (a browser says nothing, and its handshake fails as a dropped network would).
    let unsupported = false;
    socket.onerror = (event) => {
      const message = (event as { message?: unknown } | null)?.message;
      if (typeof message === 'string' && /subprotocol/i.test(message)) unsupported = true;
    };
    socket.onclose = (event) => {
      if (this.#socket !== socket) return;
      this.#socket = undefined;
      // Closed by the application: the machine is done and takes no more events.
      if (this.#state === 'closed') return;
      if (unsupported) {
        // The server does not speak the protocol (docs/protocol.md section 1.2): final.
        this.#emit('error', { code: 'protocol', message: `the server did not select ${SESSION_PROTOCOL}` });
        this.#actor.send({ type: 'SOCKET_CLOSED', final: true });
        return;
      }
      const final = FINAL_CLOSE_CODES.has(event.code);
      if (final) this.#emit('error', { code: 'closed', message: `closed for good by the server: ${event.code} ${event.reason}` });
      this.#retryFloorMs = SLOW_RETRY_CODES.has(event.code) ? SLOW_RETRY_MS : 0;
      this.#actor.send({ type: 'SOCKET_CLOSED', final });
    };
  }

  /**
   * The server broke the protocol on this socket: what it sends cannot be
   * trusted, so the client resumes on a new socket from its cursors, and the
   * server fills the gap or tells it (section 5.6).
   */
  #breach(socket: ClientSocket, what: string): void {
    this.#emit('error', { code: 'protocol', message: `the server sent ${what}; resuming` });
    // Frames still on their way from this socket are not read (#socket no longer matches), its close is still awaited.
    this.#socket = undefined;
    try {
      socket.close(1000, 'protocol breach');
    } catch {
      // Already closing.
    }
    this.#actor.send({ type: 'SOCKET_CLOSED', final: false });
  }

  /** Stop for good, with the reason told to the application. */
  #fail(code: string, message: string): void {
    this.#emit('error', { code, message });
    const socket = this.#socket;
    this.#socket = undefined;
    try {
      socket?.close(1000, code);
    } catch {
      // Already closing.
    }
    this.#actor.send({ type: 'SOCKET_CLOSED', final: true });
  }

  #report(error: unknown): void {
    const report = (globalThis as { reportError?: (error: unknown) => void }).reportError;
    if (report) report(error);
    else console.error(error);
  }

  #dropSocket(reason: string): void {
    const socket = this.#socket;
    this.#socket = undefined;
    socket?.close(1000, reason);
  }

  /** The one place the client writes: only to an open socket (what is not acknowledged is resent after a resume). */
  #write(text: string): boolean {
    const socket = this.#socket;
    if (socket === undefined || socket.readyState !== OPEN) return false;
    socket.send(text);
    return true;
  }

  #writePending(pending: Pending): void {
    if (this.#write(pending.text)) pending.written = true;
  }

  /**
   * The server did not know the session (`resumed: false`): it knows none of
   * the sends made to the old one. Those written without an ack may have
   * been delivered: each is told `session_lost` rather than sent again
   * (which could deliver it twice). Those never written are numbered from 1
   * in the new session (docs/protocol.md 3.5).
   */
  #sessionLost(): void {
    const unsent = this.#pending.filter((pending) => !pending.written);
    for (const pending of this.#pending) if (pending.written) pending.settle({ ok: false, reason: 'session_lost' });
    this.#pending.length = 0;
    this.#lastId = 0;
    for (const pending of unsent) {
      pending.id = ++this.#lastId;
      pending.text = sendFrame(pending.id, pending.data);
      this.#pending.push(pending);
    }
  }

  #frame(socket: ClientSocket, frame: ServerFrame): void {
    switch (frame.type) {
      case 'welcome': {
        this.#session = frame.session;
        // Cursors of topics the session no longer follows are dropped: the next hello stays small (section 5.5).
        const followed = new Set(frame.topics);
        for (const topic of this.#cursors.keys()) if (!followed.has(topic)) this.#cursors.delete(topic);
        if (!frame.resumed) this.#sessionLost();
        // What was not acknowledged goes again, in order, before the application hears `open` and sends anything new.
        for (const pending of this.#pending) this.#writePending(pending);
        this.#actor.send({ type: 'WELCOMED' });
        return;
      }
      case 'recovery':
        this.#started.add(frame.topic);
        // The stream continues after this position, even when it is lower than the cursor (section 5.3).
        if (!frame.recovered) this.#cursors.set(frame.topic, { epoch: frame.epoch, offset: frame.offset });
        this.#emit('recovery', { topic: frame.topic, recovered: frame.recovered, reason: frame.reason, epoch: frame.epoch, offset: frame.offset });
        return;
      case 'message': {
        const cursor = this.#cursors.get(frame.topic);
        if (cursor !== undefined && cursor.epoch === frame.epoch && frame.offset <= cursor.offset) return;
        // A message before its topic's recovery, past a gap, or of an epoch nobody announced: resume from the cursor instead.
        if (!this.#started.has(frame.topic) || cursor === undefined || cursor.epoch !== frame.epoch || frame.offset !== cursor.offset + 1) {
          return this.#breach(socket, `message ${frame.offset} of ${frame.topic} where ${cursor === undefined ? 'no recovery came first' : `${cursor.offset + 1} was due`}`);
        }
        this.#cursors.set(frame.topic, { epoch: frame.epoch, offset: frame.offset });
        const { topic, epoch, offset } = frame;
        this.#emit('message', frame.b64 === undefined ? { topic, epoch, offset, data: frame.data } : { topic, epoch, offset, bytes: fromBase64(frame.b64) });
        return;
      }
      case 'unsubscribed':
        this.#started.delete(frame.topic);
        this.#cursors.delete(frame.topic);
        this.#emit('unsubscribed', { topic: frame.topic });
        return;
      case 'ack': {
        const index = this.#pending.findIndex((pending) => pending.id === frame.id);
        if (index >= 0) this.#pending.splice(index, 1)[0]!.settle({ ok: true });
        return;
      }
      case 'error':
        this.#emit('error', { code: frame.code, message: frame.message });
        return;
      case 'replayed':
      case 'pong':
        return;
    }
  }

  #entered(state: ClientState): void {
    if (state === this.#state) return;
    this.#state = state;
    if (state === 'closed') {
      for (const pending of this.#pending.splice(0)) pending.settle({ ok: false, reason: 'closed' });
    }
    this.#emit('state', state);
  }

  #emit<K extends keyof ClientEvents>(event: K, value: ClientEvents[K]): void {
    for (const listener of this.#listeners[event]) {
      try {
        listener(value);
      } catch (error) {
        // An application listener's bug must not break the stream: reported, not thrown into it.
        this.#report(error);
      }
    }
  }
}
