/**
 * The scripted server of the client suite (#24): a bare `ws` server on
 * 127.0.0.1 that says exactly what a case's script tells it, nothing of its
 * own (no manager, no sessions), and records what the client under test
 * does: the subprotocols it asks for, every frame it sends and when, its
 * WebSocket pings and pongs, and how each connection closed. Connections
 * are routed to the case whose path they use, so cases can run side by side.
 */
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { SESSION_PROTOCOL } from '../../protocol/session-protocol.js';
import { until } from './suite.js';

/** What the client sent in one text frame, when, parsed when it is a JSON object. */
export interface Heard {
  at: number;
  text: string;
  frame: Record<string, unknown> | undefined;
}

/** The frames of a session's `welcome`, with defaults a case may override. */
export interface WelcomeOptions {
  session: string;
  topics: string[];
  resumed?: boolean;
  heartbeatMs?: number;
  ttlMs?: number;
}

/** Largest frame read from a client: a hello with many cursors fits. */
const MAX_PAYLOAD = 1024 * 1024;
/** Frames kept per connection: a client in a loop is cut off, not followed into memory. */
const MAX_HEARD = 10_000;
/** Connections kept per route; more (a client reconnecting without backoff) are cut and only counted. */
const MAX_CONNECTIONS = 1_000;

export class ScriptedConnection {
  readonly openedAt = Date.now();
  /** The subprotocols the client asked for. */
  readonly protocols: readonly string[];
  readonly heard: Heard[] = [];
  /** WebSocket-level pings and pongs the client sent. */
  pings = 0;
  pongs = 0;
  /** How the connection ended; `by` is who sent the close frame first (`network`: none did). */
  close: { code: number; reason: string; by: 'client' | 'server' | 'network'; at: number } | undefined;
  /** When the server sent its close frame (or cut the connection). */
  closedAt: number | undefined;
  /** While true the server answers no ping, frame or WebSocket: a half-open peer. */
  silent = false;
  readonly #socket: WebSocket;
  #closing = false;

