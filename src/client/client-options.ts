/**
 * What a `SessionClient` is made with (#11): its options, the part of the
 * WebSocket API it uses, and the options as the client reads them, with
 * their defaults and checked. No Node module is imported here.
 */
import type { TopicCursor } from '../protocol/session-protocol.js';

/** The part of the WebSocket API the client uses (the browser's, or `ws`'s). */
export interface ClientSocket {
  readonly readyState: number;
  /** The subprotocol the server selected (both the browser's WebSocket and ws's have it). */
  readonly protocol?: string;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}
export type ClientSocketConstructor = new (url: string, protocols: string[]) => ClientSocket;

export interface SessionClientOptions {
  url: string;
  /** The WebSocket class. Default: the global `WebSocket`. */
  WebSocket?: ClientSocketConstructor;
  /** First reconnect delay; doubles per failed attempt (with full jitter) up to `maxDelayMs`. Default 250. */
  minDelayMs?: number;
  /** Default 10,000. */
  maxDelayMs?: number;
  /** Sends kept while not acknowledged; one more is refused with `queue_full`. Default 1,000. */
  maxQueued?: number;
  /**
   * Quiet time while open after which the client pings the server. Default
   * 15,000: under the 30 s idle timeouts of common proxies and load balancers.
   */
  heartbeatIntervalMs?: number;
  /** How long that ping waits for any frame before the socket is given up and the client reconnects. Default 10,000. */
  heartbeatTimeoutMs?: number;
  /** How long a connection attempt may take, from opening the socket to the welcome, before it is given up. Default 10,000. */
  connectTimeoutMs?: number;
  /** Resume where an earlier client (e.g. before a page reload) stopped. */
  resume?: { session: string; cursors: Record<string, TopicCursor> };
  /** Randomness for the jitter, injected in tests. Default `Math.random`. */
  random?: () => number;
}

/** The options as the client reads them: every default filled in. */
export type ClientSettings = Required<Omit<SessionClientOptions, 'resume' | 'WebSocket'>> & { WebSocket: ClientSocketConstructor };

const MAX_DELAY_MS = 2 ** 31 - 1;

/**
 * @param {SessionClientOptions} options What the application passed
 * @returns {ClientSettings} The options with their defaults
 * @throws {TypeError} If there is no WebSocket class to use
 * @throws {RangeError} If a delay or `maxQueued` is not a number from 1 to 2^31 - 1
 */
export function clientSettings(options: SessionClientOptions): ClientSettings {
  const WebSocketClass = options.WebSocket ?? (globalThis as { WebSocket?: ClientSocketConstructor }).WebSocket;
  if (WebSocketClass === undefined) throw new TypeError('No WebSocket class: pass options.WebSocket (in Node 20, the one from ws)');
  const settings: ClientSettings = {
    url: options.url,
    WebSocket: WebSocketClass,
    minDelayMs: options.minDelayMs ?? 250,
    maxDelayMs: options.maxDelayMs ?? 10_000,
    maxQueued: options.maxQueued ?? 1_000,
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? 15_000,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 10_000,
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    random: options.random ?? Math.random
  };
  for (const name of ['minDelayMs', 'maxDelayMs', 'maxQueued', 'heartbeatIntervalMs', 'heartbeatTimeoutMs', 'connectTimeoutMs'] as const) {
    const value = settings[name];
    // setTimeout fires at once past 2^31 - 1 ms, so that is the largest delay that means what it says.
    if (!(typeof value === 'number' && value > 0 && value <= MAX_DELAY_MS)) throw new RangeError(`Invalid option ${name}: ${String(value)} (expected a number from 1 to ${MAX_DELAY_MS})`);
  }
  return settings;
}
