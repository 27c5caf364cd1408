/**
 * A plain ws client on 127.0.0.1 for servers that are not built with
 * `startServer` (or whose server-side socket the caller pairs itself).
 */
import { WebSocket } from 'ws';
import type { TestClient } from './server.js';

/**
 * Open a client as `userId` (sent as the `user` query parameter) and
 * record everything it receives, as text, in order.
 *
 * @param {number} port A server port on 127.0.0.1
 * @param {string} userId The user the server should see
 * @returns {Promise<TestClient>} Once the client is open
 */
export async function openClient(port: number, userId: string): Promise<TestClient> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/?user=${encodeURIComponent(userId)}`);
  const received: string[] = [];
  ws.on('message', (data) => received.push(data.toString()));
  // Errors end in 'close'; the tests read the outcome there.
  ws.on('error', () => {});
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, received, closed };
}
