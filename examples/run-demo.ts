/**
 * The demo: a ConnectionManager embedded in a ws server on 127.0.0.1,
 * simulated users with several tabs each (session clients), and agent runs
 * streamed to every tab of a user while tabs drop, go offline, get kicked
 * or cut by the server, freeze or reload. Every tab comes back and must
 * have every event of its user exactly once. `runDemo` returns what
 * happened; `examples/demo.ts` is its command line.
 */
import { randomBytes } from 'node:crypto';
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
import { createInspector } from '../src/tools/inspector/inspector.js';
import { userTopic } from '../src/sessions/session-hub.js';
import { DemoTab, TAB_DISRUPTIONS, caughtUp, guardSends, summarizeTab, type TabCounters, type TabDisruption, type TabSummaryLine } from './demo-tabs.js';
import { seeded } from './seeded.js';

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
    /** Agent events published to users' topics. */
    published: number;
    /** Live writes to session connections, and those refused (the tab was away: it gets them on resume). */
    sent: number;
    refused: Partial<Record<SendFailureReason, number>>;
    /** Agent events the tabs' applications received (after dedupe). */
    receivedByClients: number;
    /** Tabs' answers to finished runs that the server delivered (`sessionMessage`). */
    receivedByServer: number;
  };
  /** Every tab, with what its user published since it started and what it received. */
  perTab: TabSummary[];
  /** Disruptions the tabs went through, per kind. */
  disruptions: Partial<Record<TabDisruption, number>>;
  /** Transitions of the session machines, by from->to. */
  sessionTransitions: Record<string, number>;
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

/** One tab's tally (`lost` counts events neither received nor told as a gap; `told` lists each `recovered: false`), and its answers. */
export interface TabSummary extends TabSummaryLine {
  answers: { sent: number; delivered: number };
}

const DEFAULTS = { users: 4, tabs: 3, seconds: 4, port: 0 };
const TIMING = { heartbeatIntervalMs: 300, closeTimeoutMs: 500, handshakeTimeoutMs: 2_000 };
const TOOLS = ['search_docs', 'read_file', 'run_tests', 'edit_file'];
const NOT_OPEN = /WebSocket is not open/;

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

  const counters: TabCounters = { sendAfterCloseErrors: 0 };
  const summary = {
    opened: 0,
    closed: 0,
    transitions: 0,
    byState: {} as DemoSummary['transitions']['byState'],
    byEvent: {} as Record<string, number>,
    closedBy: {} as Record<string, number>,
    runs: 0,
    published: 0,
    sent: 0,
    sessions: 0,
    sessionTransitions: {} as Record<string, number>,
    disruptions: {} as Partial<Record<TabDisruption, number>>,
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
  manager.on('sessionMessage', () => summary.receivedByServer++);
  manager.on('sessionTransition', (record) => {
    if (record.from === record.to) return;
    increment(summary.sessionTransitions, `${record.from}->${record.to}`);
  });


  const http = createServer();
  // What one client may send in one message: 1 MiB, as the adapters default to, not ws's 100 MiB (#21).
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
  wss.on('connection', (ws) => guardSends(ws, counters));
  manager.attach(wss, {
    identify: (request) => {
      const query = queryOf(request);
      return { userId: query.get('user') ?? 'anonymous', metadata: { tab: query.get('tab') ?? undefined } };
    }
  });
  // The inspector shows user ids and close reasons: only to whoever has this run's token.
  const inspectToken = randomBytes(18).toString('base64url');
  const inspector = options.inspect ? createInspector(manager, { server: http, token: inspectToken }) : undefined;
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
  await options.onListening?.({ ws: url, inspect: inspector ? `http://${origin}${inspector.path}?token=${inspectToken}` : undefined });

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
  const userIds = Array.from({ length: users }, (_, i) => `user-${i + 1}`);
  const demoTabs = userIds.flatMap((user) => Array.from({ length: tabs }, (_, t) => new DemoTab(url, user, `tab-${t + 1}`, counters)));

  async function agentLoop(user: string): Promise<void> {
    for (let run = 1; !stop.aborted; run++) {
      summary.runs++;
      for (const message of agentRun(`${user}/run-${run}`, random)) {
        const report = await manager.sendToUser(user, message);
        summary.published++;
        summary.sent += report.sent;
        for (const [reason, count] of Object.entries(report.reasons)) {
          increment(summary.refused, reason as SendFailureReason, count);
        }
        if (!(await pause(between(20, 90)))) return;
      }
      if (!(await pause(between(80, 250)))) return;
    }
  }

  /** Disrupt a tab the way `how` says, from the tab's side or the server's. */
  function disrupt(tab: DemoTab, how: TabDisruption): void {
    increment(summary.disruptions, how);
    if (how === 'kick' || how === 'evict') {
      const connection = manager.connectionsOf(tab.ledger.user).find((c) => c.metadata?.tab === tab.ledger.tab && c.state === 'connected');
      if (connection === undefined) return;
      if (how === 'kick') void connection.close(1012, 'service restart');
      else void connection.terminate();
      return;
    }
    tab.disrupt(how, between(200, 1_000));
  }

  async function tabLoop(tab: DemoTab): Promise<void> {
    while (!stop.aborted) {
      if (!(await pause(between(300, 1_200)))) return;
      disrupt(tab, pick(TAB_DISRUPTIONS));
    }
  }

  await Promise.all([...userIds.map(agentLoop), ...demoTabs.map(tabLoop)]);
  clearTimeout(stopTimer);

  // The agents have stopped: every tab comes back and catches up (bounded), then the tally is taken.
  const positions = new Map(await Promise.all(userIds.map(async (user) => [user, await manager.topicPosition(userTopic(user))] as const)));
  const isCaughtUp = (tab: DemoTab): boolean => caughtUp(tab, positions.get(tab.ledger.user)!);
  for (let waited = 0; waited < 5_000 && !demoTabs.every(isCaughtUp); waited += 20) await sleep(20);
  const tabSummaries: TabSummary[] = demoTabs.map((tab) => ({
    ...summarizeTab(tab, positions.get(tab.ledger.user)!),
    answers: { ...tab.ledger.answers }
  }));
  const receivedByClients = tabSummaries.reduce((sum, tab) => sum + tab.received, 0);

  // The tabs close first (a closed page does not reconnect), then the server drains what is left.
  for (const tab of demoTabs) tab.close();
  const shutdown = await manager.shutdown({ timeoutMs: 1_000 });
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
      published: summary.published,
      sent: summary.sent,
      refused: summary.refused,
      receivedByClients,
      receivedByServer: summary.receivedByServer
    },
    perTab: tabSummaries,
    disruptions: summary.disruptions,
    sessionTransitions: summary.sessionTransitions,
    sendAfterCloseErrors: counters.sendAfterCloseErrors,
    shutdown,
    audit: { file: auditFile, transitions: transitionLines, other: lines.length - transitionLines }
  };
}
