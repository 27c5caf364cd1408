/**
 * What `maxBufferedBytes` means in time (issue #10): queue that many bytes
 * of ~300 B JSON messages on one connection at once, then measure how long
 * until ws reports the last one written, with and without
 * permessage-deflate, to a reader in the same process on 127.0.0.1.
 * Medians of 5 rounds per row.
 *
 *   npx tsx bench/deflate-drain.ts
 */
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { WebSocket, WebSocketServer } from 'ws';
import { ConnectionManager, type Connection } from '../src/index.js';
import { quantile } from './stats.js';

const MESSAGE = JSON.stringify({ type: 'agent_thinking', runId: 'r-1', text: 'x'.repeat(260) });
const ROUNDS = 5;
const BUDGETS = [256 * 1024, 1024 * 1024, 8 * 1024 * 1024];

async function drainMs(deflate: boolean, budget: number): Promise<number> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: deflate });
  await new Promise((resolve) => wss.once('listening', resolve));
  const manager = new ConnectionManager({ logger: pino({ level: 'silent' }), heartbeatIntervalMs: 0, maxBufferedBytes: budget * 2 });
  const accepted = new Promise<Connection>((resolve) => manager.once('connection', resolve));
  manager.attach(wss);
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`, { perMessageDeflate: deflate });
  await new Promise((resolve) => client.once('open', resolve));
  const connection = await accepted;
  const count = Math.ceil(budget / Buffer.byteLength(MESSAGE));
  const started = performance.now();
  const results: Array<Promise<unknown>> = [];
  // One send per turn would never build a queue; this is a burst, as an agent streaming tokens makes.
  for (let i = 0; i < count; i++) results.push(connection.send(MESSAGE));
  await Promise.all(results);
  const elapsed = performance.now() - started;
  await manager.shutdown({ timeoutMs: 1_000 });
  client.terminate();
  await new Promise((resolve) => wss.close(resolve));
  return elapsed;
}

console.log('| queued bytes | messages | plain frames, ms | permessage-deflate, ms |');
console.log('| ---: | ---: | ---: | ---: |');
for (const budget of BUDGETS) {
  const plain: number[] = [];
  const deflated: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    plain.push(await drainMs(false, budget));
    deflated.push(await drainMs(true, budget));
  }
  const count = Math.ceil(budget / Buffer.byteLength(MESSAGE));
  console.log(
    `| ${(budget / 1024).toLocaleString('en')} KiB | ${count.toLocaleString('en')} | ${quantile(plain, 0.5).toFixed(0)} | ${quantile(deflated, 0.5).toFixed(0)} |`
  );
}
