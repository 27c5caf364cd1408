/**
 * What every framework adapter shares (#13, #25): the options, checked when
 * the adapter is made, the manager an adapter was given or makes, the
 * upgrade checks (`manager/upgrade-gate.ts`, shared with `manager.attach`),
 * the `ws` server's options with this package's limits (#21) and the drain
 * on the framework's close.
 */
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import type { ServerOptions } from 'ws';
import { logSafely } from '../core/logging.js';
import { ConnectionManager, type ConnectionManagerOptions, type ShutdownOptions, type ShutdownReport } from '../manager/connection-manager.js';
import { shutdownPlan } from '../manager/shutdown.js';
import { selectSubprotocol, type HandleProtocols } from '../manager/subprotocols.js';
import { assertUpgradeOptions, upgradeChecks, type UpgradeCheck, type UpgradeOptions } from '../manager/upgrade-gate.js';

export type {
  AllowedOrigins,
  ClientAddress,
  Identify,
  UpgradeDecision,
  UpgradeIdentity,
  UpgradeOptions,
  UpgradeRefusal,
  UpgradeVerdict
} from '../manager/upgrade-gate.js';
export { decidedIdentity, decideUpgrade, refuseUpgrade, rememberIdentity } from '../manager/upgrade-gate.js';

/**
 * The largest message a client may send to an adapter's server, in bytes,
 * unless its `ws` options say otherwise: 1 MiB, where ws's own default is
 * 100 MiB. With permessage-deflate, ws counts the inflated size against it.
 */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/** The largest `maxPayload` ws keeps as given (it stores `maxPayload | 0`: 2^32 would be 0, no limit). */
const MAX_MAX_PAYLOAD = 2 ** 31 - 1;

/** Options every adapter takes: the upgrade checks' (`identify`, `allowedOrigins`, `maxConnectionsPerIp`...), the manager, the drain. */
export interface AdapterOptions extends UpgradeOptions {
  /** A manager of your own, or options to make one with. Default: a new manager with default options. */
  manager?: ConnectionManager | ConnectionManagerOptions;
  /** How the framework's close drains the manager. Default: 1001, 10 s, then terminate. */
  shutdown?: ShutdownOptions;
}

/** An adapter's manager and the checks its upgrades go through. */
export interface AdapterSetup {
  manager: ConnectionManager;
  checks: UpgradeCheck[];
}

/**
 * Check an adapter's options now, when it is made, rather than at the
 * framework's close or the first upgrade, where an error would be nobody's
 * to catch.
 *
 * @param {AdapterOptions} options As given
 * @param {{ maxPayload?: number }} [ws] The adapter's `ws` options, when it takes them
 * @throws {RangeError} Naming a bad `identifyTimeoutMs`, `allowedOrigins` entry, `maxConnectionsPerIp`, `shutdown` option or `ws.maxPayload`
 * @throws {TypeError} Naming an option of the wrong type
 */
export function assertAdapterOptions(options: AdapterOptions, ws?: { maxPayload?: number }): void {
  assertUpgradeOptions(options);
  shutdownPlan(options.shutdown ?? {});
  wsServerOptions(ws);
}

/** What an adapter always sets in its `ws` server's options. */
export interface AdapterWsOptions {
  maxPayload: number;
  handleProtocols: HandleProtocols;
}

/**
 * The `ws` server options an adapter makes its server with: the
 * application's, with `maxPayload` {@link DEFAULT_MAX_PAYLOAD} unless it
 * gives one, and a `handleProtocols` that selects `ws-lifecycle.v1`
 * whenever a client offers it, whatever the order (the application's own
 * otherwise; `manager/subprotocols.ts`).
 *
 * @param {T} [given] The adapter's `ws` option
 * @returns {T & AdapterWsOptions} The options to use
 * @throws {RangeError} If `maxPayload` is not a whole number of bytes from 1 to 2^31 - 1 (ws reads 0 as no limit)
 */
export function wsServerOptions<T extends Pick<ServerOptions, 'maxPayload' | 'handleProtocols'>>(given?: T): T & AdapterWsOptions {
  const maxPayload = given?.maxPayload ?? DEFAULT_MAX_PAYLOAD;
  if (!Number.isInteger(maxPayload) || maxPayload < 1 || maxPayload > MAX_MAX_PAYLOAD) {
    throw new RangeError(`Invalid option ws.maxPayload: ${String(maxPayload)} (expected bytes from 1 to ${MAX_MAX_PAYLOAD}; ws reads 0 as no limit)`);
  }
  return { ...given, maxPayload, handleProtocols: selectSubprotocol(given?.handleProtocols) } as T & AdapterWsOptions;
}

/**
 * Check the options, and make the manager and the upgrade checks.
 *
 * @param {AdapterOptions} options As given
 * @param {() => boolean} [draining] Refuses upgrades with 503 while true; default: while the manager shuts down
 * @returns {AdapterSetup} The manager and the checks
 * @throws {RangeError} If an option is out of range
 */
export function adapterSetup(options: AdapterOptions, draining?: () => boolean): AdapterSetup {
  assertAdapterOptions(options);
  const manager = managerOf(options.manager);
  const checks = upgradeChecks({
    draining: draining ?? (() => manager.shuttingDown),
    identify: options.identify,
    identifyTimeoutMs: options.identifyTimeoutMs,
    allowedOrigins: options.allowedOrigins,
    maxConnectionsPerIp: options.maxConnectionsPerIp,
    clientAddress: options.clientAddress,
    logger: manager.logger
  });
  return { manager, checks };
}

/**
 * @param {ConnectionManager | ConnectionManagerOptions} [given] From the options
 * @returns {ConnectionManager} The manager to use
 */
export function managerOf(given: AdapterOptions['manager']): ConnectionManager {
  return given instanceof ConnectionManager ? given : new ConnectionManager(given);
}

/**
 * Make `server.close()` drain the manager first. http.Server.close() waits
 * for every socket, upgraded ones too, so without this a server with open
 * WebSockets never closes (fastify-websocket #45); with it, every client
 * gets the shutdown close (1001) and the close completes within the drain
 * timeout. A drain that fails is logged and the server closes all the same.
 *
 * @param {Server} server The HTTP server
 * @param {() => Promise<ShutdownReport>} drain Stops accepting and shuts the manager down; called once
 * @param {Logger} logger Where a failed drain is logged
 */
export function drainOnClose(server: Server, drain: () => Promise<ShutdownReport>, logger: Logger): void {
  const serverClose = server.close.bind(server);
  server.close = ((callback?: (error?: Error) => void) => {
    drain().then(
      () => serverClose(callback),
      (error: unknown) => {
        logSafely(logger, 'error', { err: error }, 'drain failed; closing the server anyway');
        serverClose(callback);
      }
    );
    return server;
  });
}
