/** The examples' identity: `?user=NAME`; no user is refused with 401 before the handshake. */
import type { IncomingMessage } from 'node:http';
import type { UpgradeDecision } from '../src/adapters/upgrade.js';

export function userFromQuery(request: IncomingMessage): UpgradeDecision {
  const user = new URL(request.url ?? '/', 'http://localhost').searchParams.get('user');
  return user ? { userId: user } : false;
}

/** The port to listen on: `PORT`, default 8080 (0 picks a free one). */
export const PORT = Number(process.env.PORT ?? 8080);
