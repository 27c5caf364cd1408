/**
 * The glue between one `ws` socket, one connection actor and the
 * `Connection` that binds them: the machine with its I/O actions provided,
 * and the socket listeners. Both are built once and shared by every
 * connection; each finds its connection through the actor (a WeakMap) or
 * the socket (a symbol), so nothing here allocates a closure per socket.
 */
import type { Duplex } from 'node:stream';
import { WebSocket, type RawData } from 'ws';
import type { Actor } from 'xstate';
import { connectionMachine, timerDuration, type ConnectionEvent, type ConnectionTimer } from '../../machines/connection.machine.js';
import type { Connection } from './connection.js';

const kConnection = Symbol('ws-lifecycle.connection');
type BoundSocket = WebSocket & { [kConnection]?: Connection };

// The events a connection sends its actor, made once.
export const PEER_CLOSING: ConnectionEvent = Object.freeze({ type: 'PEER_CLOSING' });
export const OPENED: ConnectionEvent = Object.freeze({ type: 'OPENED' });
export const PEER_ACTIVE: ConnectionEvent = Object.freeze({ type: 'PEER_ACTIVE' });
export const PING_WRITTEN: ConnectionEvent = Object.freeze({ type: 'PING_WRITTEN' });
export const TERMINATE: ConnectionEvent = Object.freeze({ type: 'TERMINATE' });
export const WRITE_STALLED: ConnectionEvent = Object.freeze({ type: 'WRITE_STALLED' });
/** What each of the chart's timers sends when it elapses. */
export const TIMER_EVENTS: Readonly<Record<ConnectionTimer, ConnectionEvent>> = {
  handshakeTimeout: Object.freeze({ type: 'after handshakeTimeout' }),
  heartbeatInterval: Object.freeze({ type: 'after heartbeatInterval' }),
  closeTimeout: Object.freeze({ type: 'after closeTimeout' })
};

/** Actor -> connection, for the machine's actions. */
const connections = new WeakMap<object, Connection>();

/** The machine with its I/O provided: built once, shared by every connection. */
export const boundMachine = connectionMachine.provide({
  actions: {
    closeTransport: ({ self, context }) => closeTransport(connections.get(self), context.code ?? 1000, context.reason),
    terminateTransport: ({ self }) => terminateTransport(connections.get(self)),
    sendPing: ({ self }) => sendPing(connections.get(self)),
    checkWriteProgress: ({ self }) => checkWriteProgress(connections.get(self)),
    startTimer: ({ self, context }, { timer }) => connections.get(self)?._timer.arm(timer, timerDuration(context, timer)),
    cancelTimer: ({ self }) => connections.get(self)?._timer.disarm(),
    reportEntry: ({ self, context, event }, { state }) => connections.get(self)?._entered(state, context, event.type)
  }
});

export type ConnectionActor = Actor<typeof boundMachine>;

// The I/O the machine's actions ask for. Each runs inside the actor's step, so an event it
// finds is dispatched once the step is done (process.nextTick), never from inside it.

/** Every cause of `Connection._pauseReading` at once. */
const EVERY_CAUSE = ~0;

function closeTransport(connection: Connection | undefined, code: number, reason: string): void {
  const ws = connection?.socket;
  // Closing a client socket that is still connecting aborts its handshake.
  if (ws?.readyState === WebSocket.CONNECTING) ws.terminate();
  else {
    // Whatever paused reading (the session protocol holding frames), the peer's close frame must be read, or the close
    // waits for its timeout; nothing read is delivered from `closing`.
    connection?._resumeReading(EVERY_CAUSE);
    ws?.close(code, reason);
  }
}

function terminateTransport(connection: Connection | undefined): void {
  // What was accepted this turn reaches the kernel first, as it would unbatched.
  connection?._flush();
  connection?.socket.terminate();
}

