/**
 * The client process of the cluster scenario (#12): session clients
 * (`ws-lifecycle/client`) or socket.io-client sockets, all through the
 * round-robin proxy in front of the nodes, each counting the sequence
 * numbers it receives and when it reconnected.
 */
import { io as ioClient, type Socket } from 'socket.io-client';
import { WebSocket } from 'ws';
import { SessionClient, type ClientSocketConstructor } from '../src/client/session-client.js';
import type { ClusterSubject } from './cluster-server.js';
import { nowMs, until } from './clock.js';
import { serveAgent } from './rpc.js';

const WAIT_MS = 120_000;

interface Tracked {
  seen: Map<number, number>;
  duplicated: number;
  lastAt: number;
  /** When the client lost its connection, and when it was connected again, after each loss. */
  lost: number[];
  back: number[];
  ready(): boolean;
  close(): void;
}

let clients: Tracked[] = [];

function tracked(): Tracked {
  const t: Tracked = {
    seen: new Map(),
    duplicated: 0,
    lastAt: 0,
    lost: [],
    back: [],
    ready: () => false,
    close: () => {}
  };
  return t;
}

function note(t: Tracked, n: number): void {
  const times = t.seen.get(n) ?? 0;
  if (times > 0) t.duplicated++;
  t.seen.set(n, times + 1);
  t.lastAt = nowMs();
}

function sessionClient(url: string): Tracked {
  const t = tracked();
  const client = new SessionClient({ url, WebSocket: WebSocket as unknown as ClientSocketConstructor, minDelayMs: 5, maxDelayMs: 50 });
  client.on('message', ({ data }) => note(t, (data as { n: number }).n));
  let opened = false;
  client.on('state', (state) => {
    if (state === 'open') {
      if (opened) t.back.push(nowMs());
      opened = true;
    } else if (opened && state === 'reconnecting' && t.lost.length === t.back.length) t.lost.push(nowMs());
  });
  client.start();
  t.ready = () => client.state === 'open';
  t.close = () => client.close();
  return t;
}

function ioSocket(url: string, user: string): Tracked {
  const t = tracked();
  const socket: Socket = ioClient(url, { transports: ['websocket'], query: { user }, reconnectionDelay: 5, reconnectionDelayMax: 50 });
  socket.on('m', (message: { n: number }) => note(t, message.n));
  let opened = false;
  socket.on('connect', () => {
    if (opened) t.back.push(nowMs());
    opened = true;
  });
  socket.on('disconnect', () => {
    if (t.lost.length === t.back.length) t.lost.push(nowMs());
  });
  t.ready = () => socket.connected;
  t.close = () => void socket.close();
  return t;
}

serveAgent({
  now: () => nowMs(),
  connect: async (args: { subject: ClusterSubject; port: number; clients: number; user: string }) => {
    clients = [];
    for (let i = 0; i < args.clients; i++) {
      clients.push(
        args.subject === 'socket.io' ? ioSocket(`http://127.0.0.1:${args.port}`, args.user) : sessionClient(`ws://127.0.0.1:${args.port}/?user=${args.user}`)
      );
      // One at a time through the round-robin proxy: the tabs spread evenly over the nodes.
      await until(() => clients.at(-1)!.ready(), 'a client to connect', WAIT_MS);
    }
  },
  /** Every client has every number from..to, or nothing arrived for `settleMs`; the time the last one arrived. */
  received: async (args: { from: number; to: number; settleMs: number }) => {
    // Each client's first missing number only moves forward: the polling costs O(messages) in all, not per poll.
    const next = clients.map(() => args.from);
    const has = (c: Tracked, i: number): boolean => {
      while (next[i]! <= args.to && c.seen.has(next[i]!)) next[i]!++;
      return next[i]! > args.to;
    };
    const lastAt = (): number => Math.max(...clients.map((c) => c.lastAt));
    const started = nowMs();
    await until(() => clients.every((c, i) => has(c, i)) || nowMs() - Math.max(lastAt(), started) > args.settleMs, `numbers ${args.from}..${args.to}`, WAIT_MS);
    return lastAt();
  },
  tally: (args: { to: number }) => {
    let lost = 0;
    for (const c of clients) for (let n = 1; n <= args.to; n++) if (!c.seen.has(n)) lost++;
    return { lost, duplicated: clients.reduce((sum, c) => sum + c.duplicated, 0) };
  },
  /** Clients that lost their connection after `since`, and the latest time one of them was connected again. */
  comeback: (args: { since: number }) => {
    const moved = clients.filter((c) => c.lost.some((at) => at >= args.since));
    const backs = moved.map((c) => c.back.find((at) => at >= args.since));
    return { moved: moved.length, allBackAt: backs.some((at) => at === undefined) ? undefined : Math.max(...(backs as number[])) };
  },
  close: () => {
    for (const c of clients) c.close();
    clients = [];
  }
});
