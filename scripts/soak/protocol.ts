/** The messages between the soak's server process and its client process. */

/** What the client process is started with (as JSON in argv[2]). */
export interface ClientConfig {
  port: number;
  seed: number;
  /** Sockets open or opening at most. */
  maxLive: number;
  /** Handshakes in flight at most. */
  openConcurrency: number;
  /** Users are `u1` .. `u<users>`. */
  users: number;
}

/** Server -> client. `run` churns; `drain` closes everything and idles; `stop` drains, reports and exits. */
export type ToClient = { type: 'run' } | { type: 'drain' } | { type: 'stop' };

/** Client -> server. */
export type FromClient = { type: 'ready' } | { type: 'drained' } | { type: 'stats'; stats: ClientStats };

/** What the client process did, seen from the client side. */
export interface ClientStats {
  attempted: number;
  opened: number;
  /** Closed before they opened (aborted, refused, or errors). */
  failedToOpen: number;
  /** Handshakes the client aborted on purpose. */
  aborted: number;
  closes: number;
  terminates: number;
  /** Sockets paused after asking the server for a flood (backpressure). */
  floods: number;
  /** Bursts over the server's message rate limit. */
  bursts: number;
  messagesSent: number;
  messagesReceived: number;
  /** Most sockets open or opening at once. */
  peakSockets: number;
  /** Close codes the client saw, by code. */
  closeCodes: Record<string, number>;
  /** Socket errors, by code or message. */
  errors: Record<string, number>;
}

/** The message a client sends to ask the server to write until it hits backpressure. */
export const FLOOD_REQUEST = 'flood';
