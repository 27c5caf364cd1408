/**
 * The demo: a ConnectionManager embedded in a ws server on 127.0.0.1,
 * simulated users with several tabs each, and agent runs streamed to every
 * tab of a user while tabs close, drop, reconnect, get kicked or freeze.
 * `runDemo` returns what happened; `examples/demo.ts` is its command line.
 */
import { once, setMaxListeners } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { WebSocketServer } from 'ws';
import { ConnectionManager, type ConnectionState, type SendFailureReason, type ShutdownReport } from '../src/index.js';
import { createInspector } from '../src/inspector/inspector.js';
import { TAB_ENDINGS, guardSends, openTab, type Tab, type TabCounters, type TabEnding } from './demo-tabs.js';

/** Path of the demo's WebSocket endpoint. */
export const WS_PATH = '/ws';

export interface DemoOptions {
  /** Simulated users. Default 4. */
  users?: number;
  /** Tabs per user. Default 3. */
  tabs?: number;
  /** How long the simulation runs, unless `until` is given. Default 4. */
  seconds?: number;
  /** Run until this signal aborts instead of for `seconds` (serve mode). */
  until?: AbortSignal;
  /** Port on 127.0.0.1; 0 picks a free one. Default 0. */
  port?: number;
  /** File the audit trail is written to. Default: a new file under the OS temp dir. */
  audit?: string;
  /** Serve the inspector page at `/inspect`. Default false. */
  inspect?: boolean;
  /** Seed of the pseudo-random choices. Default: random. */
  seed?: number;
  /** Called once the server listens. */
  onListening?: (urls: { ws: string; inspect: string | undefined }) => void | Promise<void>;
}

/** What a demo run did. */
export interface DemoSummary {
  seed: number;
  users: number;
  tabs: number;
  url: string;
  durationMs: number;
  connections: {
    opened: number;
    closed: number;
    /** Connections still in the manager after shutdown (0 when all is well). */
    live: number;
  };
  transitions: {
    total: number;
    /** Transitions into each state. */
    byState: Partial<Record<ConnectionState, number>>;
    byEvent: Record<string, number>;
  };
  /** Closed connections per initiator: server, peer, timeout, error. */
  closedBy: Record<string, number>;
  messages: {
    runs: number;
    sent: number;
    refused: Partial<Record<SendFailureReason, number>>;
    receivedByClients: number;
    receivedByServer: number;
  };
  sendAfterCloseErrors: number;
  shutdown: ShutdownReport;
  audit: {
    file: string;
    /** Lines with a transition record. */
    transitions: number;
    /** Other audit lines (the manager's debug records of refused sends). */
    other: number;
  };
}

const DEFAULTS = { users: 4, tabs: 3, seconds: 4, port: 0 };
const TIMING = { heartbeatIntervalMs: 300, closeTimeoutMs: 500, handshakeTimeoutMs: 2_000 };
const TOOLS = ['search_docs', 'read_file', 'run_tests', 'edit_file'];
const NOT_OPEN = /WebSocket is not open/;

/** mulberry32: a tiny seeded generator, so a run's choices can be replayed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function increment<K extends string>(counts: Partial<Record<K, number>>, key: K, by = 1): void {
  counts[key] = (counts[key] ?? 0) + by;
}

/** The messages of one agent run, in order. */
function agentRun(runId: string, random: () => number): Array<Record<string, unknown>> {
  const steps: Array<Record<string, unknown>> = [
    { type: 'agent_started', runId },
    { type: 'agent_thinking', runId, text: 'planning the next step' }
  ];
  const tools = 1 + Math.floor(random() * 3);
  for (let i = 0; i < tools; i++) {
    const tool = TOOLS[Math.floor(random() * TOOLS.length)]!;
    steps.push({ type: 'tool_executing', runId, tool });
    steps.push({ type: 'tool_completed', runId, tool, ok: true });
  }
  steps.push({ type: 'agent_completed', runId, result: 'done' });
  return steps;
}

