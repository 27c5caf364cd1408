/**
 * The client process of the sessions scenario (#11): session clients
 * (`ws-lifecycle/client` over ws), plain ws clients, or socket.io-client
 * sockets, each counting the sequence numbers it receives, so a run tells
 * how fast messages arrive and whether any was lost or came twice across a
 * reconnect.
 */
import { io as ioClient, type Socket } from 'socket.io-client';
import { WebSocket } from 'ws';
import { SessionClient, type ClientSocketConstructor } from '../src/client/session-client.js';
import { nowMs, until } from './clock.js';
import { serveAgent } from './rpc.js';
import type { SessionSubject } from './session-server.js';

/** Longest wait for a population or a delivery. */
const WAIT_MS = 120_000;

interface Tracked {
  /** How often each sequence number arrived. */
  seen: Map<number, number>;
  duplicated: number;
  lastAt: number;
  ready(): boolean;
  /** The network drops and stays down until `resume`. */
  drop(): void;
  resume(): void;
  close(): void;
}

let clients: Tracked[] = [];

function track(): Pick<Tracked, 'seen' | 'duplicated' | 'lastAt'> & { note(n: number): void } {
  const tracked = {
    seen: new Map<number, number>(),
    duplicated: 0,
    lastAt: 0,
    note(n: number) {
      const times = tracked.seen.get(n) ?? 0;
      if (times > 0) tracked.duplicated++;
      tracked.seen.set(n, times + 1);
      tracked.lastAt = nowMs();
    }
  };
  return tracked;
}

function sessionClient(url: string): Tracked {
  const t = track();
  let offline = false;
  const sockets: WebSocket[] = [];
  class GatedSocket extends WebSocket {
    constructor(target: string, protocols: string[]) {
      // Port 1 refuses at once: the network is down.
      super(offline ? 'ws://127.0.0.1:1/' : target, protocols);
      this.on('error', () => {});
      sockets.push(this);
    }
  }
  const client = new SessionClient({ url, WebSocket: GatedSocket as unknown as ClientSocketConstructor, minDelayMs: 5, maxDelayMs: 10 });
  client.on('message', ({ data }) => t.note((data as { n: number }).n));
  client.start();
  return Object.assign(t, {
    ready: () => client.state === 'open',
    drop: () => {
      offline = true;
      sockets.at(-1)?.terminate();
    },
    resume: () => {
      offline = false;
    },
    close: () => {
      client.close();
      for (const socket of sockets) socket.terminate();
    }
  });
}

function plainClient(url: string): Tracked {
  const t = track();
  const ws = new WebSocket(url);
  ws.on('error', () => {});
  ws.on('message', (data) => t.note((JSON.parse(data.toString()) as { n: number }).n));
  const unsupported = (): never => {
    throw new Error('plain clients do not resume');
  };
  return Object.assign(t, { ready: () => ws.readyState === WebSocket.OPEN, drop: unsupported, resume: unsupported, close: () => ws.terminate() });
}

function ioSocket(url: string, user: string): Tracked {
  const t = track();
  const socket: Socket = ioClient(url, { transports: ['websocket'], query: { user }, reconnectionDelay: 5, reconnectionDelayMax: 10 });
  socket.on('m', (message: { n: number }) => t.note(message.n));
  return Object.assign(t, {
    ready: () => socket.connected,
    drop: () => {
      // A transport that dies (not a client disconnect, which ends the session): Socket.IO keeps the session for recovery.
      socket.io.reconnection(false);
      socket.io.engine.close();
    },
    resume: () => {
      socket.io.reconnection(true);
      socket.connect();
    },
    close: () => void socket.close()
  });
}

serveAgent({
  now: () => nowMs(),
  connect: async (args: { subject: SessionSubject; port: number; clients: number; usersEach: boolean }) => {
    clients = [];
    for (let i = 0; i < args.clients; i++) {
      const user = args.usersEach ? `u-${i + 1}` : 'u';
      const url = args.subject === 'socket.io' ? `http://127.0.0.1:${args.port}` : `ws://127.0.0.1:${args.port}/?user=${user}`;
      clients.push(args.subject === 'sessions' ? sessionClient(url) : args.subject === 'plain' ? plainClient(url) : ioSocket(url, user));
    }
    await until(() => clients.every((c) => c.ready()), `${args.clients} ${args.subject} clients`, WAIT_MS);
  },
  /**
   * Wait until every client has every number from `from` to `to`, or until
   * nothing arrived for `settleMs` (what is missing then is lost); the time
   * the last one arrived.
   */
  received: async (args: { from: number; to: number; settleMs: number }) => {
    const has = (c: Tracked): boolean => {
      for (let n = args.from; n <= args.to; n++) if (!c.seen.has(n)) return false;
      return true;
    };
    const lastAt = (): number => Math.max(...clients.map((c) => c.lastAt));
    const started = nowMs();
    await until(() => clients.every(has) || nowMs() - Math.max(lastAt(), started) > args.settleMs, `numbers ${args.from}..${args.to}`, WAIT_MS);
    return lastAt();
  },
  /** Lost (never arrived) and duplicated messages over numbers 1..to, summed over clients. */
  tally: (args: { to: number }) => {
    let lost = 0;
    for (const c of clients) for (let n = 1; n <= args.to; n++) if (!c.seen.has(n)) lost++;
    return { lost, duplicated: clients.reduce((sum, c) => sum + c.duplicated, 0) };
  },
  drop: () => {
    for (const c of clients) c.drop();
  },
  resume: () => {
    const at = nowMs();
    for (const c of clients) c.resume();
    return at;
  },
  close: () => {
    for (const c of clients) c.close();
    clients = [];
  }
});
