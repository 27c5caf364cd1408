/**
 * The client process of the storm scenario (#14): N clients that come back
 * at once when the server drops them: session clients
 * (`ws-lifecycle/client`, resuming), raw ws clients that reconnect at once,
 * or socket.io-client sockets with their reconnection (no delay). Each
 * records when it was connected again after the drop.
 */
import { io as ioClient, type Socket } from 'socket.io-client';
import { WebSocket } from 'ws';
import { SessionClient, type ClientSocketConstructor } from '../src/client/session-client.js';
import { cpuMicrosSince, nowMs, until } from './clock.js';
import { serveAgent } from './rpc.js';
import type { StormSubject } from './storm-server.js';

const WAIT_MS = 180_000;
/** Clients opened at once while the population is built. */
const OPEN_BATCH = 250;

interface Client {
  /** When it was last connected (welcomed, for a session client). */
  connectedAt: number;
  connected(): boolean;
  close(): void;
}

let clients: Client[] = [];

function sessionClient(url: string): Client {
  // Full jitter over at most 1 ms: reconnect at once.
  const client = new SessionClient({ url, WebSocket: WebSocket as unknown as ClientSocketConstructor, minDelayMs: 1, maxDelayMs: 1 });
  const c: Client = { connectedAt: 0, connected: () => client.state === 'open', close: () => client.close() };
  client.on('state', (state) => {
    if (state === 'open') c.connectedAt = nowMs();
  });
  client.start();
  return c;
}

function wsClient(url: string): Client {
  let ws: WebSocket;
  let closed = false;
  const c: Client = { connectedAt: 0, connected: () => ws.readyState === WebSocket.OPEN, close: () => ((closed = true), ws.terminate()) };
  const open = (): void => {
    ws = new WebSocket(url);
    ws.on('error', () => {});
    ws.once('open', () => (c.connectedAt = nowMs()));
    ws.once('close', () => {
      if (!closed) open();
    });
  };
  open();
  return c;
}

function ioSocket(url: string): Client {
  const socket: Socket = ioClient(url, { transports: ['websocket'], reconnectionDelay: 0, reconnectionDelayMax: 0, randomizationFactor: 0 });
  const c: Client = { connectedAt: 0, connected: () => socket.connected, close: () => void socket.close() };
  socket.on('connect', () => (c.connectedAt = nowMs()));
  return c;
}

serveAgent({
  now: () => nowMs(),
  connect: async (args: { subject: StormSubject; port: number; count: number }) => {
    clients = [];
    // manager-plain: the manager without sessions, its clients plain ws like raw ws's.
    const make = args.subject === 'socket.io' ? ioSocket : args.subject === 'manager' ? sessionClient : wsClient;
    const url = args.subject === 'socket.io' ? `http://127.0.0.1:${args.port}` : `ws://127.0.0.1:${args.port}/?user=u`;
    for (let i = 0; i < args.count; i += OPEN_BATCH) {
      const batch = Array.from({ length: Math.min(OPEN_BATCH, args.count - i) }, () => make(url));
      clients.push(...batch);
      await until(() => batch.every((c) => c.connected()), `${clients.length} ${args.subject} clients`, WAIT_MS, 5);
    }
  },
  /**
   * Wait until every client is connected again after `since`; per-client times from `since`, sorted, and this
   * process's CPU meanwhile (the clients' own work: one process plays every client here).
   */
  back: async (args: { since: number }) => {
    const mark = process.cpuUsage();
    await until(() => clients.every((c) => c.connectedAt > args.since && c.connected()), 'every client back', WAIT_MS, 5);
    return { times: clients.map((c) => c.connectedAt - args.since).sort((a, b) => a - b), cpuMicros: cpuMicrosSince(mark) };
  },
  close: () => {
    for (const c of clients) c.close();
    clients = [];
  }
});
