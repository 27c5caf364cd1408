/**
 * Real ws servers and clients on 127.0.0.1 for tests. Everything started
 * here is closed by `stop()`; callers bound their own loops.
 */
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { WebSocket, WebSocketServer, type ServerOptions } from 'ws';
import { ConnectionManager, type Connection, type ConnectionManagerOptions } from '../../src/index.js';

/** A logger that writes nothing. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
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
  /** Open a client as `userId`; resolves once the server-side connection exists and the client is open. */
  connect(userId?: string): Promise<{ client: TestClient; connection: Connection }>;
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
  manager.attach(wss, {
    identify: (request) => {
      const user = new URL(request.url ?? '/', 'http://127.0.0.1').searchParams.get('user');
      return user === null ? undefined : { userId: user };
    }
  });
  const clients = new Set<WebSocket>();

  async function connect(userId?: string): Promise<{ client: TestClient; connection: Connection }> {
    const accepted = new Promise<Connection>((resolve) => manager.once('connection', resolve));
    const query = userId === undefined ? '' : `?user=${encodeURIComponent(userId)}`;
    const ws = new WebSocket(`ws://127.0.0.1:${port}/${query}`);
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

  return { wss, manager, port, connect, stop };
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
