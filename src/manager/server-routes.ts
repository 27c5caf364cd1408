/**
 * One HTTP server's upgrades and requests, shared between what this
 * package serves on it (#25): the http, Express and Hono adapters' WebSocket
 * routes and the inspector's page and socket. Each owns a path; every
 * upgrade and request reaches at most one of them, and one none owns goes
 * on to the server's other listeners as if this package were not there.
 *
 * Node calls every listener of an event, so two listeners that each answer
 * "their" requests answer some twice (ws: "handleUpgrade() was called more
 * than once"; Node: ERR_HTTP_HEADERS_SENT), and two that each leave to the
 * other what they do not own leave some unanswered. So the routes are not
 * listeners: the server's `emit` is wrapped once, and for 'upgrade' and
 * 'request' the routes are asked first, whatever order listeners were added
 * in (what engine.io does for its path).
 *
 * An upgrade: its socket is guarded at once (see `upgrade-gate.ts`); a URL
 * that does not parse is answered 400; the route whose path is the
 * request's takes it, else the route without a path (an adapter that
 * accepts any path), else the server's other 'upgrade' listeners, else
 * nobody: 404. A request: the route whose path is the request's takes it,
 * else the server's other listeners, untouched, else nobody: 404.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { guardUpgradeSocket, refuseUpgrade, requestUrl } from './upgrade-gate.js';

/** Takes the upgrades of one path, or of every path no other route owns. */
export interface UpgradeRoute {
  /** The pathname owned; `undefined`: every upgrade no route with a path owns. */
  readonly path: string | undefined;
  /** Must not throw; the socket is already guarded. */
  upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void;
}

/** Takes the HTTP requests of one path. */
export interface RequestRoute {
  readonly path: string;
  /** Must not throw. */
  request(request: IncomingMessage, response: ServerResponse): void;
}

type Emit = Server['emit'];
type AnyEmit = (this: Server, event: string | symbol, ...args: unknown[]) => boolean;

const routesOf = new WeakMap<Server, ServerRoutes>();

/** Makes Node treat upgrades as upgrades (it sends them to 'request' when no 'upgrade' listener exists); does nothing. */
function routedUpgrade(): void {}

/** The routes of one server. */
export class ServerRoutes {
  readonly #server: Server;
  readonly #upgrades: UpgradeRoute[] = [];
  readonly #requests: RequestRoute[] = [];
  readonly #emit: AnyEmit;
  readonly #routedEmit: Emit;

  /**
   * @param {Server} server An HTTP(S) server
   * @returns {ServerRoutes} Its routes, made on first use
   */
  static of(server: Server): ServerRoutes {
    let routes = routesOf.get(server);
    if (routes === undefined) {
      routes = new ServerRoutes(server);
      routesOf.set(server, routes);
    }
    return routes;
  }

  private constructor(server: Server) {
    this.#server = server;
    // eslint-disable-next-line @typescript-eslint/unbound-method -- called with the server as `this`, as Node does
    const emit = server.emit as AnyEmit;
    this.#emit = emit;
    const upgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): boolean => this.#upgrade(request, socket, head);
    const request = (incoming: IncomingMessage, response: ServerResponse): boolean => this.#request(incoming, response);
    this.#routedEmit = function (this: Server, event: string | symbol, ...args: unknown[]): boolean {
      if (event === 'upgrade') return upgrade(args[0] as IncomingMessage, args[1] as Duplex, args[2] as Buffer);
      if (event === 'request' && request(args[0] as IncomingMessage, args[1] as ServerResponse)) return true;
      return emit.call(this, event, ...args);
    } as Emit;
  }

  /**
   * @param {UpgradeRoute} route Takes the upgrades of its path
   * @returns {() => void} Removes the route
   * @throws {RangeError} If another route already owns the same path
   */
  addUpgrade(route: UpgradeRoute): () => void {
    if (this.#upgrades.some((other) => other.path === route.path)) {
      throw new RangeError(`Upgrades of ${route.path === undefined ? 'every path' : JSON.stringify(route.path)} on this server are already taken by ws-lifecycle`);
    }
    this.#upgrades.push(route);
    if (this.#upgrades.length === 1) this.#server.on('upgrade', routedUpgrade);
    this.#wrap();
    return () => {
      const index = this.#upgrades.indexOf(route);
      if (index === -1) return;
      this.#upgrades.splice(index, 1);
      if (this.#upgrades.length === 0) this.#server.off('upgrade', routedUpgrade);
      this.#unwrapIfIdle();
    };
  }

  /**
   * @param {RequestRoute} route Takes the requests of its path
   * @returns {() => void} Removes the route
   * @throws {RangeError} If another route already owns the same path
   */
  addRequest(route: RequestRoute): () => void {
    if (this.#requests.some((other) => other.path === route.path)) {
      throw new RangeError(`Requests of ${JSON.stringify(route.path)} on this server are already taken by ws-lifecycle`);
    }
    this.#requests.push(route);
    this.#wrap();
    return () => {
      const index = this.#requests.indexOf(route);
      if (index === -1) return;
      this.#requests.splice(index, 1);
      this.#unwrapIfIdle();
    };
  }

  #wrap(): void {
    if (this.#server.emit !== this.#routedEmit) this.#server.emit = this.#routedEmit;
  }

  /** No routes left: give the server its own emit back, unless someone wrapped it after this (then this stays, passing through). */
  #unwrapIfIdle(): void {
    if (this.#upgrades.length > 0 || this.#requests.length > 0) return;
    if (this.#server.emit === this.#routedEmit) this.#server.emit = this.#emit as Emit;
  }

  #upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    guardUpgradeSocket(socket);
    const url = requestUrl(request);
    if (url === undefined) {
      refuseUpgrade(socket, 400, 'Bad Request: the URL cannot be parsed');
      return true;
    }
    const route = this.#upgrades.find((r) => r.path === url.pathname) ?? this.#upgrades.find((r) => r.path === undefined);
    if (route !== undefined) {
      route.upgrade(request, socket, head);
      return true;
    }
    // Other listeners than the marker: theirs to answer.
    if (this.#server.listenerCount('upgrade') > 1) return this.#emit.call(this.#server, 'upgrade', request, socket, head);
    refuseUpgrade(socket, 404, 'Not Found');
    return true;
  }

  #request(request: IncomingMessage, response: ServerResponse): boolean {
    if (this.#requests.length === 0) return false;
    // The path as ws reads it (no parse): this runs for every request of the host.
    const url = request.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    const route = this.#requests.find((r) => r.path === path);
    if (route !== undefined) route.request(request, response);
    else if (this.#server.listenerCount('request') === 0) response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    else return false;
    return true;
  }
}
