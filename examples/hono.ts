/** Hono on Node: `npx tsx examples/hono.ts`, then connect to ws://127.0.0.1:8080/ws?user=alice. */
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { wsLifecycle } from '../src/adapters/hono.js';
import type { ConnectionManager } from '../src/index.js';
import { PORT, greet, userFromQuery } from './identify.js';

const app = new Hono<{ Variables: { wsLifecycle: ConnectionManager } }>();
const lifecycle = await wsLifecycle(app, { path: '/ws', identify: userFromQuery });
lifecycle.manager.on('connection', greet);
app.get('/online', (c) => c.json({ connections: c.var.wsLifecycle.size }));
const server = serve({ fetch: app.fetch, port: PORT, hostname: '127.0.0.1' }, (info) =>
  console.log(`listening on ws://127.0.0.1:${info.port}/ws`)
) as Server;
lifecycle.injectWebSocket(server);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => server.close());
