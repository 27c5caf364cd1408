/**
 * `ws-lifecycle/fastify`: a Fastify plugin over `@fastify/websocket` (an
 * optional peer dependency). It registers the WebSocket route, runs
 * `identify` in the route's `preValidation` hook, so a refusal is an HTTP
 * reply before the handshake, hands each socket to the manager, decorates
 * the instance with it (`fastify.wsLifecycle`), and drains it from
 * Fastify's `preClose` hook: `await fastify.close()` sends every client
 * 1001 and resolves within the drain timeout (fastify-websocket #45, #260).
 */
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
// Types only: @fastify/websocket's augmentation of Fastify (the `websocket` route option, `websocketServer`).
import type { WebsocketHandler } from '@fastify/websocket';
import type { ServerOptions } from 'ws';
import type { ConnectionManager } from '../manager/connection-manager.js';
import { loadPeer } from '../core/optional-peer.js';
import { decideUpgrade, identityOf, managerOf, rememberIdentity, type AdapterOptions } from './upgrade.js';

export interface FastifyAdapterOptions extends AdapterOptions {
  /** The route WebSockets are accepted on. Default `/ws`. */
  path?: string;
  /** Options for the `ws` server (`maxPayload`, `perMessageDeflate`...). */
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
  const websocket = await loadPeer<WebsocketPlugin>('@fastify/websocket', 'ws-lifecycle/fastify');
  const manager = managerOf(options.manager);
  await fastify.register(websocket.default, {
    options: { ...options.ws },
    // Replaces @fastify/websocket's own preClose, which closes its clients with no code and no bound.
    preClose: async function preClose(this: FastifyInstance) {
      await manager.shutdown(options.shutdown);
      for (const client of this.websocketServer.clients) client.terminate();
    }
  });
  fastify.decorate('wsLifecycle', manager);
  const logError = (error: unknown): void => fastify.log.error({ err: error }, 'identify threw; upgrade refused with 500');
  fastify.get(
    options.path ?? '/ws',
    {
      websocket: true,
      preValidation: async (request, reply) => {
        const verdict = await decideUpgrade(options.identify, request.raw, logError);
        if (!verdict.accept) return reply.code(verdict.status).type('text/plain; charset=utf-8').send(verdict.reason);
        rememberIdentity(request.raw, verdict.identity);
      }
    },
    ((socket, request) => {
      manager.accept(socket, { ...identityOf(request.raw), request: request.raw });
    }) satisfies WebsocketHandler
  );
}

// What fastify-plugin does, without depending on it: the decorator is visible outside the plugin's scope.
Object.assign(plugin, { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'ws-lifecycle' });

/** Register with `await app.register(wsLifecycle, { path, identify, manager })`. */
export const wsLifecycle: FastifyPluginAsync<FastifyAdapterOptions> = plugin;
