/**
 * A live view of a `ConnectionManager`: one HTML page with the connection
 * and session charts and their counts, the busiest topics, the cluster and
 * the latest transitions, kept current over a WebSocket. It listens only to
 * connection and transition events and pushes at most once per
 * `intervalMs` (and once a second while anyone watches, for what no event
 * announces: topic offsets, the cluster), so messages cost nothing extra.
 * It shows connection and user ids, so it is served only to whom an
 * access decision lets in (a token or `authorize(request)`), its socket
 * only to its own page's origin, to `maxViewers` at once; and it takes only
 * its own two paths of the host server (`manager/server-routes.ts`, #25).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import type { ConnectionManager } from '../../manager/connection-manager.js';
import { ServerRoutes } from '../../manager/server-routes.js';
import { refuseUpgrade, releaseUpgradeSocket } from '../../manager/upgrade-gate.js';
import { originTest, sameOriginOrNone } from '../../manager/origins.js';
import type { TransitionRecord } from '../../core/connection-host.js';
import { assertDuration, assertNumberOption } from '../../core/validation.js';
import type { SessionTransitionRecord } from '../../sessions/session-hub.js';
import { renderPage, type InspectorPage } from './page.js';
import { InspectorWatch, type InspectorCluster, type InspectorSnapshot } from './snapshot.js';

export type { InspectedNode, InspectorCluster, InspectorSnapshot } from './snapshot.js';

export interface InspectorOptions {
  /**
   * The HTTP server to serve from. The inspector's two paths are its own
   * on that server: its page and its socket are answered by the inspector
   * alone, whatever else listens there (an adapter, Express, Fastify, a
   * `WebSocketServer`), and every other request and upgrade goes on to
   * them as before.
   */
  server: Server;
  /**
   * Who may see the page: a request carrying this token (`?token=` or
   * `Authorization: Bearer`). One of `token` and `authorize` is required:
   * the page shows connection ids, user ids and close reasons.
   */
  token?: string;
  /** Who may see the page, decided per request (page and socket); a throw or a rejection refuses. */
  authorize?: (request: IncomingMessage) => boolean | Promise<boolean>;
  /**
   * Origins (`https://admin.example.com`) whose pages may open the socket,
   * besides the page's own. A browser sends its page's origin with the
   * upgrade: any other is refused with 403, so a page on another site cannot
   * read the inspector with the viewer's cookies. Default: none.
   */
  allowedOrigins?: readonly string[];
  /** Page sockets open at once at most; another is refused with 503. Default 8. */
  maxViewers?: number;
  /** Path of the page; its WebSocket is at `<path>/ws`. Default `/inspect`. */
  path?: string;
  /** Least time between two pushes to the page (1 to 2^31 - 1 ms). Default 100. */
  intervalMs?: number;
  /** How many of the latest transitions the page shows. Default 20. */
  recentLimit?: number;
  /** How many of the busiest topics the page lists. Default 10. */
  topicLimit?: number;
  /**
   * This process's cluster node (`RedisCluster` from `ws-lifecycle/redis`):
   * the page then shows the node chart with this node's state, and the
   * live nodes, users and connections over the cluster.
   */
  cluster?: InspectorCluster;
}

/** A running inspector. */
export interface Inspector {
  /** Path of the page. */
  readonly path: string;
  /** Path of the page's WebSocket. */
  readonly wsPath: string;
  /**
   * @param {IncomingMessage} request An HTTP request or upgrade request
   * @returns {boolean} Whether the inspector answers it (never once closed)
   */
  handles(request: IncomingMessage): boolean;
  /** The state the page would be sent now. */
  snapshot(): InspectorSnapshot;
  /** Stop listening, close the page sockets (1001) and detach from the server. Idempotent. */
  close(): Promise<void>;
}

/** A viewer that cannot keep up is skipped rather than buffered without bound. */
const MAX_VIEWER_BUFFER = 1024 * 1024;
/** How long close() waits for viewers to finish the close handshake. */
const VIEWER_CLOSE_MS = 1_000;
/** Page sockets open at once, unless `maxViewers` says otherwise. */
const DEFAULT_MAX_VIEWERS = 8;
/** While anyone watches, the longest between two pushes: topic offsets and the cluster change without an event. */
const REFRESH_MS = 1_000;

