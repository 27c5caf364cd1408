/** NestJS: `npx tsx examples/nest.ts`, then connect to ws://127.0.0.1:8080/ws?user=alice. */
import 'reflect-metadata';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { WebSocketGateway } from '@nestjs/websockets';
import { WsLifecycleModule, createLifecycleWsAdapter } from '../src/adapters/nest.js';
import { ConnectionManager } from '../src/index.js';
import { PORT, greet, userFromQuery } from './identify.js';

// With decorators enabled this is `@WebSocketGateway({ path: '/ws' })` and `@Module({...})` on the classes.
class EventsGateway {}
WebSocketGateway({ path: '/ws' })(EventsGateway);
const manager = new ConnectionManager();
class AppModule {}
Module({ imports: [WsLifecycleModule.forRoot(manager)], providers: [EventsGateway] })(AppModule);

const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
app.useWebSocketAdapter(await createLifecycleWsAdapter(app, { manager, identify: userFromQuery }) as never);
app.get(ConnectionManager).on('connection', greet);
await app.listen(PORT, '127.0.0.1');
console.log(`listening on ws://127.0.0.1:${((app.getHttpServer() as Server).address() as AddressInfo).port}/ws`);
// app.close() drains the manager before Nest closes its servers: every client gets 1001.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void app.close());
