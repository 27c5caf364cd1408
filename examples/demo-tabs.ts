/**
 * The demo's browser tabs: real `ws` clients that count what they receive,
 * answer each finished agent run with an ack, and end in one of several
 * ways, from a clean close to a frozen tab that stops answering pings.
 * Every socket (client or server side) goes through `guardSends`, which
 * counts any write attempted on a socket that is not open.
 */
import { WebSocket } from 'ws';

/** How a tab's life ends. */
export type TabEnding =
  /** The user closes the tab: close handshake from the client. */
  | 'close'
  /** The network drops: the client socket is destroyed. */
  | 'drop'
  /** A drop, then the same tab reconnects at once. */
  | 'reconnect'
  /** The server closes the connection (4000 session expired). */
  | 'kick'
  /** The server terminates the connection without a handshake. */
  | 'evict'
  /** The tab stops answering pings; the server's heartbeat ends it. */
  | 'freeze';

/** Endings, weighted by how often they are drawn. */
export const TAB_ENDINGS: readonly TabEnding[] = ['close', 'close', 'close', 'drop', 'drop', 'reconnect', 'reconnect', 'kick', 'evict', 'freeze'];

/** Counters every tab and guarded socket writes to. */
export interface TabCounters {
  receivedByClients: number;
  /** Writes attempted on a socket that was not OPEN, and "not open" errors. */
  sendAfterCloseErrors: number;
}

/** One open tab. */
export interface Tab {
  ws: WebSocket;
  /** Resolves when the client socket emits 'close'. */
  closed: Promise<void>;
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
}

/**
 * Open a tab for `user` and wait until it is open.
 *
 * @param {string} url The demo's WebSocket URL
 * @param {string} user User id
 * @param {string} tab Tab id, unique per user
 * @param {boolean} answersPings `false` for a tab that will freeze
 * @param {TabCounters} counters Where to count messages and violations
 * @returns {Promise<Tab | undefined>} The tab, or `undefined` if it could not open
 */
export async function openTab(
  url: string,
  user: string,
  tab: string,
  answersPings: boolean,
  counters: TabCounters
): Promise<Tab | undefined> {
  const ws = new WebSocket(`${url}?user=${encodeURIComponent(user)}&tab=${encodeURIComponent(tab)}`, { autoPong: answersPings });
  guardSends(ws, counters);
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  ws.on('error', (error) => {
    if (NOT_OPEN.test(error.message)) counters.sendAfterCloseErrors++;
  });
  ws.on('message', (data) => {
    counters.receivedByClients++;
    const message = JSON.parse(data.toString()) as { type?: string; runId?: string };
    if (message.type === 'agent_completed' && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify({ type: 'ack', runId: message.runId }));
    }
  });
  const opened = await new Promise<boolean>((resolve) => {
    ws.once('open', () => resolve(true));
    ws.once('close', () => resolve(false));
  });
  return opened ? { ws, closed } : undefined;
}
