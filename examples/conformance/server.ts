/**
 * A session server to run the conformance server suite against (#24):
 * ws-lifecycle with the conformance control endpoint mounted on the same
 * HTTP server, behind a random token, and its store wrapped so the suite
 * can break it. Short timings make the suite take seconds.
 *
 *   npx tsx examples/conformance/server.ts [--port 8080]
 *
 * prints the command that runs the suite against it. Only for tests: the
 * control endpoint lets whoever holds the token publish to any topic.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { WebSocketServer } from 'ws';
import { ConnectionManager, MemoryTopicStore, type ConnectionManagerOptions } from '../../src/index.js';
import { ConformanceStore, conformanceControl, conformanceIdentify } from '../../src/tools/conformance/index.js';

/** Timings of the server under test: each is what a case waits for. */
export const CONFORMANCE_SETTINGS = Object.freeze({
  helloTimeoutMs: 500,
  ttlMs: 2_000,
  heartbeatIntervalMs: 300,
  /** Small, so the slow-reader case's flood makes the server fall behind. */
  maxBufferedBytes: 16 * 1024
});

export interface ConformanceServer {
  /** The WebSocket URL, the control endpoint's URL and its token. */
  url: string;
  control: string;
  token: string;
  manager: ConnectionManager;
  close(): Promise<void>;
}

/**
 * @param {object} [options] The port (0: any free one), and manager options that take precedence (a test's naive session hub)
 * @returns {Promise<ConformanceServer>} Once it listens on 127.0.0.1
 */
export async function startConformanceServer(options: { port?: number; manager?: ConnectionManagerOptions } = {}): Promise<ConformanceServer> {
  const { helloTimeoutMs, ttlMs, heartbeatIntervalMs, maxBufferedBytes } = CONFORMANCE_SETTINGS;
  const store = new ConformanceStore(new MemoryTopicStore());
  const manager = new ConnectionManager({
    logger: pino({ level: 'silent' }),
    heartbeatIntervalMs,
    maxBufferedBytes,
    sessions: { helloTimeoutMs, ttlMs, store },
    ...options.manager
  });
  const token = randomBytes(24).toString('base64url');
  const control = conformanceControl(manager, { token, store, helloTimeoutMs });
  const server = createServer((request, response) => {
    if (!control(request, response)) response.writeHead(404).end();
  });
  const wss = new WebSocketServer({ server, maxPayload: 1024 * 1024 });
  manager.attach(wss, { identify: conformanceIdentify });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/`,
    control: `http://127.0.0.1:${port}/conformance`,
    token,
    manager,
    async close() {
      await manager.shutdown({ timeoutMs: 1_000 });
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const index = process.argv.indexOf('--port');
  const server = await startConformanceServer({ port: index < 0 ? 0 : Number(process.argv[index + 1]) });
  // The first line is for programs (the suite's own test reads it); the rest for people.
  console.log(JSON.stringify({ url: server.url, control: server.control, token: server.token }));
  console.log(`run: npx ws-lifecycle conformance server ${server.url} --control ${server.control} --token ${server.token}`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void server.close().then(() => process.exit(0)));
}
