/**
 * `ws-lifecycle/hono`: WebSockets for a Hono app on Node, over
 * `@hono/node-ws` (an optional peer dependency, with `@hono/node-server`).
 * The adapter registers the WebSocket route with the shared upgrade checks
 * (`manager/upgrade-gate.ts`) as its first middleware, so a refusal is an
 * HTTP status before the handshake, hands each socket (`WSContext.raw`) to
 * the manager, and puts the manager on every request's context
 * (`c.var.wsLifecycle`). Pass the server that `serve()` returns to
 * `injectWebSocket`; closing it drains the manager first.
 *
 * `@hono/node-ws` listens for 'upgrade' itself, with `new URL()` unguarded
 * in an async listener and no 'error' listener on the socket while the app
 * runs. So its listener is not put on the server: it is taken and called
 * from this adapter's route (`manager/server-routes.ts`), for the route's
 * path only, with the socket guarded, the URL already known to parse and
 * its promise's rejection handled.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ServerOptions, WebSocket, WebSocketServer } from 'ws';
import { loadPeer } from '../core/optional-peer.js';
import { logSafely } from '../core/logging.js';
import type { ConnectionManager, ShutdownReport } from '../manager/connection-manager.js';
import { ServerRoutes } from '../manager/server-routes.js';
import { decideUpgrade, decidedIdentity, rememberIdentity, releaseUpgradeSocket } from '../manager/upgrade-gate.js';
import { adapterSetup, assertAdapterOptions, drainOnClose, wsServerOptions, type AdapterOptions } from './upgrade.js';

/** The Hono context this adapter reads and writes (kept structural: Hono's own types are generic per app). */
interface HonoContext {
  env: { incoming: IncomingMessage };
  set(key: 'wsLifecycle', value: ConnectionManager): void;
  text(text: string, status: number): Response;
}
type Next = () => Promise<void>;
type Handler = (c: HonoContext, next: Next) => Promise<Response | void>;

/** The shape of a Hono app this adapter needs. */
export interface HonoApp {
  use(path: string, ...handlers: Handler[]): unknown;
  get(path: string, ...handlers: Handler[]): unknown;
}

type UpgradeListener = (request: IncomingMessage, socket: Duplex, head: Buffer) => unknown;

interface NodeWebSocket {
  /** The `ws` server `@hono/node-ws` made (`noServer`); ws reads the options below at each upgrade. */
  wss?: WebSocketServer;
  injectWebSocket(server: Server): void;
  upgradeWebSocket(createEvents: (c: HonoContext) => { onOpen?: (event: Event, ws: { raw?: unknown }) => void }): Handler;
}

/** The options of `@hono/node-ws`'s `ws` server that ws reads at each upgrade, and so can be set on the server it made. */
export type HonoWsOptions = Pick<ServerOptions, 'maxPayload' | 'perMessageDeflate' | 'skipUTF8Validation' | 'allowSynchronousEvents' | 'autoPong'>;

export interface HonoAdapterOptions extends AdapterOptions {
  /** The route WebSockets are accepted on. Default `/ws`. */
  path?: string;
  /**
   * Options for `@hono/node-ws`'s `ws` server. `maxPayload` defaults to
   * 1 MiB (ws's own: 100 MiB), the inflated size of a compressed message
   * included; 1 to 2^31 - 1.
   */
  ws?: HonoWsOptions;
}

/** What {@link wsLifecycle} resolves to. */
export interface HonoLifecycle {
  manager: ConnectionManager;
  /** Take upgrades of the route's path from the server `serve()` returned, and drain the manager when it closes. */
  injectWebSocket(server: Server): void;
  /** Drain the manager (1001) now; closing the server does this too. */
  close(): Promise<ShutdownReport>;
}

/**
 * Give a Hono app a WebSocket route into a manager. Call it before the
 * routes that read `c.var.wsLifecycle`.
 *
 * @param {HonoApp} app The Hono app
 * @param {HonoAdapterOptions} [options] Path, identity, manager
 * @returns {Promise<HonoLifecycle>} The manager, and where to inject the server
 * @throws {RangeError} If an option is out of range (the promise rejects)
 */
export async function wsLifecycle(app: HonoApp, options: HonoAdapterOptions = {}): Promise<HonoLifecycle> {
  assertAdapterOptions(options, options.ws);
  const { createNodeWebSocket } = await loadPeer<{ createNodeWebSocket: (init: { app: HonoApp }) => NodeWebSocket }>(
    '@hono/node-ws',
    'ws-lifecycle/hono'
  );
  let draining: Promise<ShutdownReport> | undefined;
  const { manager, checks } = adapterSetup(options, () => draining !== undefined || manager.shuttingDown);
  const path = options.path ?? '/ws';
  const node = createNodeWebSocket({ app });
  limitServer(node, options.ws);
  const nodeUpgrade = upgradeListenerOf(node);
  const close = (): Promise<ShutdownReport> => (draining ??= manager.shutdown(options.shutdown));

  app.use('*', async (c, next) => {
    c.set('wsLifecycle', manager);
    await next();
  });
  app.get(
    path,
    async (c, next) => {
      const verdict = await decideUpgrade(checks, c.env.incoming, manager.logger);
      if (!verdict.accept) return c.text(verdict.reason, verdict.status);
      rememberIdentity(c.env.incoming, verdict.identity);
      await next();
    },
    node.upgradeWebSocket((c) => ({
      onOpen: (_event, ws) => {
        releaseUpgradeSocket(c.env.incoming.socket);
        manager.accept(ws.raw as WebSocket, { ...decidedIdentity(c.env.incoming), request: c.env.incoming });
      }
    }))
  );
  return {
    manager,
    injectWebSocket(server) {
      ServerRoutes.of(server).addUpgrade({
        path,
        upgrade(request, socket, head) {
          Promise.resolve()
            .then(() => nodeUpgrade(request, socket, head))
            .catch((error: unknown) => {
              logSafely(manager.logger, 'error', { err: error }, 'upgrade failed; socket destroyed');
              socket.destroy();
            });
        }
      });
      drainOnClose(server, close, manager.logger);
    },
    close
  };
}

/**
 * Give `@hono/node-ws`'s `ws` server this adapter's `ws` options (it makes
 * it with ws's defaults: 100 MiB messages). ws reads them at each upgrade.
 *
 * @throws {Error} If this version of `@hono/node-ws` does not expose its server
 */
function limitServer(node: NodeWebSocket, given: HonoWsOptions | undefined): void {
  if (node.wss === undefined) throw new Error("ws-lifecycle/hono: @hono/node-ws's createNodeWebSocket returned no wss, so maxPayload cannot be set (expected @hono/node-ws ^1.3)");
  const options = wsServerOptions(given);
  // As ws's constructor does: `true` is deflate with its defaults.
  Object.assign(node.wss.options, options, options.perMessageDeflate === true ? { perMessageDeflate: {} } : {});
}

/**
 * `@hono/node-ws`'s 'upgrade' listener, taken instead of put on a server.
 *
 * @throws {Error} If this version of `@hono/node-ws` registers none
 */
function upgradeListenerOf(node: NodeWebSocket): UpgradeListener {
  let listener: UpgradeListener | undefined;
  const taker = { on: (event: string, fn: UpgradeListener) => (event === 'upgrade' ? (listener = fn) : undefined) };
  node.injectWebSocket(taker as unknown as Server);
  if (listener === undefined) throw new Error("ws-lifecycle/hono: @hono/node-ws's injectWebSocket registered no 'upgrade' listener");
  return listener;
}
