/**
 * `ws-lifecycle/nest`: NestJS over `@nestjs/platform-ws` (an optional
 * peer dependency). `LifecycleWsAdapter` is Nest's `WsAdapter` with the
 * lifecycle added: `identify` runs before the handshake (ws's
 * `verifyClient`, which is what this adapter's upgrade path calls), every
 * client a gateway accepts is also a managed connection, and `app.close()`
 * drains the manager (1001) before Nest closes the servers.
 * `WsLifecycleModule.forRoot(manager)` makes the manager injectable.
 * Gateways, `@SubscribeMessage` handlers and `handleConnection` work as
 * with `WsAdapter`. Each gateway's `ws` server gets `maxPayload` 1 MiB
 * unless the gateway's options or the adapter's `ws` option say otherwise.
 */
import type { IncomingMessage } from 'node:http';
import type { ServerOptions, WebSocket, WebSocketServer } from 'ws';
import { ConnectionManager } from '../manager/connection-manager.js';
import { loadPeer } from '../core/optional-peer.js';
import { logSafely } from '../core/logging.js';
import { decideUpgrade, decidedIdentity, rememberIdentity, type UpgradeCheck } from '../manager/upgrade-gate.js';
import { adapterSetup, assertAdapterOptions, wsServerOptions, type AdapterOptions } from './upgrade.js';

/** The adapter's options: every adapter's, and defaults for each gateway's `ws` server. */
export interface NestAdapterOptions extends AdapterOptions {
  /**
   * Defaults for each gateway's `ws` server, under the gateway's own options
   * (`@WebSocketGateway({ maxPayload })` wins). `maxPayload` defaults to
   * 1 MiB (ws's own: 100 MiB), the inflated size of a compressed message
   * included; 1 to 2^31 - 1.
   */
  ws?: Omit<ServerOptions, 'server' | 'port' | 'host' | 'noServer' | 'path' | 'verifyClient'>;
}

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
    readonly #options: NestAdapterOptions;
    readonly #checks: UpgradeCheck[];

    /**
     * @param {unknown} app The Nest application (or its HTTP server)
     * @param {NestAdapterOptions} [options] Identity, origins, manager, shutdown, `ws` defaults
     * @throws {RangeError} If an option is out of range
     */
    constructor(app: unknown, options: NestAdapterOptions = {}) {
      super(app);
      const { manager, checks } = adapterSetup(options);
      this.manager = manager;
      this.#checks = checks;
      this.#options = options;
    }

    override create(port: number, options: Record<string, unknown> & { maxPayload?: number } = {}): WebSocketServer {
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
      // The gateway's options over the adapter's, then the default limit; checked here, when Nest makes the gateway's server.
      return super.create(port, { ...wsServerOptions({ ...this.#options.ws, ...options }), verifyClient });
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
type LifecycleWsAdapter = InstanceType<ReturnType<typeof defineAdapter>>;

/**
 * Nest's `WsAdapter` with the lifecycle:
 * `app.useWebSocketAdapter(await createLifecycleWsAdapter(app, { manager, identify }))`.
 *
 * @param {unknown} app The Nest application
 * @param {NestAdapterOptions} [options] Identity, origins, manager, shutdown, `ws` defaults
 * @returns The adapter
 * @throws {Error} Naming `@nestjs/platform-ws` when it is not installed
 * @throws {RangeError} If an option is out of range
 */
export async function createLifecycleWsAdapter(app: unknown, options: NestAdapterOptions = {}): Promise<LifecycleWsAdapter> {
  assertAdapterOptions(options, options.ws);
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
