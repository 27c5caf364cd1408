/**
 * What every framework adapter shares (#13): who the upgrade request
 * belongs to, answered before the WebSocket handshake, and the manager an
 * adapter was given or makes.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { ConnectionManager, type ConnectionManagerOptions, type ShutdownOptions, type ShutdownReport } from '../manager/connection-manager.js';

/** Who a connection belongs to. */
export interface UpgradeIdentity {
  userId?: string;
  metadata?: Record<string, unknown>;
}

/** A refused upgrade: answered with this HTTP status (401 by default) and no connection is made. */
export interface UpgradeRefusal {
  status: number;
  /** The response body. Default: the status text. */
  reason?: string;
}

/**
 * What `identify` may return: the identity to accept with (or nothing, to
 * accept anonymously), `false` to refuse with 401, or a {@link UpgradeRefusal}.
 */
export type UpgradeDecision = UpgradeIdentity | UpgradeRefusal | false | undefined | void;

/** Runs on the upgrade request before the handshake; may be async. A throw refuses with 500. */
export type Identify = (request: IncomingMessage) => UpgradeDecision | Promise<UpgradeDecision>;

/** Options every adapter takes. */
export interface AdapterOptions {
  /** A manager of your own, or options to make one with. Default: a new manager with default options. */
  manager?: ConnectionManager | ConnectionManagerOptions;
  /** Who the upgrade request belongs to; runs before the handshake. Default: everyone, anonymously. */
  identify?: Identify;
  /** How the framework's close drains the manager. Default: 1001, 10 s, then terminate. */
  shutdown?: ShutdownOptions;
}

/** The outcome of {@link decideUpgrade}: accept with an identity, or refuse with a status. */
export type UpgradeVerdict = { accept: true; identity: UpgradeIdentity } | { accept: false; status: number; reason: string };

const STATUS_TEXT: Readonly<Record<number, string>> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 500: 'Internal Server Error' };

/**
 * @param {ConnectionManager | ConnectionManagerOptions} [given] From the options
 * @returns {ConnectionManager} The manager to use
 */
export function managerOf(given: AdapterOptions['manager']): ConnectionManager {
  return given instanceof ConnectionManager ? given : new ConnectionManager(given);
}

/**
 * Run `identify` and turn what it returned into a verdict. Never throws:
 * a throw or a rejection is logged on the manager's logger and refuses with 500.
 *
 * @param {Identify | undefined} identify The user's function
 * @param {IncomingMessage} request The upgrade request
 * @param {(error: unknown) => void} onError Told of a throw
 * @returns {Promise<UpgradeVerdict>} What to do with the request
 */
export async function decideUpgrade(
  identify: Identify | undefined,
  request: IncomingMessage,
  onError: (error: unknown) => void
): Promise<UpgradeVerdict> {
  if (identify === undefined) return { accept: true, identity: {} };
  let decision: UpgradeDecision;
  try {
    decision = await identify(request);
  } catch (error) {
    onError(error);
    return { accept: false, status: 500, reason: STATUS_TEXT[500]! };
  }
  if (decision === false) return { accept: false, status: 401, reason: STATUS_TEXT[401]! };
  if (decision === undefined || decision === null) return { accept: true, identity: {} };
  if ('status' in decision) {
    const status = Number.isInteger(decision.status) && decision.status >= 400 && decision.status <= 599 ? decision.status : 500;
    return { accept: false, status, reason: decision.reason ?? STATUS_TEXT[status] ?? 'Refused' };
  }
  return { accept: true, identity: { userId: decision.userId, metadata: decision.metadata } };
}

/**
 * Answer an upgrade request with a plain HTTP response and end the socket:
 * the WebSocket handshake never happens.
 *
 * @param {Duplex} socket The upgrade request's socket
 * @param {number} status The HTTP status
 * @param {string} reason The response body
 */
export function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  if (socket.destroyed) return;
  const body = Buffer.from(reason);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Refused'}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\n\r\n${reason}`
  );
}

/** Identities decided before the handshake, until the framework hands over the socket. */
const identities = new WeakMap<IncomingMessage, UpgradeIdentity>();

/**
 * @param {IncomingMessage} request An upgrade request
 * @param {UpgradeIdentity} identity Who it was decided to be
 */
export function rememberIdentity(request: IncomingMessage, identity: UpgradeIdentity): void {
  identities.set(request, identity);
}

/**
 * @param {IncomingMessage} request An upgrade request
 * @returns {UpgradeIdentity} Who it was decided to be (anonymous if it was never decided)
 */
export function identityOf(request: IncomingMessage): UpgradeIdentity {
  return identities.get(request) ?? {};
}

/**
 * Make `server.close()` drain the manager first. http.Server.close() waits
 * for every socket, upgraded ones too, so without this a server with open
 * WebSockets never closes (fastify-websocket #45); with it, every client
 * gets the shutdown close (1001) and the close completes within the drain
 * timeout.
 *
 * @param {Server} server The HTTP server
 * @param {() => Promise<ShutdownReport>} drain Stops accepting and shuts the manager down; called once
 */
export function drainOnClose(server: Server, drain: () => Promise<ShutdownReport>): void {
  const serverClose = server.close.bind(server);
  server.close = ((callback?: (error?: Error) => void) => {
    void drain().then(() => serverClose(callback));
    return server;
  });
}