function sendPing(connection: Connection | undefined): void {
  if (connection === undefined) return;
  const ws = connection.socket;
  // Where the queue stands when the ping joins it: the first write-progress check compares with this.
  connection._timer.noteQueue(connection._tcp, ws);
  // The peer's deadline starts when the frame is written, not here: it may queue behind compression (#10).
  // A failed write is followed by the transport's error and close (Node passes null for success).
  if (ws.readyState === WebSocket.OPEN) ws.ping(undefined, undefined, (error) => error || connection._dispatch(PING_WRITTEN));
  else process.nextTick(dispatchPeerClosing, connection);
}

/**
 * The ping has waited a heartbeat interval behind queued data: nothing
 * written since the last look means the peer stopped reading. Runs once
 * per interval and only then, never on a send.
 */
function checkWriteProgress(connection: Connection | undefined): void {
  if (connection === undefined || connection._timer.progressed(connection._tcp, connection.socket)) return;
  process.nextTick(dispatchWriteStalled, connection);
}

/** The actor's actions reach `connection` from now on. */
export function bindActor(actor: ConnectionActor, connection: Connection): void {
  connections.set(actor, connection);
}

/** The actor is done (`closed`): its actions reach nothing any more. */
export function unbindActor(actor: ConnectionActor): void {
  connections.delete(actor);
}

/** Dispatch PEER_CLOSING once the machine's own action that found it is done (see `_dispatch`). */
export function dispatchPeerClosing(connection: Connection): void {
  if (connection.state === 'connected') connection._dispatch(PEER_CLOSING);
}

/** Dispatch WRITE_STALLED once the machine's own action that found it is done (see `_dispatch`). */
export function dispatchWriteStalled(connection: Connection): void {
  if (connection.state === 'connected') connection._dispatch(WRITE_STALLED);
}

/**
 * Bytes a socket has finished writing: what it was given less what it
 * still holds (both public on a net.Socket), so it grows only as the peer
 * takes data. Without the TCP socket, the negated queue, which grows as
 * the queue falls.
 */
export function writtenBytes(tcp: Duplex | undefined, ws: WebSocket): number {
  const written = (tcp as { bytesWritten?: unknown } | undefined)?.bytesWritten;
  return typeof written === 'number' ? written - tcp!.writableLength : -ws.bufferedAmount;
}

/** Write one connection's send batch at the end of the turn (shared: no closure per batch). */
export function flushBatch(connection: Connection): void {
  connection._flush();
}

// Socket listeners are shared by all connections: no closures per socket.
function onSocketOpen(this: BoundSocket): void {
  this[kConnection]?._socketOpened();
}
function onSocketMessage(this: BoundSocket, data: RawData, binary: boolean): void {
  this[kConnection]?._receive(data, binary);
}
// A pong, a ping or a message from the peer: each proves it alive.
function onSocketFrame(this: BoundSocket): void {
  this[kConnection]?._peerActive();
}
/** The peer's close frame arrived (ws-internals' hook): ws itself reports nothing until 'close'. */
export function onSocketCloseFrame(this: BoundSocket): void {
  const connection = this[kConnection];
  if (connection?.state === 'connected') connection._dispatch(PEER_CLOSING);
}
function onSocketError(this: BoundSocket, error: Error): void {
  this[kConnection]?._transportError(error);
}
function onSocketClose(this: BoundSocket, code: number, reason: Buffer): void {
  this[kConnection]?._dispatch({ type: 'TRANSPORT_CLOSED', code, reason: reason.toString() });
}

/**
 * Route the socket's events to `connection`.
 *
 * @param {WebSocket} ws The socket
 * @param {Connection} connection Its connection
 * @param {boolean} connecting Whether the socket is still opening (an outgoing one): its `open` is routed too
 */
export function bindSocket(ws: WebSocket, connection: Connection, connecting: boolean): void {
  (ws as BoundSocket)[kConnection] = connection;
  ws.on('message', onSocketMessage);
  ws.on('pong', onSocketFrame);
  ws.on('ping', onSocketFrame);
  ws.on('error', onSocketError);
  ws.on('close', onSocketClose);
  if (connecting) ws.once('open', onSocketOpen);
}
