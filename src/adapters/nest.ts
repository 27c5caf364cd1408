/**
 * `ws-lifecycle/nest`: NestJS over `@nestjs/platform-ws` (an optional
 * peer dependency). `LifecycleWsAdapter` is Nest's `WsAdapter` with the
 * lifecycle added: `identify` runs before the handshake (ws's
 * `verifyClient`, which is what this adapter's upgrade path calls), every
 * client a gateway accepts is also a managed connection, and `app.close()`
 * drains the manager (1001) before Nest closes the servers.
 * `WsLifecycleModule.forRoot(manager)` makes the manager injectable.
 * Gateways, `@SubscribeMessage` handlers and `handleConnection` work as
 * with `WsAdapter`.
 */
import type { IncomingMessage } from 'node:http';
import type { WebSocket, WebSocketServer } from 'ws';
import { ConnectionManager } from '../manager/connection-manager.js';
import { loadPeer } from '../core/optional-peer.js';
import { logSafely } from '../core/logging.js';
import { decideUpgrade, decidedIdentity, rememberIdentity, type UpgradeCheck } from '../manager/upgrade-gate.js';
import { adapterSetup, assertAdapterOptions, type AdapterOptions } from './upgrade.js';

interface WsAdapterClass {
  new (appOrHttpServer?: unknown): {
    create(port: number, options?: Record<string, unknown>): WebSocketServer;
    bindClientConnect(server: WebSocketServer, callback: (...args: unknown[]) => void): void;
    close(server: WebSocketServer): Promise<void>;
  };
}

type VerifyCallback = (result: boolean, code?: number, message?: string) => void;

/**
 * Make the adapter class around Nest's `WsAdapter`.
 *
 * @returns The class; `new LifecycleWsAdapter(app, options)`
 */
function defineAdapter(WsAdapter: WsAdapterClass) {
  return class LifecycleWsAdapter extends WsAdapter {
    /** The manager every accepted client joins. */
    readonly manager: ConnectionManager;
    readonly #options: AdapterOptions;
    readonly #checks: UpgradeCheck[];

    /**
     * @param {unknown} app The Nest application (or its HTTP server)
     * @param {AdapterOptions} [options] Identity, manager, shutdown
     * @throws {RangeError} If an option is out of range
     */
    constructor(app: unknown, options: AdapterOptions = {}) {
      super(app);
      const { manager, checks } = adapterSetup(options);
      this.manager = manager;
      this.#checks = checks;
      this.#options = options;
    }

    override create(port: number, options: Record<string, unknown> = {}): WebSocketServer {
      // ws calls verifyClient from handleUpgrade, with the socket guarded by its own 'error' listener; Nest chose the path.
      const verifyClient = (info: { req: IncomingMessage }, callback: VerifyCallback): void => {
        decideUpgrade(this.#checks, info.req, this.manager.logger)
          .then((verdict) => {
            if (!verdict.accept) return callback(false, verdict.status, verdict.reason);
            rememberIdentity(info.req, verdict.identity);
            callback(true);
          })
          .catch((error: unknown) => {
            logSafely(this.manager.logger, 'error', { err: error }, 'upgrade failed; socket destroyed');
            info.req.socket.destroy();
          });
      };
      return super.create(port, { ...options, verifyClient });
    }

    override bindClientConnect(server: WebSocketServer, callback: (...args: unknown[]) => void): void {
      server.on('connection', (ws: WebSocket, request: IncomingMessage) => {
        this.manager.accept(ws, { ...decidedIdentity(request), request });
        callback(ws, request);
      });
    }

    override async close(server: WebSocketServer): Promise<void> {
      await this.manager.shutdown(this.#options.shutdown);
      await super.close(server);
    }
  };
}

let adapterClass: ReturnType<typeof defineAdapter> | undefined;

/**
 * Nest's `WsAdapter` with the lifecycle:
 * `app.useWebSocketAdapter(await createLifecycleWsAdapter(app, { manager, identify }))`.
 *
 * @param {unknown} app The Nest application
 * @param {AdapterOptions} [options] Identity, manager, shutdown
 * @returns The adapter
 * @throws {Error} Naming `@nestjs/platform-ws` when it is not installed
 * @throws {RangeError} If an option is out of range
 */
export async function createLifecycleWsAdapter(app: unknown, options: AdapterOptions = {}): Promise<InstanceType<ReturnType<typeof defineAdapter>>> {
  assertAdapterOptions(options);
  if (adapterClass === undefined) {
    const { WsAdapter } = await loadPeer<{ WsAdapter: WsAdapterClass }>('@nestjs/platform-ws', 'ws-lifecycle/nest');
    adapterClass = defineAdapter(WsAdapter);
  }
  return new adapterClass(app, options);
}

/** A Nest dynamic module that provides the manager (token: the `ConnectionManager` class) everywhere. */
export class WsLifecycleModule {
  /**
   * @param {ConnectionManager} manager The manager the adapter uses
   * @returns The dynamic module: `imports: [WsLifecycleModule.forRoot(manager)]`
   */
  static forRoot(manager: ConnectionManager): {
    module: typeof WsLifecycleModule;
    global: boolean;
    providers: Array<{ provide: typeof ConnectionManager; useValue: ConnectionManager }>;
    exports: Array<typeof ConnectionManager>;
  } {
    return { module: WsLifecycleModule, global: true, providers: [{ provide: ConnectionManager, useValue: manager }], exports: [ConnectionManager] };
  }
}
