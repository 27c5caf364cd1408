/**
 * Real ws servers and clients on 127.0.0.1 for tests. Everything started
 * here is closed by `stop()`; callers bound their own loops.
 */
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { WebSocket, WebSocketServer, type ClientOptions, type ServerOptions } from 'ws';
import { ConnectionManager, type Connection, type ConnectionManagerOptions } from '../../src/index.js';

/** A logger that writes nothing. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** One JSON log line as pino wrote it. */
export type LogRecord = Record<string, unknown> & { level: number; msg?: string };

/** pino's numeric levels. */
export const LOG_LEVELS = Object.freeze({ debug: 20, info: 30, warn: 40, error: 50 });

/**
 * A pino logger that keeps every line it writes, parsed, in `records`.
 *
 * @param level The lowest level kept
 */
export function captureLogger(level: 'debug' | 'info' | 'warn' = 'debug'): { logger: Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const logger = pino({ level }, { write: (line: string) => void records.push(JSON.parse(line) as LogRecord) });
  return { logger, records };
}

/**
 * Stop reading from a client's socket, so it never answers a close frame
 * or a ping; `terminate()` the client to end it.
 */
export function stallClient(ws: WebSocket): void {
  (ws as unknown as { _socket: { pause(): void } })._socket.pause();
}

/** A client socket plus everything it received, in order. */
export interface TestClient {
  ws: WebSocket;
  received: string[];
  /** Resolves when the client socket emits 'close'. */
  closed: Promise<{ code: number; reason: string }>;
}

export interface TestServer {
  wss: WebSocketServer;
  manager: ConnectionManager;
  port: number;
  /**
   * Open a client as `userId`; resolves once the server-side connection
   * exists and the client is open. `clientOptions` go to the `ws` client.
   */
  connect(userId?: string, clientOptions?: ClientOptions): Promise<{ client: TestClient; connection: Connection }>;
  /** Stop the manager accepting this server's sockets (to accept them another way). */
  detach(): void;
  /** Shut the manager down, terminate clients, close the server. */
  stop(): Promise<void>;
}

/**
 * Start a `WebSocketServer` on 127.0.0.1 with a manager attached; users are
 * identified by the `user` query parameter.
 */
export async function startServer(
  options: ConnectionManagerOptions = {},
  serverOptions: Omit<ServerOptions, 'port' | 'host' | 'server' | 'noServer'> = {}
): Promise<TestServer> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...serverOptions });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  const port = (wss.address() as AddressInfo).port;
  const manager = new ConnectionManager({ logger: silentLogger(), ...options });
  const detach = manager.attach(wss, {
    identify: (request) => {
      const user = new URL(request.url ?? '/', 'http://127.0.0.1').searchParams.get('user');
      return user === null ? undefined : { userId: user };
    }
  });
  const clients = new Set<WebSocket>();

  async function connect(userId?: string, clientOptions?: ClientOptions): Promise<{ client: TestClient; connection: Connection }> {
    const accepted = new Promise<Connection>((resolve) => manager.once('connection', resolve));
    const query = userId === undefined ? '' : `?user=${encodeURIComponent(userId)}`;
    const ws = new WebSocket(`ws://127.0.0.1:${port}/${query}`, clientOptions);
    clients.add(ws);
    const received: string[] = [];
    ws.on('message', (data) => received.push(data.toString()));
    ws.on('error', () => {});
    const closed = new Promise<{ code: number; reason: string }>((resolve) => {
      ws.once('close', (code, reason) => {
        clients.delete(ws);
        resolve({ code, reason: reason.toString() });
      });
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const connection = await accepted;
    return { client: { ws, received, closed }, connection };
  }

  async function stop(): Promise<void> {
    await manager.shutdown({ timeoutMs: 1_000 });
    for (const ws of clients) ws.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  }

  return { wss, manager, port, connect, detach, stop };
}

/**
 * Poll `predicate` every few milliseconds until it holds.
 *
 * @throws {Error} After `timeoutMs`
 */
export async function waitFor(predicate: () => boolean, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
