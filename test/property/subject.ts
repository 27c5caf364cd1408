/**
 * What the lifecycle property exercises: a server-side sender of WebSocket
 * messages. The property takes the subject as a parameter, so the same
 * generators and checks run against `ConnectionManager` and against a
 * deliberately naive sender.
 */
import type { WebSocket, WebSocketServer } from 'ws';
import type { CloseInfo, ConnectionState, SendReport, SendResult } from '../../src/index.js';
import { startServer } from '../support/server.js';

/** One server-side connection as the subject sees it. */
export interface SubjectConnection {
  readonly id: string;
  readonly userId: string | undefined;
  readonly state: ConnectionState;
  /** Resolves once the connection is `closed`. */
  readonly closed: Promise<CloseInfo>;
  /** Send on the connection's own handle. */
  send(message: unknown): Promise<SendResult>;
  /** Server-initiated close handshake. */
  close(code: number, reason: string): void;
  /** Server-side destruction without a handshake. */
  terminate(): void;
}

/** A sender with a server: the thing under test. */
export interface LifecycleSubject {
  readonly wss: WebSocketServer;
  readonly port: number;
  /** Live connections, as `broadcast` sees them. */
  readonly size: number;
  /** Live connections of one user, as `sendToUser` sees them. */
  userSize(userId: string): number;
  /** The handle of a socket the subject accepted (available in a later 'connection' listener). */
  connectionOf(ws: WebSocket): SubjectConnection | undefined;
  send(id: string, message: unknown): Promise<SendResult>;
  broadcast(message: unknown): Promise<SendReport>;
  sendToUser(userId: string, message: unknown): Promise<SendReport>;
  close(id: string, code: number, reason: string): void;
  /** Called on every change of state of every connection. */
  onTransition(listener: (id: string, from: ConnectionState, to: ConnectionState) => void): void;
  /** Stop the server; every socket must already be closed. */
  stop(): Promise<void>;
}

/** Starts a fresh subject on 127.0.0.1. */
export type SubjectFactory = (options: { closeTimeoutMs: number }) => Promise<LifecycleSubject>;

/**
 * The real thing: a `ConnectionManager` attached to a `WebSocketServer`,
 * heartbeat off so only the generated operations close connections.
 */
export const managerSubject: SubjectFactory = async ({ closeTimeoutMs }) => {
  const server = await startServer({ closeTimeoutMs, heartbeatIntervalMs: 0 });
  const { manager } = server;
  const bySocket = new WeakMap<WebSocket, SubjectConnection>();
  manager.on('connection', (connection) => bySocket.set(connection.socket, connection));
  return {
    wss: server.wss,
    port: server.port,
    get size() {
      return manager.size;
    },
    userSize: (userId) => manager.connectionsOf(userId).length,
    connectionOf: (ws) => bySocket.get(ws),
    send: (id, message) => manager.send(id, message),
    broadcast: (message) => manager.broadcast(message),
    sendToUser: (userId, message) => manager.sendToUser(userId, message),
    close: (id, code, reason) => void manager.close(id, code, reason),
    onTransition: (listener) => manager.on('transition', (connection, record) => listener(connection.id, record.from, record.to)),
    stop: () => server.stop()
  };
};
