/**
 * `ws-lifecycle/express`: WebSockets for an Express app. Express routes
 * HTTP requests only, so the upgrade is taken from the app's HTTP server
 * (the one `app.listen()` returns, or one you made), checked before the
 * handshake like `ws-lifecycle/http`. The manager is `app.locals.wsLifecycle`.
 * Closing the server drains the manager first. The options are checked
 * when the adapter is made, not when `app.listen()` runs.
 */
import type { Server } from 'node:http';
import type { ConnectionManager } from '../manager/connection-manager.js';
import { attachToServer, type HttpAdapterOptions, type HttpLifecycle } from './http.js';
import { assertAdapterOptions, managerOf } from './upgrade.js';

/** The shape of an Express app this adapter needs (Express 4 and 5). */
export interface ExpressApp {
  locals: Record<string, unknown>;
  listen(...args: unknown[]): Server;
}

export type ExpressAdapterOptions = HttpAdapterOptions;

/** What {@link wsLifecycle} returns. */
export interface ExpressLifecycle {
  manager: ConnectionManager;
  /** Set once the server is known: at once when `server` is given, else when `app.listen()` runs. */
  readonly http: HttpLifecycle | undefined;
}

/**
 * Give an Express app a manager: `app.locals.wsLifecycle`.
 *
 * @param {ExpressApp} app The Express app
 * @param {ExpressAdapterOptions} [options] Path, identity, manager, ws options
 * @param {Server} [server] The app's HTTP server; default: the one `app.listen()` will create
 * @returns {ExpressLifecycle} The manager
 * @throws {RangeError} If an option is out of range
 */
export function wsLifecycle(app: ExpressApp, options: ExpressAdapterOptions = {}, server?: Server): ExpressLifecycle {
  assertAdapterOptions(options, options.ws);
  const manager = managerOf(options.manager);
  const adapterOptions = { ...options, manager };
  const state: { http: HttpLifecycle | undefined } = { http: server === undefined ? undefined : attachToServer(server, adapterOptions) };
  if (server === undefined) {
    const listen = app.listen.bind(app);
    app.listen = (...args: unknown[]): Server => {
      const created = listen(...args);
      state.http ??= attachToServer(created, adapterOptions);
      return created;
    };
  }
  app.locals.wsLifecycle = manager;
  return {
    manager,
    get http() {
      return state.http;
    }
  };
}
