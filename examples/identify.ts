/** The examples' identity: `?user=NAME`; no user is refused with 401 before the handshake. And their greeting. */
import type { IncomingMessage } from 'node:http';
import type { UpgradeDecision } from '../src/adapters/upgrade.js';
import { SESSION_PROTOCOL, type Connection } from '../src/index.js';

export function userFromQuery(request: IncomingMessage): UpgradeDecision {
  const user = new URL(request.url ?? '/', 'http://localhost').searchParams.get('user');
  return user ? { userId: user } : false;
}

/** The port to listen on: `PORT`, default 8080 (0 picks a free one). */
export const PORT = Number(process.env.PORT ?? 8080);

/**
 * Greet a plain connection. A session connection (subprotocol `ws-lifecycle.v1`) is written only by the session
 * protocol, whose first frame must be its `welcome` (a send to it is refused, `session_connection`): reach its user
 * with `manager.sendToUser()` or a topic instead.
 */
export function greet(connection: Connection): void {
  if (connection.socket.protocol !== SESSION_PROTOCOL) void connection.send(`welcome ${connection.userId}`);
}