function queryOf(request: IncomingMessage): URLSearchParams {
  return new URL(request.url ?? '/', 'http://127.0.0.1').searchParams;
}

/**
 * Run the demo once: start the server, simulate the users, shut down
 * gracefully, close everything it opened.
 *
 * @param {DemoOptions} [options] Sizes, length, port, audit file, inspector
 * @returns {Promise<DemoSummary>} What happened
 */
export async function runDemo(options: DemoOptions = {}): Promise<DemoSummary> {
  const users = options.users ?? DEFAULTS.users;
  const tabs = options.tabs ?? DEFAULTS.tabs;
  const seconds = options.seconds ?? DEFAULTS.seconds;
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const random = seeded(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const between = (min: number, max: number): number => min + random() * (max - min);
  const started = performance.now();

  const counters: TabCounters = { receivedByClients: 0, sendAfterCloseErrors: 0 };
  const summary = {
    opened: 0,
    closed: 0,
    transitions: 0,
    byState: {} as DemoSummary['transitions']['byState'],
    byEvent: {} as Record<string, number>,
    closedBy: {} as Record<string, number>,
    runs: 0,
    sent: 0,
    refused: {} as DemoSummary['messages']['refused'],
    receivedByServer: 0
  };

  const auditFile = options.audit ?? join(tmpdir(), `ws-lifecycle-demo-${process.pid}-${Date.now()}.jsonl`);
  const audit = pino.destination({ dest: auditFile, sync: true, mkdir: true });
  // The manager's own log: scanned for "not open" errors, otherwise dropped.
  const logger = pino({ level: 'warn' }, {
    write: (line: string) => {
      if (NOT_OPEN.test(line)) counters.sendAfterCloseErrors++;
    }
  });
  const manager = new ConnectionManager({ logger, audit, ...TIMING });
  manager.on('connection', () => summary.opened++);
  manager.on('transition', (_connection, record) => {
    summary.transitions++;
    increment(summary.byState, record.to);
    increment(summary.byEvent, record.event);
  });
  manager.on('close', (_connection, info) => {
    summary.closed++;
    increment(summary.closedBy, info.initiator);
  });
  manager.on('message', () => summary.receivedByServer++);

  const http = createServer();
  const wss = new WebSocketServer({ noServer: true });
  wss.on('connection', (ws) => guardSends(ws, counters));
  manager.attach(wss, {
    identify: (request) => {
      const query = queryOf(request);
      return { userId: query.get('user') ?? 'anonymous', metadata: { tab: query.get('tab') ?? undefined } };
    }
  });
  const inspector = options.inspect ? createInspector(manager, { server: http }) : undefined;
  http.on('request', (request, response) => {
    if (!inspector?.handles(request)) response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  http.on('upgrade', (request, socket, head) => {
    if (new URL(request.url ?? '/', 'http://127.0.0.1').pathname === WS_PATH) {
      wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
    } else if (!inspector?.handles(request)) {
      socket.destroy();
    }
  });
  http.listen(options.port ?? DEFAULTS.port, '127.0.0.1');
  await once(http, 'listening');
  const origin = `127.0.0.1:${(http.address() as AddressInfo).port}`;
  const url = `ws://${origin}${WS_PATH}`;
  await options.onListening?.({ ws: url, inspect: inspector ? `http://${origin}${inspector.path}` : undefined });

  const timer = new AbortController();
  const stopTimer = options.until ? undefined : setTimeout(() => timer.abort(), seconds * 1000);
  const stop = options.until ?? timer.signal;
  // Every user's and tab's pause listens to it at once.
  setMaxListeners(users * (tabs + 1) + 8, stop);
  /** Wait, or less if the run stops; resolves `false` once stopped. */
  const pause = (ms: number): Promise<boolean> =>
    sleep(ms, undefined, { signal: stop }).then(
      () => true,
      () => false
    );
  const stopped = new Promise<false>((resolve) => stop.addEventListener('abort', () => resolve(false), { once: true }));
  const openTabs = new Set<Tab>();

  async function agentLoop(user: string): Promise<void> {
    for (let run = 1; !stop.aborted; run++) {
      summary.runs++;
      for (const message of agentRun(`${user}/run-${run}`, random)) {
        const report = await manager.sendToUser(user, message);
        summary.sent += report.sent;
        for (const [reason, count] of Object.entries(report.reasons)) {
          increment(summary.refused, reason as SendFailureReason, count);
        }
        if (!(await pause(between(20, 90)))) return;
      }
      if (!(await pause(between(80, 250)))) return;
    }
  }

  /** End a tab the way `ending` says, from the client or the server side. */
  function end(tab: Tab, user: string, tabId: string, ending: TabEnding): void {
    if (ending === 'kick' || ending === 'evict') {
      const connection = manager.connectionsOf(user).find((c) => c.metadata?.tab === tabId && c.state === 'connected');
      if (connection) {
        if (ending === 'kick') void connection.close(4000, 'session expired');
        else void connection.terminate();
        return;
      }
    }
    if (ending === 'close' || ending === 'kick' || ending === 'evict') tab.ws.close(1000, 'tab closed');
    else if (ending !== 'freeze') tab.ws.terminate();
  }

  async function tabLoop(user: string, tabId: string): Promise<void> {
    while (!stop.aborted) {
      const ending = pick(TAB_ENDINGS);
      const tab = await openTab(url, user, tabId, ending !== 'freeze', counters);
      if (!tab) {
        if (!(await pause(100))) return;
        continue;
      }
      openTabs.add(tab);
      void tab.closed.then(() => openTabs.delete(tab));
      // A frozen tab lives until the heartbeat ends it; the others for a while.
      const lived = ending === 'freeze' ? await Promise.race([tab.closed.then(() => true), stopped]) : await pause(between(400, 2_000));
      if (!lived) return; // stopped: shutdown closes the tab
      end(tab, user, tabId, ending);
      await tab.closed;
      if (ending !== 'reconnect' && !(await pause(between(100, 500)))) return;
    }
  }

  const userIds = Array.from({ length: users }, (_, i) => `user-${i + 1}`);
  await Promise.all([
    ...userIds.map(agentLoop),
    ...userIds.flatMap((user) => Array.from({ length: tabs }, (_, t) => tabLoop(user, `tab-${t + 1}`)))
  ]);
  clearTimeout(stopTimer);

  const shutdown = await manager.shutdown({ timeoutMs: 1_000 });
  // Clients answer the server's close frame; anything still open after that is cut.
  const drained = Promise.all([...openTabs].map((tab) => tab.closed));
  const late = new AbortController();
  const cut = sleep(1_000, undefined, { signal: late.signal }).then(
    () => [...openTabs].forEach((tab) => tab.ws.terminate()),
    () => {}
  );
  await drained;
  late.abort();
  await cut;
  await inspector?.close();
  await new Promise<void>((resolve) => wss.close(() => resolve()));
  http.closeAllConnections();
  await new Promise<void>((resolve) => http.close(() => resolve()));
  audit.flushSync();
  audit.end();

  const lines = (await readFile(auditFile, 'utf8')).split('\n').filter((line) => line !== '');
  const transitionLines = lines.filter((line) => (JSON.parse(line) as { msg?: string }).msg === 'transition').length;
  return {
    seed,
    users,
    tabs,
    url,
    durationMs: Math.round(performance.now() - started),
    connections: { opened: summary.opened, closed: summary.closed, live: manager.size },
    transitions: { total: summary.transitions, byState: summary.byState, byEvent: summary.byEvent },
    closedBy: summary.closedBy,
    messages: {
      runs: summary.runs,
      sent: summary.sent,
      refused: summary.refused,
      receivedByClients: counters.receivedByClients,
      receivedByServer: summary.receivedByServer
    },
    sendAfterCloseErrors: counters.sendAfterCloseErrors,
    shutdown,
    audit: { file: auditFile, transitions: transitionLines, other: lines.length - transitionLines }
  };
}
