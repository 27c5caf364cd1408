/** Fastify: `npx tsx examples/fastify.ts`, then connect to ws://127.0.0.1:8080/ws?user=alice. */
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { wsLifecycle } from '../src/adapters/fastify.js';
import { PORT, greet, userFromQuery } from './identify.js';

const app = Fastify();
await app.register(wsLifecycle, { path: '/ws', identify: userFromQuery });
app.wsLifecycle.on('connection', greet);
await app.listen({ port: PORT, host: '127.0.0.1' });
console.log(`listening on ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/ws`);
// app.close() runs the preClose hook: every client gets 1001.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void app.close());
