/**
 * The demo's browser tabs: each is a `SessionClient` (ws-lifecycle/client)
 * over real `ws` sockets that lives for the whole run, counts the agent
 * events it receives per offset, answers each finished agent run with a
 * message, and is disrupted again and again: its network drops or goes
 * offline for a while, the server closes or cuts it, it freezes (stops
 * reading, so both heartbeats must find it), or the page reloads and
 * resumes from what it kept. Every socket (client or server side) goes
 * through `guardSends`, which counts any write attempted on a socket that
 * is not open.
 */
import { WebSocket } from 'ws';
import { SessionClient, type ClientSocketConstructor, type TopicCursor } from '../src/client/session-client.js';

/** What happens to a tab in one round of the run. */
export type TabDisruption =
  /** The network drops: the client socket is destroyed. */
  | 'drop'
  /** The network is gone for a while: connections are refused until it is back. */
  | 'offline'
  /** The server closes the connection (a deploy: 1012). */
  | 'kick'
  /** The server terminates the connection without a handshake. */
  | 'evict'
  /** The tab stops reading; the server's heartbeat ends the connection, the client's finds the silence. */
  | 'freeze'
  /** The page reloads: a new client resumes from the session token and offsets the page kept. */
  | 'reload';

/** Disruptions, weighted by how often they are drawn. */
export const TAB_DISRUPTIONS: readonly TabDisruption[] = ['drop', 'drop', 'offline', 'kick', 'evict', 'freeze', 'reload', 'reload'];

/** Counters every tab and guarded socket writes to. */
export interface TabCounters {
  /** Writes attempted on a socket that was not OPEN, and "not open" errors. */
  sendAfterCloseErrors: number;
}

/** What one tab saw of its user's topic. */
export interface TabLedger {
  user: string;
  tab: string;
  /** Epoch and offset where the tab's stream started (its first session's start). */
  start: TopicCursor | undefined;
  /** Offsets received in the current epoch, in arrival order, duplicates included. */
  offsets: number[];
  /** Received at or below an offset already received: 0 when dedupe holds. */
  duplicated: number;
  /** Each `recovered: false` after the start: why, and how many offsets it skipped. */
  told: Array<{ reason: string; skipped: number }>;
  /** Resumes with `recovered: true`. */
  resumed: number;
  /** Agent runs the tab answered, and how many of those answers the client reported delivered. */
  answers: { sent: number; delivered: number };
  /** The client's states with when they were entered (`performance.now()`). */
  states: Array<{ state: string; at: number }>;
}

const NOT_OPEN = /not open/i;

/**
 * Count every `send` on `ws` made while it is not OPEN, and every "not open"
 * error a send reports. The write itself still happens as asked.
 *
 * @param {WebSocket} ws A client or server socket
 * @param {TabCounters} counters Where violations are counted
 */
export function guardSends(ws: WebSocket, counters: TabCounters): void {
  const send = ws.send.bind(ws) as (...args: unknown[]) => void;
  (ws as unknown as { send: (...args: unknown[]) => void }).send = (...args: unknown[]) => {
    if (ws.readyState !== WebSocket.OPEN) counters.sendAfterCloseErrors++;
    const last = args.length - 1;
    const callback = args[last];
    if (typeof callback === 'function') {
      args[last] = (error?: Error) => {
        if (error && NOT_OPEN.test(error.message)) counters.sendAfterCloseErrors++;
        (callback as (error?: Error) => void)(error);
      };
    }
    send(...args);
  };
  ws.on('error', (error) => {
    if (NOT_OPEN.test(error.message)) counters.sendAfterCloseErrors++;
  });
}

/** Timing of the tabs' clients: short, so a 4-second run sees many resumes. */
const CLIENT_TIMING = { minDelayMs: 20, maxDelayMs: 200, heartbeatIntervalMs: 300, heartbeatTimeoutMs: 300, connectTimeoutMs: 1_000 };

/** One browser tab of a user: a session client that survives disruptions. */
export class DemoTab {
  readonly ledger: TabLedger;
  readonly #url: string;
  readonly #counters: TabCounters;
  readonly #sockets = new Set<WebSocket>();
  #client: SessionClient;
  #offline = false;
  #offlineTimer: NodeJS.Timeout | undefined;

  constructor(url: string, user: string, tab: string, counters: TabCounters) {
    this.#url = `${url}?user=${encodeURIComponent(user)}&tab=${encodeURIComponent(tab)}`;
    this.#counters = counters;
    this.ledger = { user, tab, start: undefined, offsets: [], duplicated: 0, told: [], resumed: 0, answers: { sent: 0, delivered: 0 }, states: [] };
    this.#client = this.#open(undefined);
  }

  /** The user's topic as the tab stands in it. */
  get cursor(): TopicCursor | undefined {
    return this.#client.cursors[`user:${this.ledger.user}`];
  }

  get state(): string {
    return this.#offline ? 'offline' : this.#client.state;
  }

