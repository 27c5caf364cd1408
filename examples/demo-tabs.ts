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
 *
 * What a tab got is counted from the raw frames its sockets received, as
 * the server sent them, before the client's dedupe could hide a duplicate
 * or a gap (`recordingWebSocket`), and every connection's frames go to the
 * conformance checker of docs/protocol.md.
 */
import { WebSocket } from 'ws';
import { SessionClient, type ClientSocketConstructor, type TopicCursor } from '../src/client/session-client.js';
import { checkRun, describeViolations, type ConnectionRecord } from '../src/tools/conformance/checker.js';
import { recordingWebSocket } from '../src/tools/conformance/recording-socket.js';

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

/** What one tab's application did, and its connections' raw frames. */
export interface TabLedger {
  user: string;
  tab: string;
  /** Every connection the tab's sockets made, with every frame sent and received, in order. */
  records: ConnectionRecord[];
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
    this.ledger = { user, tab, records: [], answers: { sent: 0, delivered: 0 }, states: [] };
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
    // Port 1 refuses at once: the tab is offline.
    const Recording = recordingWebSocket({
      name: `${this.ledger.user}/${this.ledger.tab}`,
      user: this.ledger.user,
      records: this.ledger.records,
      redirect: (url) => (isOffline() ? 'ws://127.0.0.1:1/' : url)
    });
    class TabSocket extends Recording {
      constructor(url: string, protocols: string[]) {
        super(url, protocols);
        guardSends(this, counters);
        sockets.add(this);
        this.once('close', () => sockets.delete(this));
      }
    }
    const client = new SessionClient({ url: this.#url, WebSocket: TabSocket as unknown as ClientSocketConstructor, resume, ...CLIENT_TIMING });
    const topic = `user:${this.ledger.user}`;
    const ledger = this.ledger;
    client.on('state', (state) => ledger.states.push({ state, at: performance.now() }));
    client.on('message', ({ topic: from, data }) => {
      if (from !== topic) return;
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

/** A tab's raw frames of one topic, tallied against where the topic ends. */
interface TabTally {
  /** Messages published to the topic since the tab's stream started (in the epoch it ends in). */
  published: number;
  /** `message` frames received over all the tab's connections, duplicates included. */
  received: number;
  /** Offsets of that epoch the tab neither received on any connection nor was told it would not get. */
  lost: number;
  /** Messages a connection received at or below what it already had (its hello's cursor, or an earlier frame). */
  duplicated: number;
  /** Each `recovered: false` after the first: why, and how many offsets it skipped. */
  told: Array<{ reason: string; skipped: number }>;
  /** Resumes with `recovered: true`. */
  resumed: number;
}

interface RawFrame {
  type?: unknown;
  topic?: unknown;
  epoch?: unknown;
  offset?: unknown;
  recovered?: unknown;
  reason?: unknown;
  topics?: Record<string, TopicCursor>;
}

function parsed(text: string | Uint8Array | undefined): RawFrame | undefined {
  if (typeof text !== 'string') return undefined;
  try {
    return JSON.parse(text) as RawFrame;
  } catch {
    return undefined;
  }
}

/**
 * Walk a tab's connections in order: per connection, what its hello said it
 * had and what it was then sent; over all of them, which offsets of the
 * final epoch arrived and which a recovery told skipped.
 */
function tabTally(records: readonly ConnectionRecord[], topic: string, end: TopicCursor): TabTally {
  const tally: TabTally = { published: 0, received: 0, lost: 0, duplicated: 0, told: [], resumed: 0 };
  const got = new Map<string, Set<number>>();
  const skipped = new Map<string, Set<number>>();
  let start: TopicCursor | undefined;
  let reached: TopicCursor | undefined;
  for (const record of records) {
    // What the connection already had: its hello's cursor, then each message it got.
    let had = parsed(record.sent[0])?.topics?.[topic];
    for (const text of record.received) {
      const frame = parsed(text);
      if (frame?.topic !== topic || typeof frame.epoch !== 'string' || typeof frame.offset !== 'number') continue;
      const at = { epoch: frame.epoch, offset: frame.offset };
      if (frame.type === 'recovery') {
        if (frame.recovered === true) {
          tally.resumed++;
          continue;
        }
        if (start === undefined) start = at;
        else {
          const skipped = reached?.epoch === at.epoch ? Math.max(0, at.offset - reached.offset) : Number.NaN;
          tally.told.push({ reason: String(frame.reason), skipped });
        }
        const told = skipped.get(at.epoch) ?? new Set<number>();
        for (let offset = reached?.epoch === at.epoch ? reached.offset + 1 : 1; offset <= at.offset; offset++) told.add(offset);
        skipped.set(at.epoch, told);
        had = at;
        if (reached === undefined || reached.epoch !== at.epoch || reached.offset < at.offset) reached = at;
        continue;
      }
      if (frame.type !== 'message') continue;
      tally.received++;
      if (had !== undefined && had.epoch === at.epoch && at.offset <= had.offset) tally.duplicated++;
      had = at;
      const mine = got.get(at.epoch) ?? new Set<number>();
      mine.add(at.offset);
      got.set(at.epoch, mine);
      if (reached === undefined || reached.epoch !== at.epoch || reached.offset < at.offset) reached = at;
    }
  }
  if (start === undefined) return tally;
  const first = start.epoch === end.epoch ? start.offset : 0;
  tally.published = end.offset - first;
  for (let offset = first + 1; offset <= end.offset; offset++) {
    if (!got.get(end.epoch)?.has(offset) && !skipped.get(end.epoch)?.has(offset)) tally.lost++;
  }
  return tally;
}

/** A tab has caught up when it stands where its user's topic ends (or the topic never had a message). */
export function caughtUp(tab: DemoTab, position: TopicCursor): boolean {
  const cursor = tab.cursor;
  return position.offset === 0 || (cursor !== undefined && cursor.epoch === position.epoch && cursor.offset === position.offset);
}

/** What both demos print for a tab: its tally from the raw frames against where its user's topic ends, and the checker's verdict. */
export interface TabSummaryLine {
  tab: string;
  published: number;
  received: number;
  lost: number;
  duplicated: number;
  resumed: number;
  told: Array<{ reason: string; skipped: number }>;
  caughtUp: boolean;
  /** Breaches of docs/protocol.md in the tab's connections, in plain words (empty when none). */
  breaches: string[];
}

export function summarizeTab(tab: DemoTab, position: TopicCursor): TabSummaryLine {
  const tally = tabTally(tab.ledger.records, `user:${tab.ledger.user}`, position);
  const violations = checkRun({ connections: tab.ledger.records });
  return {
    tab: `${tab.ledger.user}/${tab.ledger.tab}`,
    published: tally.published,
    received: tally.received,
    lost: tally.lost,
    duplicated: tally.duplicated,
    resumed: tally.resumed,
    told: tally.told,
    caughtUp: caughtUp(tab, position),
    breaches: violations.length === 0 ? [] : describeViolations(violations, 5).split('\n')
  };
}
