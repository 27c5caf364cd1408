/**
 * A live view of a `ConnectionManager`: one HTML page with the state chart,
 * the count of connections in each state and the latest transitions, kept
 * current over a WebSocket. It listens only to connection and transition
 * events and pushes at most once per `intervalMs`, so messages cost nothing
 * extra.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import type { ConnectionManager } from '../../manager/connection-manager.js';
import type { TransitionRecord } from '../../core/connection-host.js';
import type { StateCounts } from '../../core/connection-registry.js';
import { transitionKey } from '../../core/machine-graph.js';
import { assertNumberOption } from '../../core/validation.js';
import { renderPage } from './page.js';

export interface InspectorOptions {
  /**
   * The HTTP server to serve from. The inspector answers only its own two
   * paths; any other request or upgrade is left to the server's other
   * listeners (or refused with 404 / dropped when it has none). A host
   * WebSocketServer on the same server must use `noServer` and skip
   * requests for which `inspector.handles(request)` is true.
   */
  server: Server;
  /** Path of the page; its WebSocket is at `<path>/ws`. Default `/inspect`. */
  path?: string;
  /** Least time between two pushes to the page. Default 100. */
  intervalMs?: number;
  /** How many of the latest transitions the page shows. Default 20. */
  recentLimit?: number;
}

/** What the page receives on each push. */
export interface InspectorSnapshot {
  /** Live connections per state; `closed` counts every connection closed so far. */
  counts: StateCounts;
  /** Live (not yet closed) connections. */
  live: number;
  /** Transitions seen since the inspector started. */
  transitions: number;
  /** Transitions seen per `from|event|to` key. */
  edges: Record<string, number>;
  /** The latest transitions, newest first. */
  recent: TransitionRecord[];
  /** When the snapshot was taken, in milliseconds since the epoch. */
  at: number;
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

function pathnameOf(request: IncomingMessage): string {
  const url = request.url ?? '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/**
 * Serve a live inspector page for `manager` from `options.server`.
 *
 * @param {ConnectionManager} manager The manager to watch
 * @param {InspectorOptions} options Where to serve, and how often to push
 * @returns {Inspector} A handle; `close()` it before closing the server
 * @throws {RangeError} If `path` does not start with `/` or ends with one,
 *   or a numeric option is out of range
 */
export function createInspector(manager: ConnectionManager, options: InspectorOptions): Inspector {
  const path = options.path ?? '/inspect';
  const intervalMs = options.intervalMs ?? 100;
  const recentLimit = options.recentLimit ?? 20;
  if (!/^\/[^?#]*[^/?#]$/.test(path)) {
    throw new RangeError(`Invalid inspector path: ${JSON.stringify(path)} (expected /name, no trailing slash)`);
  }
  assertNumberOption('intervalMs', intervalMs, 1);
  assertNumberOption('recentLimit', recentLimit, 0);
  const { server } = options;
  const wsPath = `${path}/ws`;
  const page = renderPage(wsPath);
  const viewers = new WebSocketServer({ noServer: true, maxPayload: 1024 });
  const edges = new Map<string, number>();
  const recent: TransitionRecord[] = [];
  let transitions = 0;
  let timer: NodeJS.Timeout | undefined;
  let closing: Promise<void> | undefined;

  const handles = (request: IncomingMessage): boolean => {
    if (closing !== undefined) return false;
    const pathname = pathnameOf(request);
    return pathname === path || pathname === wsPath;
  };

  const snapshot = (): InspectorSnapshot => ({
    counts: manager.counts,
    live: manager.size,
    transitions,
    edges: Object.fromEntries(edges),
    recent: recent.slice().reverse(),
    at: Date.now()
  });

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
    transitions++;
    const key = transitionKey(record.from, record.event, record.to);
    edges.set(key, (edges.get(key) ?? 0) + 1);
    recent.push(record);
    if (recent.length > recentLimit) recent.shift();
    changed();
  };

  const onRequest = (request: IncomingMessage, response: ServerResponse): void => {
    if (pathnameOf(request) !== path) {
      if (server.listenerCount('request') === 1) response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    response.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': page.csp,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff'
    });
    response.end(request.method === 'HEAD' ? undefined : page.html);
  };

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (pathnameOf(request) !== wsPath || closing !== undefined) {
      if (server.listenerCount('upgrade') === 1) socket.destroy();
      return;
    }
    viewers.handleUpgrade(request, socket, head, (viewer) => {
      viewer.on('error', () => viewer.terminate());
      viewer.send(JSON.stringify(snapshot()));
    });
  };

  manager.on('transition', onTransition);
  manager.on('connection', changed);
  server.on('request', onRequest);
  server.on('upgrade', onUpgrade);

  const close = (): Promise<void> => {
    closing ??= (async () => {
      clearTimeout(timer);
      timer = undefined;
      manager.off('transition', onTransition);
      manager.off('connection', changed);
      server.off('request', onRequest);
      server.off('upgrade', onUpgrade);
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
