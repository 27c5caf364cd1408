/**
 * A peer in its own process that only reads (issue #10): it negotiates
 * permessage-deflate, answers every ping at once (ws does it), sends nothing
 * itself and, when the socket closes, prints what it received as one JSON
 * line. With `closeAfterMs` it starts the close handshake itself after that
 * long.
 *
 * Usage: node --import tsx reading-peer.ts URL [closeAfterMs]
 */
import { WebSocket } from 'ws';

const [url, closeAfter] = process.argv.slice(2);
const received: number[] = [];
const ws = new WebSocket(url!, { perMessageDeflate: true });
ws.on('message', (data) => received.push((JSON.parse(data.toString()) as { seq: number }).seq));
ws.on('error', () => {});
ws.once('open', () => {
  process.stdout.write(`${JSON.stringify({ open: true })}\n`);
  if (closeAfter !== undefined) setTimeout(() => ws.close(1000, 'peer leaves'), Number(closeAfter));
});
ws.once('close', (code) => {
  process.stdout.write(`${JSON.stringify({ code, received })}\n`);
  process.exit(0);
});
// Never outlive a test that forgot this process.
setTimeout(() => process.exit(2), 30_000).unref();