  /** Disrupt the tab; `ms` is how long an offline spell lasts. */
  disrupt(how: 'drop' | 'offline' | 'freeze' | 'reload', ms: number): void {
    const socket = this.#newest();
    if (how === 'reload') {
      // What a page keeps across a reload (sessionStorage): the token and the offsets.
      const resume = { session: this.#client.session!, cursors: this.#client.cursors };
      this.#client.close();
      if (resume.session !== undefined) this.#client = this.#open(resume);
      return;
    }
    if (socket === undefined || socket.readyState !== WebSocket.OPEN) return;
    if (how === 'freeze') {
      (socket as unknown as { _socket: { pause(): void } })._socket.pause();
      return;
    }
    if (how === 'offline') {
      this.#offline = true;
      clearTimeout(this.#offlineTimer);
      this.#offlineTimer = setTimeout(() => (this.#offline = false), ms);
    }
    socket.terminate();
  }

  /** Close the tab for good and cut whatever socket is left. */
  close(): void {
    clearTimeout(this.#offlineTimer);
    this.#offline = false;
    this.#client.close();
    for (const socket of this.#sockets) socket.terminate();
  }

  #newest(): WebSocket | undefined {
    let newest: WebSocket | undefined;
    for (const socket of this.#sockets) newest = socket;
    return newest;
  }

  #open(resume: { session: string; cursors: Record<string, TopicCursor> } | undefined): SessionClient {
    const sockets = this.#sockets;
    const counters = this.#counters;
    const isOffline = (): boolean => this.#offline;
    class TabSocket extends WebSocket {
      constructor(url: string, protocols: string[]) {
        // Port 1 refuses at once: the tab is offline.
        super(isOffline() ? 'ws://127.0.0.1:1/' : url, protocols);
        guardSends(this, counters);
        sockets.add(this);
        this.once('close', () => sockets.delete(this));
      }
    }
    const client = new SessionClient({ url: this.#url, WebSocket: TabSocket as unknown as ClientSocketConstructor, resume, ...CLIENT_TIMING });
    const topic = `user:${this.ledger.user}`;
    const ledger = this.ledger;
    client.on('state', (state) => ledger.states.push({ state, at: performance.now() }));
    client.on('recovery', (recovery) => {
      if (recovery.topic !== topic) return;
      if (recovery.recovered) {
        ledger.resumed++;
        return;
      }
      if (ledger.start === undefined) {
        ledger.start = { epoch: recovery.epoch, offset: recovery.offset };
        return;
      }
      const last = ledger.offsets.at(-1) ?? ledger.start.offset;
      if (recovery.epoch !== ledger.start.epoch) {
        // History lost: the tab is told; counting starts over in the new epoch.
        ledger.told.push({ reason: recovery.reason ?? 'unknown', skipped: Number.NaN });
        ledger.start = { epoch: recovery.epoch, offset: recovery.offset };
        ledger.offsets = [];
        return;
      }
      ledger.told.push({ reason: recovery.reason ?? 'unknown', skipped: Math.max(0, recovery.offset - last) });
    });
    client.on('message', ({ topic: from, offset, data }) => {
      if (from !== topic) return;
      if (ledger.offsets.includes(offset)) ledger.duplicated++;
      ledger.offsets.push(offset);
      const event = data as { type?: string; runId?: string };
      if (event.type === 'agent_completed') {
        ledger.answers.sent++;
        void client.send({ type: 'run_seen', runId: event.runId }).then((outcome) => {
          if (outcome.ok) ledger.answers.delivered++;
        });
      }
    });
    return client.start();
  }
}

/**
 * Per tab: what was published to its user since its stream started, what
 * it received, what it lost without being told, and what came twice.
 */
interface TabTally {
  published: number;
  received: number;
  lost: number;
  duplicated: number;
  told: number;
}

function tabTally(ledger: TabLedger, position: TopicCursor): TabTally {
  const start = ledger.start;
  if (start === undefined || start.epoch !== position.epoch) return { published: 0, received: 0, lost: 0, duplicated: ledger.duplicated, told: 0 };
  const received = new Set(ledger.offsets);
  const told = ledger.told.reduce((sum, t) => sum + (Number.isNaN(t.skipped) ? 0 : t.skipped), 0);
  let missing = 0;
  for (let offset = start.offset + 1; offset <= position.offset; offset++) if (!received.has(offset)) missing++;
  return { published: position.offset - start.offset, received: ledger.offsets.length, lost: missing - told, duplicated: ledger.duplicated, told };
}

/** A tab has caught up when it stands where its user's topic ends (or the topic never had a message). */
export function caughtUp(tab: DemoTab, position: TopicCursor): boolean {
  const cursor = tab.cursor;
  return position.offset === 0 || (cursor !== undefined && cursor.epoch === position.epoch && cursor.offset === position.offset);
}

/** What both demos print for a tab: its tally against where its user's topic ends. */
export interface TabSummaryLine {
  tab: string;
  published: number;
  received: number;
  lost: number;
  duplicated: number;
  resumed: number;
  told: Array<{ reason: string; skipped: number }>;
  caughtUp: boolean;
}

export function summarizeTab(tab: DemoTab, position: TopicCursor): TabSummaryLine {
  const tally = tabTally(tab.ledger, position);
  return {
    tab: `${tab.ledger.user}/${tab.ledger.tab}`,
    published: tally.published,
    received: tally.received,
    lost: tally.lost,
    duplicated: tally.duplicated,
    resumed: tab.ledger.resumed,
    told: tab.ledger.told,
    caughtUp: caughtUp(tab, position)
  };
}