  constructor(socket: WebSocket, protocols: readonly string[]) {
    this.#socket = socket;
    this.protocols = protocols;
    socket.on('message', (data, isBinary) => {
      if (this.heard.length >= MAX_HEARD) return;
      const text = isBinary ? `<binary ${(data as Buffer).length} bytes>` : (data as Buffer).toString('utf8');
      const frame = isBinary ? undefined : parseObject(text);
      this.heard.push({ at: Date.now(), text, frame });
      // A server answers a ping frame (3.4), unless the script made it silent.
      if (frame?.type === 'ping' && !this.silent) this.send({ type: 'pong' });
    });
    socket.on('ping', (data) => {
      this.pings++;
      if (!this.silent) socket.pong(data);
    });
    socket.on('pong', () => void this.pongs++);
    socket.on('error', () => {});
    socket.on('close', (code, reason) => {
      this.close = { code, reason: reason.toString(), by: this.#closing ? 'server' : code === 1006 ? 'network' : 'client', at: Date.now() };
    });
  }

  /** The frames the client sent, parsed, of one type (all when none is given). */
  frames(type?: string): Array<Record<string, unknown>> {
    return this.heard.flatMap((h) => (h.frame !== undefined && (type === undefined || h.frame.type === type) ? [h.frame] : []));
  }

  /** Wait for the client's first frame: its hello, parsed (an error when it is no JSON object). */
  async hello(timeoutMs = 5_000): Promise<Record<string, unknown>> {
    await until(() => this.heard.length > 0 || this.close !== undefined, timeoutMs, 'the hello');
    const first = this.heard[0];
    if (first === undefined) throw new Error(`the connection was closed (${this.close?.code ?? '?'}) before the client said anything`);
    if (first.frame?.type !== 'hello') throw new Error(`the client's first frame is not a hello: ${first.text.slice(0, 200)}`);
    return first.frame;
  }

  /** Send frames: objects as JSON, strings as they are. */
  send(...frames: Array<Record<string, unknown> | string>): void {
    for (const frame of frames) if (this.#socket.readyState === this.#socket.OPEN) this.#socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  welcome(options: WelcomeOptions): void {
    const { session, topics, resumed = false, heartbeatMs = 0, ttlMs = 60_000 } = options;
    const limits = { maxFrameBytes: MAX_PAYLOAD, maxNameLength: 200, maxInFlight: 64, maxFramesPerSecond: 0 };
    this.send({ type: 'welcome', session, resumed, ttlMs, heartbeatMs, version: 1, topics, limits });
  }

  /** A WebSocket ping from the server; resolves once the client answered (or false after `timeoutMs`). */
  async ping(timeoutMs = 2_000): Promise<boolean> {
    const before = this.pongs;
    this.#socket.ping();
    try {
      await until(() => this.pongs > before, timeoutMs, 'a pong');
      return true;
    } catch {
      return false;
    }
  }

  closeWith(code: number, reason = ''): void {
    this.#closing = true;
    this.closedAt = Date.now();
    this.#socket.close(code, reason);
  }

  /** Cut the TCP connection with no close frame (the client sees 1006). */
  cut(): void {
    this.#closing = true;
    this.closedAt = Date.now();
    this.#socket.terminate();
  }

  get open(): boolean {
    return this.#socket.readyState === this.#socket.OPEN;
  }
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The connections that used one path, oldest first. */
export class ScriptedRoute {
  readonly connections: ScriptedConnection[] = [];
  /** Connections cut at once because the route already kept {@link MAX_CONNECTIONS}. */
  dropped = 0;
  /** Whether the 101 selects ws-lifecycle.v1 when the client asks for it (false: a server that does not speak it). */
  readonly subprotocol: boolean;
  /** Why no connection can come any more (the client's process ended), or undefined. */
  ended: () => string | undefined = () => undefined;

  constructor(subprotocol: boolean) {
    this.subprotocol = subprotocol;
  }

  /** Connection `index` (from 0), once the client made it. */
  async connection(index: number, timeoutMs = 5_000): Promise<ScriptedConnection> {
    const what = index === 0 ? 'the client to connect' : `connection ${index + 1} of the client (a reconnect)`;
    await until(() => this.connections.length > index || this.ended() !== undefined, timeoutMs, what);
    const connection = this.connections[index];
    if (connection === undefined) throw new Error(`the client ${this.ended()!} while the suite waited for ${what}`);
    return connection;
  }
}

export class ScriptedServer {
  readonly #wss: WebSocketServer;
  readonly #routes: Map<string, ScriptedRoute>;
  readonly port: number;

  private constructor(wss: WebSocketServer, routes: Map<string, ScriptedRoute>) {
    this.#wss = wss;
    this.#routes = routes;
    this.port = (wss.address() as AddressInfo).port;
  }

  static async start(): Promise<ScriptedServer> {
    const routes = new Map<string, ScriptedRoute>();
    const routeOf = (url: string | undefined): ScriptedRoute | undefined => routes.get(new URL(url ?? '/', 'http://localhost').pathname);
    const wss = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      maxPayload: MAX_PAYLOAD,
      autoPong: false,
      // The session protocol when the client asks for it, unless the route plays a server that does not speak it (1.2).
      handleProtocols: (protocols, request) => {
        const speaks = protocols.has(SESSION_PROTOCOL) && routeOf(request.url)?.subprotocol !== false;
        return speaks ? SESSION_PROTOCOL : false;
      }
    });
    await new Promise<void>((resolve) => wss.once('listening', resolve));
    wss.on('connection', (socket, request) => {
      const route = routeOf(request.url);
      if (route === undefined) return socket.close(4404, 'no case on this path');
      if (route.connections.length >= MAX_CONNECTIONS) {
        route.dropped++;
        return socket.terminate();
      }
      const asked = (request.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter((p) => p !== '');
      route.connections.push(new ScriptedConnection(socket, asked));
    });
    return new ScriptedServer(wss, routes);
  }

  /** A path of its own for one client under test; its URL. */
  route(path: string, subprotocol = true): { url: string; route: ScriptedRoute } {
    const route = new ScriptedRoute(subprotocol);
    this.#routes.set(path, route);
    return { url: `ws://127.0.0.1:${this.port}${path}`, route };
  }

  async close(): Promise<void> {
    for (const socket of this.#wss.clients) socket.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }
}
