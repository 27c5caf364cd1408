/**
 * What every framework adapter shares (#13, #25): the options, checked when
 * the adapter is made, the manager an adapter was given or makes, the
 * upgrade checks (`manager/upgrade-gate.ts`, shared with `manager.attach`)
 * and the drain on the framework's close.
 */
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { DEFAULTS } from '../core/constants.js';
import { logSafely } from '../core/logging.js';
import { assertDuration } from '../core/validation.js';
import { ConnectionManager, type ConnectionManagerOptions, type ShutdownOptions, type ShutdownReport } from '../manager/connection-manager.js';
import { shutdownPlan } from '../manager/shutdown.js';
import { upgradeChecks, type Identify, type UpgradeCheck } from '../manager/upgrade-gate.js';

export type { Identify, UpgradeDecision, UpgradeIdentity, UpgradeRefusal, UpgradeVerdict } from '../manager/upgrade-gate.js';
export { decidedIdentity, decideUpgrade, refuseUpgrade, rememberIdentity } from '../manager/upgrade-gate.js';

/** Options every adapter takes. */
export interface AdapterOptions {
  /** A manager of your own, or options to make one with. Default: a new manager with default options. */
  manager?: ConnectionManager | ConnectionManagerOptions;
  /** Who the upgrade request belongs to; runs before the handshake. Default: everyone, anonymously. */
  identify?: Identify;
  /** How long `identify` may take; then the upgrade is refused with 503. Default 10000 (1 to 2^31 - 1). */
  identifyTimeoutMs?: number;
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
 * framework's close, where a `RangeError` would be nobody's to catch.
 *
 * @param {AdapterOptions} options As given
 * @throws {RangeError} Naming a bad `identifyTimeoutMs` or `shutdown` option
 */
export function assertAdapterOptions(options: AdapterOptions): void {
  assertDuration('identifyTimeoutMs', options.identifyTimeoutMs ?? DEFAULTS.identifyTimeoutMs);
  shutdownPlan(options.shutdown ?? {});
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
    identifyTimeoutMs: options.identifyTimeoutMs ?? DEFAULTS.identifyTimeoutMs,
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
