/**
 * One real-socket server per test: `start()` it inside a test; after the
 * test the cleanups registered run (last first) and the server stops.
 */
import { afterEach } from 'vitest';
import type { ConnectionManagerOptions } from '../../src/index.js';
import { startServer, type TestServer } from './server.js';

export interface PerTestServer {
  /** Start this test's server; options go over `{ heartbeatIntervalMs: 0 }`, `serverOptions` to the `WebSocketServer`. */
  start: (options?: ConnectionManagerOptions, serverOptions?: Parameters<typeof startServer>[1]) => Promise<TestServer>;
  /** Run after the test, before the server stops. */
  cleanup: (fn: () => unknown) => void;
}

/** Call at the top of a test file (it registers an afterEach). */
export function serverPerTest(): PerTestServer {
  let server: TestServer | undefined;
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn();
    await server?.stop();
    server = undefined;
  });
  return {
    start: async (options = {}, serverOptions = {}) =>
      (server = await startServer({ heartbeatIntervalMs: 0, ...options }, serverOptions)),
    cleanup: (fn) => void cleanups.push(fn)
  };
}
