/**
 * `ws-lifecycle/hono`: WebSockets for a Hono app on Node, over
 * `@hono/node-ws` (an optional peer dependency, with `@hono/node-server`).
 * The adapter registers the WebSocket route with `identify` as its first
 * middleware, so a refusal is an HTTP status before the handshake, hands
 * each socket (`WSContext.raw`) to the manager, and puts the manager on
 * every request's context (`c.var.wsLifecycle`). Pass the server that
 * `serve()` returns to `injectWebSocket`; closing it drains the manager first.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { WebSocket } from 'ws';
import type { ConnectionManager, ShutdownReport } from '../manager/connection-manager.js';
import { loadPeer } from '../core/optional-peer.js';
import { decideUpgrade, drainOnClose, identityOf, managerOf, rememberIdentity, type AdapterOptions } from './upgrade.js';

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

interface NodeWebSocket {
  injectWebSocket(server: Server): void;
  upgradeWebSocket(createEvents: (c: HonoContext) => { onOpen?: (event: Event, ws: { raw?: unknown }) => void }): Handler;
}

export interface HonoAdapterOptions extends AdapterOptions {
  /** The route WebSockets are accepted on. Default `/ws`. */
  path?: string;
}

/** What {@link wsLifecycle} resolves to. */
export interface HonoLifecycle {
  manager: ConnectionManager;
  /** Take upgrades from the server `serve()` returned, and drain the manager when it closes. */
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
 */
export async function wsLifecycle(app: HonoApp, options: HonoAdapterOptions = {}): Promise<HonoLifecycle> {
  const { createNodeWebSocket } = await loadPeer<{ createNodeWebSocket: (init: { app: HonoApp }) => NodeWebSocket }>(
    '@hono/node-ws',
    'ws-lifecycle/hono'
  );
  const manager = managerOf(options.manager);
  const node = createNodeWebSocket({ app });
  const logError = (error: unknown): void => manager.logger.error({ err: error }, 'identify threw; upgrade refused with 500');
  let draining: Promise<ShutdownReport> | undefined;
  const close = (): Promise<ShutdownReport> => (draining ??= manager.shutdown(options.shutdown));

  app.use('*', async (c, next) => {
    c.set('wsLifecycle', manager);
    await next();
  });
  app.get(
    options.path ?? '/ws',
    async (c, next) => {
      if (draining) return c.text('server shutting down', 503);
      const verdict = await decideUpgrade(options.identify, c.env.incoming, logError);
      if (!verdict.accept) return c.text(verdict.reason, verdict.status);
      rememberIdentity(c.env.incoming, verdict.identity);
      await next();
    },
    node.upgradeWebSocket((c) => ({
      onOpen: (_event, ws) => {
        manager.accept(ws.raw as WebSocket, { ...identityOf(c.env.incoming), request: c.env.incoming });
      }
    }))
  );
  return {
    manager,
    injectWebSocket(server) {
      node.injectWebSocket(server);
      drainOnClose(server, close);
    },
    close
  };
}
