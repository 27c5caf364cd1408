/**
 * The soak's client process: real ws clients on 127.0.0.1 that open,
 * chatter, pause, burst, close, terminate and abort, kept apart from the
 * server so the server's event loop is measured on its own.
 *
 * Started by the server process with a {@link ClientConfig} as JSON in
 * argv[2]; steered over IPC ({@link ToClient}); exits by itself after `stop`.
 */
import { WebSocket } from 'ws';
import { FLOOD_REQUEST, type ClientConfig, type ClientStats, type FromClient, type ToClient } from './protocol.js';
import { Pool } from './pool.js';
import { createRandom, weightedChooser } from './random.js';
import { errorKey, tally } from './tally.js';

const TICK_MS = 5;
/** A socket still closing this long after a drain is terminated. */
const DRAIN_GRACE_MS = 3_000;
const BURST_MESSAGES = 150;

const config = JSON.parse(process.argv[2] ?? '') as ClientConfig;
const random = createRandom(config.seed ^ 0x5eed);
const baseUrl = `ws://127.0.0.1:${config.port}/?user=u`;

const stats: ClientStats = {
  attempted: 0,
  opened: 0,
  failedToOpen: 0,
  aborted: 0,
  closes: 0,
  terminates: 0,
  floods: 0,
  bursts: 0,
  messagesSent: 0,
  messagesReceived: 0,
  peakSockets: 0,
  closeCodes: {},
  errors: {}
};

/** Every socket not yet closed, connecting or open. */
const sockets = new Set<WebSocket>();
/** Open sockets, for picking one at random. */
const open = new Pool<WebSocket>();
/** At most one pending timer per socket. */
const timers = new Map<WebSocket, NodeJS.Timeout>();
let connecting = 0;
let mode: 'idle' | 'running' | 'draining' | 'stopping' = 'idle';
let ticker: NodeJS.Timeout | undefined;
let target = config.maxLive;
let ticks = 0;
let messageSeq = 0;

const endOfLife = weightedChooser(random, {
  close: 40,
  terminate: 30,
  sendThenClose: 10,
  sendThenTerminate: 5,
  linger: 15
});

function reply(message: FromClient, then?: () => void): void {
  if (process.connected) process.send!(message, undefined, {}, () => then?.());
  else then?.();
}

function schedule(ws: WebSocket, ms: number, action: () => void): void {
  clearTimeout(timers.get(ws));
  timers.set(
    ws,
    setTimeout(() => {
      timers.delete(ws);
      action();
    }, ms)
  );
}

function say(ws: WebSocket, text: string): void {
  if (ws.readyState !== WebSocket.OPEN) return;
  ws.send(text);
  stats.messagesSent++;
}

function closeSocket(ws: WebSocket): void {
  stats.closes++;
  ws.close(random.pick([1000, 1001, 4001, 4999]), random.chance(0.5) ? '' : 'client done');
}

function terminateSocket(ws: WebSocket): void {
  stats.terminates++;
  ws.terminate();
}

function openOne(): void {
  const ws = new WebSocket(baseUrl + random.int(1, config.users), { perMessageDeflate: false, handshakeTimeout: 10_000 });
  stats.attempted++;
  connecting++;
  sockets.add(ws);
  let opened = false;
  ws.on('error', (error: Error) => tally(stats.errors, errorKey(error)));
  ws.on('message', () => stats.messagesReceived++);
  ws.once('open', () => {
    opened = true;
    connecting--;
    stats.opened++;
    open.add(ws);
    if (mode === 'running') live(ws);
    else drainSocket(ws);
  });
  ws.once('close', (code: number) => {
    if (opened) open.delete(ws);
    else {
      connecting--;
      stats.failedToOpen++;
    }
    sockets.delete(ws);
    clearTimeout(timers.get(ws));
    timers.delete(ws);
    tally(stats.closeCodes, String(code));
    checkDrained();
  });
  if (random.chance(0.02)) {
    schedule(ws, random.int(0, 3), () => {
      if (ws.readyState !== WebSocket.CONNECTING) return;
      stats.aborted++;
      ws.terminate();
    });
  }
}

/** An open socket's life: some chatter, maybe a burst or a flood, then an end. */
function live(ws: WebSocket): void {
  for (let i = random.int(0, 2); i > 0; i--) say(ws, `hello ${++messageSeq}`);
  if (random.chance(0.01)) {
    stats.bursts++;
    for (let i = 0; i < BURST_MESSAGES; i++) say(ws, `burst ${i}`);
  }
  if (random.chance(0.02)) {
    // Stop reading and ask for a flood: the server hits its send buffer limit.
    stats.floods++;
    ws.pause();
    say(ws, FLOOD_REQUEST);
    schedule(ws, random.int(300, 1_500), () => {
      ws.resume();
      scheduleEnd(ws);
    });
    return;
  }
  scheduleEnd(ws);
}

function scheduleEnd(ws: WebSocket): void {
  schedule(ws, random.int(20, 2_500), () => {
    switch (endOfLife()) {
      case 'close':
        return closeSocket(ws);
      case 'terminate':
        return terminateSocket(ws);
      case 'sendThenClose':
        say(ws, 'bye');
        return closeSocket(ws);
      case 'sendThenTerminate':
        say(ws, 'bye');
        return terminateSocket(ws);
      case 'linger':
        // Leave it to the server; end it later if the server has not.
        return schedule(ws, 5_000, () => terminateSocket(ws));
    }
  });
}

function tick(): void {
  if (mode !== 'running') return;
  if (++ticks % Math.round(1_000 / TICK_MS) === 0) target = random.int(Math.ceil(config.maxLive / 2), config.maxLive);
  while (sockets.size < target && connecting < config.openConcurrency) openOne();
  if (sockets.size > stats.peakSockets) stats.peakSockets = sockets.size;
  for (let n = Math.ceil(open.size / 100); n > 0; n--) {
    const ws = open.pick(random);
    if (ws) say(ws, `chat ${++messageSeq}`);
  }
}

function drainSocket(ws: WebSocket): void {
  if (ws.readyState === WebSocket.CONNECTING) {
    stats.aborted++;
    ws.terminate();
    return;
  }
  ws.resume();
  if (random.chance(0.5)) terminateSocket(ws);
  else {
    closeSocket(ws);
    schedule(ws, DRAIN_GRACE_MS, () => terminateSocket(ws));
  }
}

function drain(next: 'draining' | 'stopping'): void {
  mode = next;
  clearInterval(ticker);
  ticker = undefined;
  for (const ws of [...sockets]) {
    clearTimeout(timers.get(ws));
    timers.delete(ws);
    drainSocket(ws);
  }
  checkDrained();
}

function checkDrained(): void {
  if (sockets.size !== 0) return;
  if (mode === 'draining') {
    mode = 'idle';
    reply({ type: 'drained' });
  } else if (mode === 'stopping') {
    mode = 'idle';
    reply({ type: 'stats', stats }, () => {
      if (process.connected) process.disconnect();
    });
  }
}

process.on('message', (message: ToClient) => {
  switch (message.type) {
    case 'run':
      mode = 'running';
      ticker ??= setInterval(tick, TICK_MS);
      return;
    case 'drain':
      return drain('draining');
    case 'stop':
      return drain('stopping');
  }
});
// If the server process goes away, close everything and let this process end.
process.on('disconnect', () => {
  if (mode !== 'idle') drain('stopping');
});

reply({ type: 'ready' });
