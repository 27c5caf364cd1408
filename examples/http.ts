/** A plain http.Server: `npx tsx examples/http.ts`, then connect to ws://127.0.0.1:8080/ws?user=alice. */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { attachToServer } from '../src/adapters/http.js';
import { PORT, greet, userFromQuery } from './identify.js';

const server = createServer((_request, response) => response.end('ok'));
const { manager } = attachToServer(server, { path: '/ws', identify: userFromQuery });
manager.on('connection', greet);
server.listen(PORT, '127.0.0.1', () => console.log(`listening on ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`));
// server.close() drains first: every client gets 1001.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => server.close());
