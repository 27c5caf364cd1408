/**
 * The soak's server: a `WebSocketServer` on 127.0.0.1 with a manager
 * attached, users named by the `user` query parameter (as the client
 * process connects). The soak's own, so that scripts never import tests.
 */
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { WebSocketServer } from 'ws';
import { ConnectionManager, type ConnectionManagerOptions } from '../../src/index.js';

export interface SoakServer {
  wss: WebSocketServer;
  manager: ConnectionManager;
  port: number;
  /** Shut the manager down and close the server. */
  stop(): Promise<void>;
}

/**
 * @param {ConnectionManagerOptions} options The manager's options (a silent logger unless given)
 * @returns {Promise<SoakServer>} Once listening
 */
export async function startSoakServer(options: ConnectionManagerOptions): Promise<SoakServer> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  const manager = new ConnectionManager({ logger: pino({ level: 'silent' }), ...options });
  manager.attach(wss, {
    identify: (request) => {
      const user = new URL(request.url ?? '/', 'http://127.0.0.1').searchParams.get('user');
      return user === null ? undefined : { userId: user };
    }
  });
  return {
    wss,
    manager,
    port: (wss.address() as AddressInfo).port,
    async stop() {
      await manager.shutdown({ timeoutMs: 1_000 });
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    }
  };
}

/**
 * Poll `predicate` every few milliseconds until it holds or `ms` pass.
 *
 * @returns {Promise<boolean>} Whether it held
 */
export async function until(predicate: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return true;
}
