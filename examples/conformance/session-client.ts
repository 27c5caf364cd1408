/**
 * `SessionClient` (ws-lifecycle/client) speaking the conformance client
 * suite's line protocol (docs/conformance.md), so the suite can run it:
 *
 *   npx ws-lifecycle conformance client -- npx tsx examples/conformance/session-client.ts
 *
 * It connects to WSL_CONFORMANCE_URL, prints one JSON line per thing it
 * hands its application (message, recovery, unsubscribed, closed) and does
 * what each line on its stdin asks (send, close).
 */
import { createInterface } from 'node:readline';
import { WebSocket } from 'ws';
import { SessionClient, type ClientSocketConstructor } from '../../src/client/session-client.js';

const url = process.env.WSL_CONFORMANCE_URL;
if (url === undefined) {
  console.error('WSL_CONFORMANCE_URL is not set: run this through `ws-lifecycle conformance client -- ...`');
  process.exit(2);
}
const heartbeatMs = Number(process.env.WSL_CONFORMANCE_HEARTBEAT_MS);

/** The code of the last close, for the `closed` event (SessionClient tells its application only that it stopped). */
let lastCode: number | null = null;
class Socket extends WebSocket {
  constructor(address: string, protocols: string[]) {
    super(address, protocols);
    this.on('close', (code: number) => void (lastCode = code));
  }
}

function emit(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

const client = new SessionClient({
  url,
  WebSocket: Socket as unknown as ClientSocketConstructor,
  ...(heartbeatMs > 0 ? { heartbeatIntervalMs: heartbeatMs, heartbeatTimeoutMs: heartbeatMs } : {})
});
client.on('message', ({ bytes, ...message }) =>
  emit({ event: 'message', ...(bytes === undefined ? message : { ...message, b64: Buffer.from(bytes).toString('base64') }) })
);
client.on('recovery', (recovery) => emit({ event: 'recovery', ...recovery }));
client.on('unsubscribed', ({ topic }) => emit({ event: 'unsubscribed', topic }));
client.on('state', (state) => {
  if (state === 'closed') emit({ event: 'closed', code: lastCode });
});
client.start();

createInterface({ input: process.stdin })
  .on('line', (line) => {
    const instruction = JSON.parse(line) as { do?: string; data?: unknown };
    if (instruction.do === 'send') void client.send(instruction.data);
    else if (instruction.do === 'close') client.close();
  })
  .on('close', () => {
    client.close();
    process.exit(0);
  });
