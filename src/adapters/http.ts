/**
 * `ws-lifecycle/http`: a plain `http.Server` (or `https.Server`). The
 * request is authenticated in the server's `'upgrade'` event, before the
 * handshake, as ws recommends over `verifyClient` (ws #377); a refusal is
 * an HTTP status and no connection. `server.close()` drives the drain:
 * every client gets 1001 and the close completes within the drain timeout
 * instead of waiting for sockets nobody closes.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type ServerOptions } from 'ws';
import type { ConnectionManager, ShutdownReport } from '../manager/connection-manager.js';
import { decideUpgrade, drainOnClose, managerOf, refuseUpgrade, type AdapterOptions } from './upgrade.js';

export interface HttpAdapterOptions extends AdapterOptions {
  /** The request path WebSockets are accepted on; other paths are left to other `'upgrade'` listeners (404 if there are none). Default: any path. */
  path?: string;
  /** Options for the `ws` server (`maxPayload`, `perMessageDeflate`...); `noServer` is set. */
  ws?: Omit<ServerOptions, 'server' | 'port' | 'host' | 'noServer' | 'path'>;
}

/** What {@link attachToServer} returns. */
export interface HttpLifecycle {
  manager: ConnectionManager;
  wss: WebSocketServer;
  /** Stop accepting, drain the manager (1001), close the `ws` server. `server.close()` calls it too. */
  close(): Promise<ShutdownReport>;
}

/**
 * Accept WebSockets on `server` into a manager.
 *
 * @param {Server} server A Node HTTP(S) server, listening or not
 * @param {HttpAdapterOptions} [options] Path, identity, manager, ws options
 * @returns {HttpLifecycle} The manager and the `ws` server
 */
export function attachToServer(server: Server, options: HttpAdapterOptions = {}): HttpLifecycle {
  const manager = managerOf(options.manager);
  const wss = new WebSocketServer({ ...options.ws, noServer: true });
  const logError = (error: unknown): void => manager.logger.error({ err: error }, 'identify threw; upgrade refused with 500');
  let draining: Promise<ShutdownReport> | undefined;

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (options.path !== undefined && new URL(request.url ?? '/', 'http://localhost').pathname !== options.path) {
      // Another listener may own this path; answer only when none does.
      if (server.listenerCount('upgrade') === 1) refuseUpgrade(socket, 404, 'Not Found');
      return;
    }
    if (draining) {
      refuseUpgrade(socket, 503, 'server shutting down');
      return;
    }
    void decideUpgrade(options.identify, request, logError).then((verdict) => {
      if (!verdict.accept) return refuseUpgrade(socket, verdict.status, verdict.reason);
      // The client may have gone while identify ran.
      if (socket.destroyed) return;
      wss.handleUpgrade(request, socket, head, (ws) => manager.accept(ws, { ...verdict.identity, request }));
    });
  };
  server.on('upgrade', onUpgrade);

  const close = (): Promise<ShutdownReport> => {
    draining ??= manager.shutdown(options.shutdown).finally(() => {
      server.off('upgrade', onUpgrade);
      wss.close();
    });
    return draining;
  };
  drainOnClose(server, close);

  return { manager, wss, close };
}
