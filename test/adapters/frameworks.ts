/**
 * One row per framework adapter: how to start an app on 127.0.0.1 with
 * the adapter, how to reach its manager the framework's way, and how to
 * close the app the framework's way. The shared test body in
 * adapters.test.ts runs against every row, so a new adapter is one row.
 */
import 'reflect-metadata';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { WebSocketGateway } from '@nestjs/websockets';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { ConnectionManager } from '../../src/index.js';
import { wsLifecycle as expressLifecycle } from '../../src/adapters/express.js';
import { wsLifecycle as fastifyLifecycle } from '../../src/adapters/fastify.js';
import { wsLifecycle as honoLifecycle } from '../../src/adapters/hono.js';
import { attachToServer } from '../../src/adapters/http.js';
import { WsLifecycleModule, createLifecycleWsAdapter } from '../../src/adapters/nest.js';
import type { AdapterOptions } from '../../src/adapters/upgrade.js';

/** A running app with the adapter. */
export interface RunningApp {
  port: number;
  /** The app's HTTP server (to put an inspector beside the adapter). */
  server: Server;
  /** The manager, as the framework's users reach it (decorator, app.locals, context, provider). */
  reachable(): Promise<ConnectionManager>;
  /** Close the app the framework's way. */
  close(): Promise<void>;
}

/**
 * The adapter's options; `path: null` asks for no path where the adapter
 * allows it (http, Express: every path). `ws` is the adapter's `ws` option
 * (for Nest, the defaults of each gateway's server).
 */
export type StartOptions = AdapterOptions & { path?: string | null; ws?: { maxPayload?: number; perMessageDeflate?: boolean } };

export interface Framework {
  name: string;
  /** Start with this manager, on path `/ws` unless `options.path` says otherwise. */
  start(manager: ConnectionManager, options: StartOptions): Promise<RunningApp>;
}

/** The path to give an adapter that may take none. */
function pathOf(options: StartOptions): string | undefined {
  return options.path === null ? undefined : (options.path ?? '/ws');
}

function portOf(server: Server): number {
  return (server.address() as AddressInfo).port;
}

function closed(server: Server): Promise<void> {
  return new Promise((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
}

export const FRAMEWORKS: Framework[] = [
  {
    name: 'http',
    async start(manager, options) {
      const server = createServer((_request, response) => response.end('ok'));
      const lifecycle = attachToServer(server, { ...options, manager, path: pathOf(options) });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      return { port: portOf(server), server, reachable: () => Promise.resolve(lifecycle.manager), close: () => closed(server) };
    }
  },
  {
    name: 'express',
    async start(manager, options) {
      const app = express();
      app.get('/', (_request, response) => {
        response.send('ok');
      });
      expressLifecycle(app, { ...options, manager, path: pathOf(options) });
      const server = app.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const reachable = (): Promise<ConnectionManager> => Promise.resolve(app.locals.wsLifecycle as ConnectionManager);
      return { port: portOf(server), server, reachable, close: () => closed(server) };
    }
  },
  {
    name: 'fastify',
    async start(manager, options) {
      const app = Fastify({ logger: false });
      await app.register(fastifyLifecycle, { ...options, manager, path: options.path ?? '/ws' });
      await app.listen({ port: 0, host: '127.0.0.1' });
      return { port: portOf(app.server), server: app.server, reachable: () => Promise.resolve(app.wsLifecycle), close: () => app.close() };
    }
  },
  {
    name: 'hono',
    async start(manager, options) {
      const app = new Hono<{ Variables: { wsLifecycle: ConnectionManager } }>();
      const lifecycle = await honoLifecycle(app, { ...options, manager, path: options.path ?? '/ws' });
      let seen: ConnectionManager | undefined;
      app.get('/manager', (c) => {
        seen = c.var.wsLifecycle;
        return c.text('ok');
      });
      const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
      await once(server, 'listening');
      lifecycle.injectWebSocket(server);
      const port = portOf(server);
      return {
        port,
        server,
        async reachable() {
          await fetch(`http://127.0.0.1:${port}/manager`);
          return seen!;
        },
        close: () => closed(server)
      };
    }
  },
  {
    name: 'nest',
    async start(manager, options) {
      class Gateway {}
      WebSocketGateway({ path: options.path ?? '/ws' })(Gateway);
      class AppModule {}
      Module({ imports: [WsLifecycleModule.forRoot(manager)], providers: [Gateway] })(AppModule);
      const app = await NestFactory.create(AppModule, { logger: false });
      const { path: _path, ...adapterOptions } = options;
      app.useWebSocketAdapter(await createLifecycleWsAdapter(app, { ...adapterOptions, manager }) as never);
      await app.listen(0, '127.0.0.1');
      return {
        port: portOf(app.getHttpServer() as Server),
        server: app.getHttpServer() as Server,
        reachable: () => Promise.resolve(app.get(ConnectionManager)),
        close: () => app.close()
      };
    }
  }
];
