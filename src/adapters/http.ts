/**
 * `ws-lifecycle/http`: a plain `http.Server` (or `https.Server`). The
 * request goes through the shared upgrade checks (`manager/upgrade-gate.ts`)
 * in the server's `'upgrade'` event, before the handshake, as ws
 * recommends over `verifyClient` (ws #377); a refusal is an HTTP status and
 * no connection. The upgrade reaches this adapter through the server's
 * routes (`manager/server-routes.ts`), so an inspector or another listener
 * on the same server never sees it twice. `server.close()` drives the
 * drain: every client gets 1001 and the close completes within the drain
 * timeout instead of waiting for sockets nobody closes.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type ServerOptions } from 'ws';
import { logSafely } from '../core/logging.js';
import type { ConnectionManager, ShutdownReport } from '../manager/connection-manager.js';
import { ServerRoutes } from '../manager/server-routes.js';
import { decideUpgrade, refuseUpgrade, releaseUpgradeSocket } from '../manager/upgrade-gate.js';
import { adapterSetup, drainOnClose, wsServerOptions, type AdapterOptions } from './upgrade.js';

export interface HttpAdapterOptions extends AdapterOptions {
  /**
   * The request path WebSockets are accepted on; upgrades of other paths go
   * to the server's other `'upgrade'` listeners, or are answered 404 when
   * there are none. Default: every path no other route owns.
   */
  path?: string;
  /**
   * Options for the `ws` server (`perMessageDeflate`...); `noServer` is set.
   * `maxPayload` defaults to 1 MiB (ws's own: 100 MiB), the inflated size
   * of a compressed message included; 1 to 2^31 - 1.
   */
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
 * @throws {RangeError} If an option is out of range, or the path is already taken on this server
 */
export function attachToServer(server: Server, options: HttpAdapterOptions = {}): HttpLifecycle {
  let draining: Promise<ShutdownReport> | undefined;
  const wsOptions = wsServerOptions(options.ws);
  const { manager, checks } = adapterSetup(options, () => draining !== undefined || manager.shuttingDown);
  const wss = new WebSocketServer({ ...wsOptions, noServer: true });

  const upgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    decideUpgrade(checks, request, manager.logger)
      .then((verdict) => {
        if (!verdict.accept) return refuseUpgrade(socket, verdict.status, verdict.reason);
        // The client may have gone while identify ran.
        if (socket.destroyed) return;
        wss.handleUpgrade(request, socket, head, (ws) => {
          releaseUpgradeSocket(socket);
          manager.accept(ws, { ...verdict.identity, request });
        });
      })
      .catch((error: unknown) => {
        logSafely(manager.logger, 'error', { err: error }, 'upgrade failed; socket destroyed');
        socket.destroy();
      });
  };
  const removeRoute = ServerRoutes.of(server).addUpgrade({ path: options.path, upgrade });

  const close = (): Promise<ShutdownReport> => {
    draining ??= manager.shutdown(options.shutdown).finally(() => {
      removeRoute();
      wss.close();
    });
    return draining;
  };
  drainOnClose(server, close, manager.logger);

  return { manager, wss, close };
}
