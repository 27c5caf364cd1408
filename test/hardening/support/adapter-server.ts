/**
 * A server in its own process, for black-box tests that must see it
 * survive (#25): one framework adapter on 127.0.0.1 (a row of
 * test/adapters/frameworks.ts), optionally with the inspector beside it on
 * the same HTTP server, and nothing that would catch a fault: an unhandled
 * rejection or an uncaught 'error' ends this process, as it would a real
 * server. Started by child-server.ts; prints `READY <port>` when listening.
 *
 * Its `identify`, driven by the query: `?delay=MS` answers after MS ms;
 * `user=true` returns true, `user=boom` throws, `user=hang` never answers,
 * `user=no` returns false; another user is that user; none is anonymous.
 * Every connection is sent `welcome <userId>`.
 */
import { pino } from 'pino';
import type { IncomingMessage } from 'node:http';
import { ConnectionManager } from '../../../src/index.js';
import type { UpgradeDecision } from '../../../src/adapters/upgrade.js';
import { createInspector } from '../../../src/tools/inspector/inspector.js';
import { FRAMEWORKS } from '../../adapters/frameworks.js';
import type { ChildScenario } from './child-server.js';
import { INSPECTOR_TOKEN } from './child-server.js';

async function identify(request: IncomingMessage): Promise<UpgradeDecision> {
  const query = new URL(request.url ?? '/', 'http://localhost').searchParams;
  const delay = Number(query.get('delay') ?? 0);
  if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
  const user = query.get('user');
  if (user === 'true') return true;
  if (user === 'boom') throw new Error('identity service down');
  if (user === 'hang') return new Promise<never>(() => {});
  if (user === 'no') return false;
  return user === null ? undefined : { userId: user };
}

async function main(): Promise<void> {
  const scenario = JSON.parse(process.argv[2] ?? '{}') as ChildScenario;
  const framework = FRAMEWORKS.find((f) => f.name === scenario.framework);
  if (framework === undefined) throw new Error(`unknown framework ${scenario.framework}`);
  const manager = new ConnectionManager({ logger: pino({ level: 'error' }, process.stderr), heartbeatIntervalMs: 0 });
  manager.on('connection', (connection) => void connection.send(`welcome ${connection.userId ?? 'anonymous'}`));
  const app = await framework.start(manager, { identify, identifyTimeoutMs: scenario.identifyTimeoutMs, path: scenario.path });
  if (scenario.inspector) createInspector(manager, { server: app.server, token: INSPECTOR_TOKEN, intervalMs: 20 });
  process.stdout.write(`READY ${app.port}\n`);
  process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
}

void main();
