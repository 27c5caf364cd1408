/**
 * `ws-lifecycle/fastify`: a Fastify plugin over `@fastify/websocket` (an
 * optional peer dependency). It registers the WebSocket route, runs the
 * shared upgrade checks (`manager/upgrade-gate.ts`: draining, `identify`
 * with its timeout) in the route's `preValidation` hook, so a refusal is an
 * HTTP reply before the handshake, hands each socket to the manager, decorates
 * the instance with it (`fastify.wsLifecycle`), and drains it from
 * Fastify's `preClose` hook: `await fastify.close()` sends every client
 * 1001 and resolves within the drain timeout (fastify-websocket #45, #260).
 */
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
// Types only: @fastify/websocket's augmentation of Fastify (the `websocket` route option, `websocketServer`).
import type { WebsocketHandler } from '@fastify/websocket';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ServerOptions } from 'ws';
import type { ConnectionManager } from '../manager/connection-manager.js';
import { loadPeer } from '../core/optional-peer.js';
import { ServerRoutes } from '../manager/server-routes.js';
import { decideUpgrade, decidedIdentity, rememberIdentity } from '../manager/upgrade-gate.js';
import { adapterSetup, wsServerOptions, type AdapterOptions } from './upgrade.js';

export interface FastifyAdapterOptions extends AdapterOptions {
  /** The route WebSockets are accepted on. Default `/ws`. */
  path?: string;
  /**
   * Options for the `ws` server (`perMessageDeflate`...). `maxPayload`
   * defaults to 1 MiB (ws's own: 100 MiB), the inflated size of a
   * compressed message included; 1 to 2^31 - 1.
   */
  ws?: Omit<ServerOptions, 'server' | 'port' | 'host' | 'noServer'>;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The ws-lifecycle manager of this instance. */
    wsLifecycle: ConnectionManager;
  }
}

type WebsocketPlugin = { default: FastifyPluginAsync<{ options?: ServerOptions; preClose?: (this: FastifyInstance) => Promise<void> }> };

async function plugin(fastify: FastifyInstance, options: FastifyAdapterOptions): Promise<void> {
  // Checked before anything is registered: a bad option fails the registration, not fastify.close().
  const wsOptions = wsServerOptions(options.ws);
  const { manager, checks } = adapterSetup(options);
  const websocket = await loadPeer<WebsocketPlugin>('@fastify/websocket', 'ws-lifecycle/fastify');
  const before = new Set(fastify.server.listeners('upgrade'));
  await fastify.register(websocket.default, {
    options: wsOptions,
    // Replaces @fastify/websocket's own preClose, which closes its clients with no code and no bound.
    preClose: async function preClose(this: FastifyInstance) {
      await manager.shutdown(options.shutdown);
      for (const client of this.websocketServer.clients) client.terminate();
    }
  });
  routeUpgrades(fastify, before);
  fastify.decorate('wsLifecycle', manager);
  fastify.get(
    options.path ?? '/ws',
    {
      websocket: true,
      preValidation: async (request, reply) => {
        // @fastify/websocket guards the socket and Fastify's router chose the path: the remaining checks.
        const verdict = await decideUpgrade(checks, request.raw, manager.logger);
        if (!verdict.accept) return reply.code(verdict.status).type('text/plain; charset=utf-8').send(verdict.reason);
        rememberIdentity(request.raw, verdict.identity);
      }
    },
    ((socket, request) => {
      manager.accept(socket, { ...decidedIdentity(request.raw), request: request.raw });
    }) satisfies WebsocketHandler
  );
}

type UpgradeListener = (this: Server, request: IncomingMessage, socket: Duplex, head: Buffer) => void;

/**
 * Take @fastify/websocket's 'upgrade' listener off the server and call it
 * from the server's routes (`manager/server-routes.ts`) for every upgrade no
 * other route owns: its socket is then guarded and its URL checked (400)
 * before Fastify routes it, and an inspector on the same server gets its own
 * path alone. A version that adds no listener, or several, is left as it is.
 */
function routeUpgrades(fastify: FastifyInstance, before: ReadonlySet<unknown>): void {
  const server = fastify.server;
  const added = server.listeners('upgrade').filter((listener) => !before.has(listener)) as UpgradeListener[];
  if (added.length !== 1) return;
  const listener = added[0]!;
  server.off('upgrade', listener);
  const removeRoute = ServerRoutes.of(server).addUpgrade({
    path: undefined,
    upgrade: (request, socket, head) => listener.call(server, request, socket, head)
  });
  fastify.addHook('onClose', (_instance, done) => {
    removeRoute();
    done();
  });
}

// What fastify-plugin does, without depending on it: the decorator is visible outside the plugin's scope.
Object.assign(plugin, { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'ws-lifecycle' });

/** Register with `await app.register(wsLifecycle, { path, identify, manager })`. */
export const wsLifecycle: FastifyPluginAsync<FastifyAdapterOptions> = plugin;
