/**
 * `manager.attach(wss)`: every connection of a `WebSocketServer`, through
 * the shared upgrade checks before the handshake (`upgrade-gate.ts`, #25:
 * `Origin`, `maxConnectionsPerIp`, `identify` with its timeout, #21). The
 * checks are the server's `verifyClient`, which ws calls from
 * `handleUpgrade` with the socket guarded by its own 'error' listener,
 * whether ws listens itself (`port`, `server`) or the application calls
 * `handleUpgrade` (`noServer`). A `verifyClient` the application set runs
 * after them; `detach` puts it back. A socket handed to the server without
 * `handleUpgrade` skipped them, and is closed with 1008. The server selects
 * `ws-lifecycle.v1` whenever a client offers it (`subprotocols.ts`), and
 * the application's `handleProtocols` otherwise; `detach` puts it back.
 */
import type { IncomingMessage } from 'node:http';
import type { WebSocket, WebSocketServer } from 'ws';
import type { Logger } from 'pino';
import { CLOSE_CODES } from '../core/constants.js';
import type { Connection } from '../core/connection.js';
import { logSafely } from '../core/logging.js';
import type { AcceptOptions, AttachOptions } from './options.js';
import { selectSubprotocol, type HandleProtocols } from './subprotocols.js';
import { decideUpgrade, decidedIdentity, rememberIdentity, upgradeChecks } from './upgrade-gate.js';

/** What attaching needs of the manager. */
export interface AttachTarget {
  readonly logger: Logger;
  accept(ws: WebSocket, options: AcceptOptions): Connection;
}

type VerifyInfo = { origin: string; secure: boolean; req: IncomingMessage };
type VerifyCallback = (result: boolean, code?: number, message?: string, headers?: Record<string, string>) => void;
type VerifyClient = ((info: VerifyInfo) => boolean) | ((info: VerifyInfo, callback: VerifyCallback) => void);

/**
 * @param {AttachTarget} manager Accepts the sockets
 * @param {WebSocketServer} wss The server
 * @param {AttachOptions} options The upgrade checks' options
 * @returns {() => void} Detaches
 * @throws {RangeError | TypeError} If an option is bad, naming it
 */
export function attachServer(manager: AttachTarget, wss: WebSocketServer, options: AttachOptions): () => void {
  const logger = manager.logger;
  const checks = upgradeChecks({ ...options, logger });
  const serverOptions = wss.options as { verifyClient?: VerifyClient | null; handleProtocols?: HandleProtocols | null };
  const theirs = serverOptions.verifyClient ?? undefined;
  const theirProtocols = serverOptions.handleProtocols ?? null;
  const ourProtocols = selectSubprotocol(theirProtocols);
  const ours = (info: VerifyInfo, callback: VerifyCallback): void => {
    void decideUpgrade(checks, info.req, logger)
      .then((verdict) => {
        if (!verdict.accept) return callback(false, verdict.status, verdict.reason);
        rememberIdentity(info.req, verdict.identity);
        if (theirs === undefined) return callback(true);
        if (theirs.length === 2) return theirs(info, callback);
        callback((theirs as (info: VerifyInfo) => boolean)(info));
      })
      .catch((error: unknown) => {
        // ws threw from the callback (the socket upgraded twice) or the application's verifyClient threw.
        logSafely(logger, 'error', { err: error }, 'upgrade failed after the upgrade checks');
        info.req.socket.destroy();
      });
  };
  serverOptions.verifyClient = ours;
  serverOptions.handleProtocols = ourProtocols;
  const onConnection = (ws: WebSocket, request: IncomingMessage): void => {
    const identity = decidedIdentity(request);
    if (identity === undefined) {
      // Handed over without going through handleUpgrade's checks (Origin, identify): fail closed, with a code the peer can read.
      void manager.accept(ws, { request }).close(CLOSE_CODES.POLICY_VIOLATION, 'upgrade not checked');
      return;
    }
    manager.accept(ws, { ...identity, request });
  };
  wss.on('connection', onConnection);
  return () => {
    wss.off('connection', onConnection);
    if (serverOptions.verifyClient === ours) serverOptions.verifyClient = theirs ?? null;
    if (serverOptions.handleProtocols === ourProtocols) serverOptions.handleProtocols = theirProtocols;
  };
}
