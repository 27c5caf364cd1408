/**
 * Watches every write to one server-side `ws` socket: whether it was legal
 * when it was made, what it carried, and how ws reported it. Tests use it to
 * prove that nothing writes to a socket that is not open.
 */
import { WebSocket } from 'ws';

/** One call of `ws.send` on an audited socket. */
export interface SendAttempt {
  /** The frame's payload as text. */
  text: string;
  /** Whether the owner said `connected` and the socket was OPEN at call time. */
  legal: boolean;
  /** The state and readyState seen at call time, for messages. */
  seen: string;
  /** How often ws called back; it must be exactly once. */
  callbacks: number;
  /** The error ws called back with, if any. */
  error: Error | undefined;
}

/** Everything written to, and every error emitted by, one socket. */
export interface SendAudit {
  readonly attempts: SendAttempt[];
  /** Errors the socket emitted as 'error' events. */
  readonly errors: Error[];
}

type SendCallback = (error?: Error) => void;

/**
 * Wrap `ws.send` on one socket. The wrapper records the attempt, then calls
 * the real `send`, so the socket behaves exactly as before.
 *
 * @param {WebSocket} ws A server-side socket, just accepted
 * @param {() => string} stateOf The owner's view of the connection's state at call time
 * @returns {SendAudit} The live record of writes and errors
 */
export function auditSends(ws: WebSocket, stateOf: () => string): SendAudit {
  const audit: SendAudit = { attempts: [], errors: [] };
  const original = ws.send.bind(ws);
  ws.on('error', (error) => audit.errors.push(error));
  ws.send = function auditedSend(this: WebSocket, data: unknown, options?: unknown, cb?: unknown): void {
    const callback = (typeof options === 'function' ? options : cb) as SendCallback | undefined;
    const sendOptions = typeof options === 'function' || options === undefined ? {} : options;
    const state = stateOf();
    const attempt: SendAttempt = {
      text: typeof data === 'string' ? data : Buffer.from(data as Uint8Array).toString(),
      legal: state === 'connected' && ws.readyState === WebSocket.OPEN,
      seen: `state ${state}, readyState ${ws.readyState}`,
      callbacks: 0,
      error: undefined
    };
    audit.attempts.push(attempt);
    original(data as Buffer, sendOptions as { binary?: boolean }, (error?: Error) => {
      attempt.callbacks++;
      attempt.error = error ?? undefined;
      callback?.(error);
    });
  } as WebSocket['send'];
  return audit;
}

/**
 * Whether an error is ws's complaint about a write to a socket that is not
 * open (what a send after close produces).
 *
 * @param {unknown} error Any error
 * @returns {boolean} `true` for "WebSocket is not open: ..."
 */
export function isNotOpenError(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('WebSocket is not open');
}
