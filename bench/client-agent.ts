/**
 * The client process of a benchmark: opens ws or Socket.IO clients against
 * the server process, counts what they receive and times it on the shared
 * monotonic clock. It does as little per message as it can (counts, no
 * parsing where the protocol allows), so the server is what is measured.
 */
import { io as socketIoClient, type Socket as SocketIoClient } from 'socket.io-client';
import { WebSocket } from 'ws';
import { nowMs } from './clock.js';
import { serveAgent } from './rpc.js';

/** Which kind of client to open. */
export type ClientKind = 'ws' | 'socket.io';

export interface ChurnResult {
  /** Connections opened, seen open, and closed by the server with 1000. */
  completed: number;
  /** From the first connect to the last clean close, in milliseconds. */
  elapsedMs: number;
}

const CLIENT_OPTIONS = Object.freeze({ perMessageDeflate: false, skipUTF8Validation: true });
/** Connects in flight at once while opening a population. */
const OPEN_CONCURRENCY = 256;

const wsClients = new Set<WebSocket>();
const socketIoClients = new Set<SocketIoClient>();
let delivered = 0;
let goal = Infinity;
let reachedAt: number | undefined;
let onGoal: ((at: number) => void) | undefined;
let transportErrors = 0;

function onMessage(): void {
  if (++delivered === goal) {
    reachedAt = nowMs();
    onGoal?.(reachedAt);
  }
}
function onError(): void {
  transportErrors++;
}

function openWs(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, CLIENT_OPTIONS);
    ws.on('message', onMessage);
    ws.once('error', reject);
    ws.once('open', () => {
      ws.off('error', reject);
      ws.on('error', onError);
      wsClients.add(ws);
      resolve();
    });
  });
}

function openSocketIo(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = socketIoClient(url, { transports: ['websocket'], forceNew: true, reconnection: false });
    socket.on('msg', onMessage);
    socket.once('connect_error', reject);
    socket.once('connect', () => {
      socket.off('connect_error', reject);
      socketIoClients.add(socket);
      resolve();
    });
  });
}

/** Run `task` `count` times with at most `concurrency` in flight. */
async function pool(count: number, concurrency: number, task: () => Promise<void>): Promise<void> {
  let started = 0;
  const worker = async (): Promise<void> => {
    while (started < count) {
      started++;
      await task();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

async function open(args: { kind: ClientKind; port: number; count: number }): Promise<number> {
  if (args.kind === 'ws') {
    const url = `ws://127.0.0.1:${args.port}/`;
    await pool(args.count, OPEN_CONCURRENCY, () => openWs(url));
  } else {
    const url = `http://127.0.0.1:${args.port}`;
    await pool(args.count, OPEN_CONCURRENCY, () => openSocketIo(url));
  }
  return wsClients.size + socketIoClients.size;
}

async function closeAll(): Promise<void> {
  const closing: Promise<unknown>[] = [];
  for (const ws of wsClients) {
    closing.push(new Promise((resolve) => ws.once('close', resolve)));
    ws.close(1000, 'done');
  }
  wsClients.clear();
  for (const socket of socketIoClients) socket.disconnect();
  socketIoClients.clear();
  await Promise.all(closing);
}

/** Drop every client at once, without a close handshake (teardown). */
function terminateAll(): void {
  for (const ws of wsClients) ws.terminate();
  wsClients.clear();
  for (const socket of socketIoClients) socket.disconnect();
  socketIoClients.clear();
}

/** Expect `target` more messages from now on. */
function arm(args: { target: number }): void {
  if (!(args.target > 0)) throw new RangeError(`Invalid target: ${args.target}`);
  goal = delivered + args.target;
  reachedAt = undefined;
  onGoal = undefined;
}

/** When the armed number of messages had all arrived (shared clock, ms). */
function wait(args: { timeoutMs: number }): Promise<number> {
  if (reachedAt !== undefined) return Promise.resolve(reachedAt);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      onGoal = undefined;
      reject(new Error(`Timed out after ${args.timeoutMs} ms: ${delivered} of ${goal} messages delivered`));
    }, args.timeoutMs);
    onGoal = (at) => {
      clearTimeout(timer);
      onGoal = undefined;
      resolve(at);
    };
  });
}

function churnOnce(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, CLIENT_OPTIONS);
    let opened = false;
    ws.once('open', () => {
      opened = true;
    });
    ws.once('error', reject);
    ws.once('close', (code, reason) => {
      if (opened && code === 1000) resolve();
      else reject(new Error(`Churn connection ended with ${code} ${reason.toString()} (opened: ${opened})`));
    });
  });
}

/** A socket.io-client connection that the server ends once connected. */
function churnOnceSocketIo(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = socketIoClient(url, { transports: ['websocket'], forceNew: true, reconnection: false });
    socket.once('connect_error', reject);
    socket.once('disconnect', (reason) => {
      if (reason === 'io server disconnect') resolve();
      else reject(new Error(`Churn socket ended with ${reason}`));
    });
  });
}

/**
 * Open connections that the server closes once connected, `concurrency` at a
 * time, for `durationMs` (`kind`: ws clients, or socket.io-client).
 */
async function churn(args: { port: number; concurrency: number; durationMs: number; kind?: 'ws' | 'socket.io' }): Promise<ChurnResult> {
  const url = args.kind === 'socket.io' ? `http://127.0.0.1:${args.port}` : `ws://127.0.0.1:${args.port}/`;
  const churnOnceOf = args.kind === 'socket.io' ? churnOnceSocketIo : churnOnce;
  const start = nowMs();
  const deadline = start + args.durationMs;
  let completed = 0;
  let last = start;
  const worker = async (): Promise<void> => {
    while (nowMs() < deadline) {
      await churnOnceOf(url);
      completed++;
      last = nowMs();
    }
  };
  await Promise.all(Array.from({ length: args.concurrency }, worker));
  return { completed, elapsedMs: last - start };
}

serveAgent({
  open,
  closeAll,
  terminateAll,
  arm,
  wait,
  churn,
  /** The clock, for checking that both processes read the same one. */
  now: () => nowMs(),
  /** Errors seen on open clients so far. */
  errors: () => transportErrors
});
