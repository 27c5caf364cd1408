/** Express: `npx tsx examples/express.ts`, then connect to ws://127.0.0.1:8080/ws?user=alice. */
import type { AddressInfo } from 'node:net';
import express from 'express';
import { wsLifecycle } from '../src/adapters/express.js';
import type { ConnectionManager } from '../src/index.js';
import { PORT, greet, userFromQuery } from './identify.js';

const app = express();
wsLifecycle(app, { path: '/ws', identify: userFromQuery });
const manager = app.locals.wsLifecycle as ConnectionManager;
manager.on('connection', greet);
app.get('/online', (_request, response) => {
  response.json({ connections: manager.size });
});
const server = app.listen(PORT, '127.0.0.1', () => console.log(`listening on ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`));
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => server.close());