function pathnameOf(request: IncomingMessage): string {
  const url = request.url ?? '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/** Who may see the inspector, decided once per request. */
type Access = (request: IncomingMessage) => Promise<boolean>;

function accessOf(options: InspectorOptions): Access {
  const { token, authorize } = options;
  if (token === undefined && authorize === undefined) {
    throw new TypeError('createInspector needs an access decision: a token, or authorize(request) (the page shows connection and user ids)');
  }
  if (token !== undefined && (typeof token !== 'string' || token.length < 16)) {
    throw new RangeError(`Invalid inspector token: ${typeof token === 'string' ? `${token.length} characters` : typeof token} (expected a string of at least 16 characters)`);
  }
  if (authorize !== undefined && typeof authorize !== 'function') throw new TypeError(`Invalid authorize: ${typeof authorize} (expected a function)`);
  const expected = token === undefined ? undefined : digest(token);
  return async (request) => {
    if (expected !== undefined && !timingSafeEqual(digest(tokenOf(request)), expected)) return false;
    if (authorize === undefined) return true;
    try {
      return (await authorize(request)) === true;
    } catch {
      return false;
    }
  };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** The token a request carries: `?token=`, else `Authorization: Bearer`; '' when none. */
function tokenOf(request: IncomingMessage): string {
  const url = request.url ?? '/';
  const query = url.indexOf('?');
  if (query !== -1) {
    const fromQuery = new URLSearchParams(url.slice(query + 1)).get('token');
    if (fromQuery !== null) return fromQuery;
  }
  const header = request.headers.authorization ?? '';
  return header.startsWith('Bearer ') ? header.slice(7) : '';
}

/**
 * Serve a live inspector page for `manager` from `options.server`.
 *
 * @param {ConnectionManager} manager The manager to watch
 * @param {InspectorOptions} options Where to serve, who may see it, and how often to push
 * @returns {Inspector} A handle; `close()` it before closing the server
 * @throws {TypeError} If neither `token` nor `authorize` is given
 * @throws {RangeError} If `path` does not start with `/` or ends with one,
 *   the token is shorter than 16 characters, an `allowedOrigins` entry is not
 *   an origin (`https://host[:port]`), or a numeric option is out of range
 */
export function createInspector(manager: ConnectionManager, options: InspectorOptions): Inspector {
  const path = options.path ?? '/inspect';
  const intervalMs = options.intervalMs ?? 100;
  const recentLimit = options.recentLimit ?? 20;
  const topicLimit = options.topicLimit ?? 10;
  const maxViewers = options.maxViewers ?? DEFAULT_MAX_VIEWERS;
  if (!/^\/[^?#]*[^/?#]$/.test(path)) {
    throw new RangeError(`Invalid inspector path: ${JSON.stringify(path)} (expected /name, no trailing slash)`);
  }
  assertDuration('intervalMs', intervalMs);
  assertNumberOption('recentLimit', recentLimit, 0);
  assertNumberOption('topicLimit', topicLimit, 0);
  assertNumberOption('maxViewers', maxViewers, 1);
  const access = accessOf(options);
  // Its own page's origin always; the origins listed besides (#21: the check the adapters use).
  const listed = originTest(options.allowedOrigins ?? []);
  const originAllowed = (request: IncomingMessage): boolean => sameOriginOrNone(request) || listed(request);
  const { server } = options;
  const wsPath = `${path}/ws`;
  // Laid out by Graphviz at the first request: an inspector nobody opens costs nothing.
  let page: Promise<InspectorPage> | undefined;
  const viewers = new WebSocketServer({ noServer: true, maxPayload: 1024 });
  const watch = new InspectorWatch(manager, { recentLimit, topicLimit, cluster: options.cluster });
  let timer: NodeJS.Timeout | undefined;
  let refresh: NodeJS.Timeout | undefined;
  let closing: Promise<void> | undefined;

  const handles = (request: IncomingMessage): boolean => {
    if (closing !== undefined) return false;
    const pathname = pathnameOf(request);
    return pathname === path || pathname === wsPath;
  };

  const snapshot = (): InspectorSnapshot => watch.snapshot();

  const push = (): void => {
    timer = undefined;
    const text = JSON.stringify(snapshot());
    for (const viewer of viewers.clients) {
      if (viewer.readyState === WebSocket.OPEN && viewer.bufferedAmount < MAX_VIEWER_BUFFER) viewer.send(text);
    }
  };

  // Coalesce: the first change after a push arms one timer; later ones ride on it.
  const changed = (): void => {
    if (timer === undefined && closing === undefined && viewers.clients.size > 0) timer = setTimeout(push, intervalMs);
  };

  const onTransition = (_connection: unknown, record: TransitionRecord): void => {
    watch.connectionTransition(record);
    changed();
  };

  const onSessionTransition = (record: SessionTransitionRecord): void => {
    watch.sessionTransition(record);
    changed();
  };

  // While anyone watches: look at the cluster and push, at least every REFRESH_MS.
  const tick = (): void => {
    if (closing !== undefined || viewers.clients.size === 0) {
      clearInterval(refresh);
      refresh = undefined;
      return;
    }
    void watch.lookAtCluster().then(changed);
  };

  const onRequest = (request: IncomingMessage, response: ServerResponse): void => {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    void access(request).then(async (allowed) => {
      if (response.headersSent || response.destroyed) return;
      if (!allowed) {
        response.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer', 'cache-control': 'no-store' }).end('unauthorized\n');
        return;
      }
      page ??= renderPage(wsPath, options.cluster !== undefined);
      const { html, csp } = await page;
      if (response.headersSent || response.destroyed) return;
      response.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'content-security-policy': csp,
        'cache-control': 'no-store',
        'referrer-policy': 'no-referrer',
        'x-content-type-options': 'nosniff'
      });
      response.end(request.method === 'HEAD' ? undefined : html);
    }).catch(() => {
      if (!response.headersSent) response.writeHead(500, { 'content-type': 'text/plain' });
      response.end('the inspector page could not be made\n');
    });
  };

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (closing !== undefined) return refuseUpgrade(socket, 503, 'inspector closed');
    if (!originAllowed(request)) return refuseUpgrade(socket, 403, 'origin not allowed');
    void access(request).then((allowed) => {
      if (!allowed) return refuseUpgrade(socket, 401, 'unauthorized');
      if (closing !== undefined || viewers.clients.size >= maxViewers) return refuseUpgrade(socket, 503, 'too many viewers');
      if (socket.destroyed) return;
      viewers.handleUpgrade(request, socket, head, (viewer) => {
        releaseUpgradeSocket(socket);
        viewer.on('error', () => viewer.terminate());
        viewer.send(JSON.stringify(snapshot()));
        if (refresh === undefined) {
          refresh = setInterval(tick, REFRESH_MS);
          tick();
        }
      });
    });
  };

  manager.on('transition', onTransition);
  manager.on('connection', changed);
  manager.on('sessionTransition', onSessionTransition);
  const routes = ServerRoutes.of(server);
  const removeRequestRoute = routes.addRequest({ path, request: onRequest });
  const removeUpgradeRoute = routes.addUpgrade({ path: wsPath, upgrade: onUpgrade });

  const close = (): Promise<void> => {
    closing ??= (async () => {
      clearTimeout(timer);
      timer = undefined;
      clearInterval(refresh);
      refresh = undefined;
      manager.off('transition', onTransition);
      manager.off('connection', changed);
      manager.off('sessionTransition', onSessionTransition);
      removeRequestRoute();
      removeUpgradeRoute();
      const open = [...viewers.clients];
      const closed = Promise.all(open.map((viewer) => new Promise((resolve) => viewer.once('close', resolve))));
      for (const viewer of open) viewer.close(1001, 'inspector closed');
      let deadline: NodeJS.Timeout | undefined;
      await Promise.race([closed, new Promise((resolve) => (deadline = setTimeout(resolve, VIEWER_CLOSE_MS)))]);
      clearTimeout(deadline);
      for (const viewer of viewers.clients) viewer.terminate();
      await new Promise<void>((resolve) => viewers.close(() => resolve()));
    })();
    return closing;
  };

  return { path, wsPath, handles, snapshot, close };
}
