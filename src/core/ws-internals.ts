/**
 * Everything ws-lifecycle reads from `ws` that `ws` does not document, in
 * one place. Verified against ws 8.23.0 (`lib/websocket.js`,
 * `lib/receiver.js`); `test/core/ws-internals.test.ts` fails loudly when an
 * upgrade moves any of them. Each reader has a slower correct path for when
 * its internal is missing, so a changed `ws` degrades, never breaks.
 */
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';

/**
 * ws keeps its `net.Socket` under `_socket`. A send batch corks it, and the
 * straight-through write reads whether the kernel took a frame at once.
 *
 * @param {WebSocket} ws An open socket
 * @returns {Duplex | undefined} The TCP socket; `undefined` when ws no longer
 *   exposes it (then nothing is corked and every write waits for ws's callback)
 */
export function rawSocket(ws: WebSocket): Duplex | undefined {
  const socket = (ws as unknown as { _socket?: Duplex | null })._socket;
  return socket && typeof socket.cork === 'function' ? socket : undefined;
}

/**
 * The close code ws answers a protocol error with (1002, 1007, 1009...). ws
 * keeps it under a symbol of its own (`Symbol('status-code')`), not exported.
 *
 * @param {Error} error An error ws emitted
 * @returns {number | undefined} The code; `undefined` when absent (recorded as 1006)
 */
export function errorCloseCode(error: Error): number | undefined {
  for (const key of Object.getOwnPropertySymbols(error)) {
    if (key.description === 'status-code') {
      const code = (error as unknown as Record<symbol, unknown>)[key];
      return typeof code === 'number' ? code : undefined;
    }
  }
  return undefined;
}

/** ws's own `Symbol('websocket')`, by which its receiver knows its socket; found on first use. */
let kWebSocket: symbol | undefined;

function socketSymbolOf(receiver: object): symbol | undefined {
  kWebSocket ??= Object.getOwnPropertySymbols(receiver).find((key) => key.description === 'websocket');
  return kWebSocket;
}

interface Receiver {
  on(event: 'conclude', listener: (this: Receiver) => void): unknown;
  listenerCount(event: 'conclude', listener: (this: Receiver) => void): number;
}

/** One receiver listener per distinct socket listener (in practice one): nothing is stored per socket. */
const concludeHandlers = new Map<(this: WebSocket) => void, (this: Receiver) => void>();

function concludeHandler(listener: (this: WebSocket) => void, key: symbol): (this: Receiver) => void {
  let handler = concludeHandlers.get(listener);
  if (handler === undefined) {
    handler = function (this: Receiver) {
      listener.call((this as unknown as Record<symbol, WebSocket>)[key]!);
    };
    concludeHandlers.set(listener, handler);
  }
  return handler;
}

/**
 * Call `listener` (with `this` the socket) when the peer's close frame
 * arrives. ws emits nothing then: its readyState becomes CLOSING and 'close'
 * follows only once its own close frame is out, which with a deep
 * permessage-deflate queue can take seconds (issue #10). ws's receiver emits
 * `conclude` for the frame; this listens there, after ws's own listener,
 * and finds the socket through ws's own symbol on the receiver.
 *
 * @param {WebSocket} ws An open socket
 * @param {(this: WebSocket) => void} listener Called at most once; pass one shared function, not a closure per socket
 * @returns {boolean} `false` when ws has no such receiver: the close frame is
 *   then noticed only when readyState is next read (on a send, a close or a heartbeat)
 */
export function onCloseFrame(ws: WebSocket, listener: (this: WebSocket) => void): boolean {
  const receiver = (ws as unknown as { _receiver?: Receiver | null })._receiver;
  if (!receiver || typeof receiver.on !== 'function') return false;
  const key = socketSymbolOf(receiver);
  if (key === undefined || (receiver as unknown as Record<symbol, unknown>)[key] !== ws) return false;
  const handler = concludeHandler(listener, key);
  // Listen once per receiver, whoever asks twice.
  if (receiver.listenerCount('conclude', handler) === 0) receiver.on('conclude', handler);
  return true;
}

/** ws's own default `maxPayload` (100 MiB), when the receiver does not say. */
const WS_DEFAULT_MAX_PAYLOAD = 104_857_600;

/**
 * The largest message the socket reads, as its `WebSocketServer` (or
 * client options) set it: `maxPayload`, kept by ws on the receiver. 0 (no
 * limit in ws) is reported as the largest safe integer; an unreadable value
 * as ws's default.
 *
 * @param {WebSocket} ws A socket
 * @returns {number} Bytes
 */
export function maxPayloadOf(ws: WebSocket): number {
  const value = (ws as unknown as { _receiver?: { _maxPayload?: unknown } | null })._receiver?._maxPayload;
  if (typeof value !== 'number') return WS_DEFAULT_MAX_PAYLOAD;
  return value > 0 ? value : Number.MAX_SAFE_INTEGER;
}
