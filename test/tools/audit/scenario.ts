/**
 * A real audit trail for tests: a manager on 127.0.0.1 whose connections
 * end in every way a test can provoke without waiting long, logged by pino
 * to files in a temporary directory.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { TransitionRecord } from '../../../src/index.js';
import { startServer, type TestServer } from '../../support/server.js';

/** How each scenario connection ends; the keys are also their user ids. */
export const ENDINGS = {
  /** The server closes and the client completes the handshake. */
  alice: 'server close',
  /** The client closes. */
  bob: 'client close',
  /** The server terminates. */
  carol: 'server terminate',
  /** The client drops the TCP connection. */
  dave: 'client terminate',
  /** The server closes, the paused client never answers: `after closeTimeout`. */
  erin: 'close timeout',
  /** `authenticate` refuses it while `connecting`. */
  mallory: 'authentication refused',
  /** `authenticate` never settles: `after handshakeTimeout`. */
  frank: 'handshake timeout'
} as const;

export type ScenarioUser = keyof typeof ENDINGS;

export interface AuditRun {
  dir: string;
  /** The audit destination's file. */
  auditFile: string;
  /** The application logger's file (the same as `auditFile` when `shared`). */
  appFile: string;
  /** Connection id of each user's connection. */
  ids: Record<ScenarioUser, string>;
  /** What the manager emitted as `transition` events, in order. */
  emitted: TransitionRecord[];
  server: TestServer;
  /** Removes the temporary directory. */
  cleanup(): Promise<void>;
}

/** Parsed JSON lines of a pino file. */
export async function readJsonLines(file: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(file, 'utf8');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/**
 * Run every ending in {@link ENDINGS}, one connection each, one after the
 * other, then stop the server.
 *
 * @param shared Log audit and application records to one file (the default
 *   configuration: no `audit` option), else the audit to its own destination
 */
export async function recordAuditRun(shared: boolean): Promise<AuditRun> {
  const dir = await mkdtemp(join(tmpdir(), 'ws-lifecycle-audit-'));
  const auditFile = join(dir, 'audit.jsonl');
  const appFile = shared ? auditFile : join(dir, 'app.jsonl');
  const logger = pino({ level: 'debug' }, pino.destination({ dest: appFile, sync: true }));
  const audit = shared ? undefined : pino.destination({ dest: auditFile, sync: true });
  let next = 0;
  const server = await startServer({
    logger,
    audit,
    closeTimeoutMs: 200,
    handshakeTimeoutMs: 200,
    heartbeatIntervalMs: 0,
    generateId: () => `conn-${++next}`,
    authenticate: ({ connection }) =>
      connection.userId === 'frank' ? new Promise<boolean>(() => {}) : connection.userId !== 'mallory'
  });
  const emitted: TransitionRecord[] = [];
  server.manager.on('transition', (_connection, record) => emitted.push({ ...record }));
  const ids = {} as Record<ScenarioUser, string>;
  try {
    // An ordinary application record (warn), so the trail has company.
    await server.manager.send('no-such-connection', 'x');
    for (const user of Object.keys(ENDINGS) as ScenarioUser[]) {
      const { client, connection } = await server.connect(user);
      ids[user] = connection.id;
      if (user !== 'mallory' && user !== 'frank') {
        await waitUntilConnected(connection);
        await connection.send({ hello: user });
      }
      switch (user) {
        case 'alice':
          void server.manager.close(connection.id, 1000, 'done');
          // Refused (closing): logged at debug as "send refused".
          await connection.send('late');
          break;
        case 'bob':
          client.ws.close(4000, 'bye');
          break;
        case 'carol':
          void connection.terminate();
          break;
        case 'dave':
          client.ws.terminate();
          break;
        case 'erin':
          // A paused client reads nothing, so the close handshake never completes.
          client.ws.pause();
          void server.manager.close(connection.id, 1001, 'going away');
          break;
        case 'mallory':
        case 'frank':
          break;
      }
      await connection.closed;
      if (user === 'erin') client.ws.terminate();
    }
  } finally {
    await server.stop();
  }
  return {
    dir,
    auditFile,
    appFile,
    ids,
    emitted,
    server,
    cleanup: () => rm(dir, { recursive: true, force: true })
  };
}

async function waitUntilConnected(connection: { state: string; closed: Promise<unknown> }): Promise<void> {
  // `authenticate` resolves in a later tick; connect() returns as soon as the client is open.
  for (let i = 0; i < 200 && connection.state === 'connecting'; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  if (connection.state !== 'connected') throw new Error(`connection is ${connection.state}, expected connected`);
}
