/** What subprotocol a server selects for an offer, as a `ws` client sees it. */
import { WebSocket } from 'ws';

/**
 * Open a client offering `protocols` (in that order) and close it again.
 *
 * @param {string} url The server's WebSocket URL
 * @param {string[]} protocols The offer
 * @returns {Promise<string>} The subprotocol selected (`''` for none), or the error the client failed the handshake with
 */
export async function selectedSubprotocol(url: string, protocols: string[]): Promise<string> {
  const ws = new WebSocket(url, protocols);
  const outcome = await new Promise<string>((resolve) => {
    ws.once('open', () => resolve(ws.protocol));
    ws.once('error', (error) => resolve(`error: ${error.message}`));
  });
  ws.terminate();
  return outcome;
}
