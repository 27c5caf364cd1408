/**
 * A `Connection` binds one `ws` socket to one connection actor: the actor
 * decides, this file keeps its state and holds the one guarded write. Two
 * choices on the write path are for speed only (the properties hold either
 * way): the first send of an event-loop turn is written at once, later ones
 * are batched behind a cork until the turn ends or 16 KiB (one writev: 3.7x
 * a `ws.send` loop at 100 B); and a frame the kernel took whole is reported
 * there and then, without a callback or a tick (paced sends 0.62-0.96x of
 * `ws.send` before, 0.88-0.96x after). docs/benchmarks.md has the numbers.
 */
import type { Duplex } from 'node:stream';
import { WebSocket, type RawData } from 'ws';
import { createActor } from 'xstate';
import {
  closeInfoOf,
  type CloseInfo,
  type ConnectionContext,
  type ConnectionEvent,
  type ConnectionState
} from '../../machines/connection.machine.js';
import { CLOSE_CODES } from './constants.js';
import { ActorSystemPool, type ActorSystemSlot } from './actor-systems.js';
import { WRITTEN, tellHost, transitionRecord, type ConnectionHost, type ConnectionInit, type TransitionRecord, type TransmitOutcome } from './connection-host.js';
import { readRules } from './connection-rules.js';
import { BATCH_FLUSH_BYTES, SendBatch, currentTurn } from './send-batch.js';
import { SENT_PROMISE, failure, refused, type SendFailureReason, type SendResult } from './send-result.js';
import { SerializationError, isBinary, type WireData } from './serialization.js';
import { ChartTimer } from './chart-timer.js';
import { RateWindow } from './rate-window.js';
import { assertCloseArgs } from './validation.js';
import { errorCloseCode, onCloseFrame, rawSocket } from './ws-internals.js';
import {
  OPENED,
  PEER_ACTIVE,
  PEER_CLOSING,
  TERMINATE,
  bindActor,
  bindSocket,
  boundMachine,
  flushBatch,
  onSocketCloseFrame,
  unbindActor,
  type ConnectionActor
} from './socket-binding.js';

/** Where sends are accepted, and with what they are refused elsewhere: read from the machine. */
const { sendRefusal: SEND_REFUSAL, delivering: DELIVERING } = readRules();

const EMPTY = Buffer.alloc(0);
const TEXT = Object.freeze({ binary: false });
const BINARY = Object.freeze({ binary: true });

const systems = new ActorSystemPool();

/**
 * A handle on one WebSocket connection. Create it through
 * `ConnectionManager.accept()` or `.connect()`.
 */
export class Connection {
  /** Unique id of this connection. */
  readonly id: string;

  readonly #host: ConnectionHost;
  #userId: string | undefined;
  #metadata: Record<string, unknown> | undefined;
  #state: ConnectionState = 'connecting';
  #seq = 0;
  // The closed promise is made on first use: most connections never need it.
  #closed: Promise<CloseInfo> | undefined;
  #resolveClosed: ((info: CloseInfo) => void) | undefined;
  #closeInfo: CloseInfo | undefined;
  readonly #ws: WebSocket;
  readonly #actor: ConnectionActor;
  readonly #system: ActorSystemSlot;
  /** @internal The chart's one armed timer, what it sends when it elapses, and the heartbeat's view of write progress. */
  readonly _timer = new ChartTimer(this);
  /** Inbound messages this second, when `maxMessagesPerSecond` is set. */
  #rate: RateWindow | undefined;
  /** Why reading from the socket is paused: one bit per cause (`_pauseReading`); 0 reads. */
  #paused = 0;
  #batch: SendBatch | undefined;
  /** The turn of this connection's last send that was written alone (see {@link currentTurn}). */
  #sendTurn = 0;
  /** Transitions the actor made in the step under way, told to the host once the step is done (see {@link _entered}). */
  #untold: TransitionRecord[] | undefined;
  /** The TCP socket under ws, read at open (see ws-internals.ts); `undefined` if ws hides it. */
  #tcp: Duplex | undefined;
  /** No extension (permessage-deflate) negotiated and the TCP socket known: ws writes each frame as it is sent. */
  #plainFrames = false;
  /** Its frames belong to a protocol this library runs over it (see {@link _reserveForProtocol}). */
  #reserved = false;

  /**
   * @internal Made by the manager (`accept()`, `connect()`), never by the application.
   * @param {ConnectionHost} host The owner told of every transition
   * @param {WebSocket} ws The socket, open (accepted) or connecting (outgoing)
   * @param {ConnectionInit} init Identity and timings
   */
  constructor(host: ConnectionHost, ws: WebSocket, init: ConnectionInit) {
    this.id = init.id;
    this.#host = host;
    this.#userId = init.userId;
    this.#metadata = init.metadata;
    this.#ws = ws;
    this.#system = systems.acquire();
    this.#actor = createActor(boundMachine, { input: init.timing, parent: this.#system.root });
    bindActor(this.#actor, this);
    bindSocket(ws, this, ws.readyState === WebSocket.CONNECTING);
  }

  /** The user this connection belongs to, if known. */
  get userId(): string | undefined {
    return this.#userId;
  }

  /** Application data attached at accept or by `authenticate`. */
  get metadata(): Record<string, unknown> | undefined {
    return this.#metadata;
  }

  /** Resolves once the connection is `closed`, with how it ended. */
  // The same made-on-first-use shape as SendBatch.promise; not shared, since a helper object would cost every idle connection an allocation.
  get closed(): Promise<CloseInfo> {
    if (this.#closed === undefined) {
      const info = this.#closeInfo;
      this.#closed =
        info !== undefined
          ? Promise.resolve(info)
          : new Promise((resolve) => {
            this.#resolveClosed = resolve;
          });
    }
    return this.#closed;
  }

  /** One of `connecting`, `connected`, `closing`, `closed`. */
  get state(): ConnectionState {
    return this.#state;
  }

  /** The underlying `ws` socket (read its properties; write through this handle). */
  get socket(): WebSocket {
    return this.#ws;
  }

  /**
   * Send one message. Accepted only in `connected` while the socket is open;
   * never throws or rejects. The first send of an event-loop turn is written
   * at once; the ones after it in the same turn are written together at the
   * end of the turn (one `writev`) and share one result.
   *
   * A session connection (subprotocol `ws-lifecycle.v1`) is written only
   * by the session protocol: a send to it is refused (`session_connection`).
   *
   * @param {unknown} message A string (text), bytes (binary) or a value sent as JSON text
   * @returns {Promise<SendResult>} `{ ok: true }` once ws reports the frame
   *   written, or `{ ok: false, reason }`
   */
  send(message: unknown): Promise<SendResult> {
    if (this.#reserved) return this.#refuse('session_connection');
    const refusal = SEND_REFUSAL[this.#state];
    if (refusal !== undefined) return this.#refuse(refusal);
    const data = this.#host.serialize(message);
    if (data instanceof SerializationError) {
      this.#host.onSerializationFailed(this, data);
      return Promise.resolve(failure('serialization_failed', data));
    }
    return this.#sendWire(data, this.#host.maxBufferedBytes);
  }

  /**
   * @internal The connection speaks a protocol this library runs over it
   * (the session protocol): from now on its frames, both ways, are that
   * protocol's. `send()` is refused (`session_connection`), so no
   * application write can corrupt the protocol's stream, and the
   * application's fan-out skips it (`_reserved`); the protocol writes
   * through {@link _sendText} and {@link _sendControl}. The inbound
   * `maxMessagesPerSecond` does not apply: the protocol bounds the frames
   * it reads itself. Never undone.
   */
  _reserveForProtocol(): void {
    this.#reserved = true;
  }

  /** @internal Whether {@link _reserveForProtocol} was called: application data is never written to it. */
  get _reserved(): boolean {
    return this.#reserved;
  }

  /**
   * @internal Send text that is already a frame of the session protocol:
   * the manager's `serialize` is for application messages, never for the
   * protocol's own frames. Accepted and refused exactly as `send` is.
   */
  _sendText(text: string): Promise<SendResult> {
    const refusal = SEND_REFUSAL[this.#state];
    if (refusal !== undefined) return this.#refuse(refusal);
    return this.#sendWire(text, this.#host.maxBufferedBytes);
  }

  /**
   * @internal A control frame of the session protocol (`welcome`, `ack`,
   * `pong`...): never refused for backpressure, so a slow reader still gets
   * each. Small, and bounded by the caller: the session protocol does not
   * read a connection whose send buffer is over `maxBufferedBytes`, so the
   * frames a client asks for wait until it has read; a peer that stops
   * reading is ended by the write-stall check.
   */
  _sendControl(text: string): Promise<SendResult> {
    const refusal = SEND_REFUSAL[this.#state];
    if (refusal !== undefined) return this.#refuse(refusal);
    return this.#sendWire(text, Infinity);
  }

  #sendWire(data: WireData, limit: number): Promise<SendResult> {
    const turn = currentTurn();
    if (this.#sendTurn === turn) return this.#sendBatched(data, limit);
    this.#sendTurn = turn;
    return this.#sendFirstOfTurn(data, limit);
  }

  /**
   * The first send of a turn: written at once, reported at once when the
   * kernel took it all. A batch still open from the turn before holds the
   * socket corked, so this frame queues behind it, in order.
   */
  #sendFirstOfTurn(data: WireData, limit: number): Promise<SendResult> {
    const alone = new SendBatch();
    alone.add();
    const outcome = this._transmit(data, isBinary(data), alone.written, limit);
    if (outcome === WRITTEN) return SENT_PROMISE;
    if (outcome !== undefined) return this.#refuse(outcome);
    alone.seal();
    return alone.promise;
  }

  /** A later send in the same turn: joins the turn's batch, opened (and the socket corked) by the first of them. */
  #sendBatched(data: WireData, limit: number): Promise<SendResult> {
    const batch = this.#batch ?? this.#openBatch();
    batch.add();
    const outcome = this._transmit(data, isBinary(data), batch.written, limit);
    if (outcome === WRITTEN) {
      batch.written();
    } else if (outcome !== undefined) {
      batch.withdraw();
      return this.#refuse(outcome);
    }
    if (this.#ws.bufferedAmount >= BATCH_FLUSH_BYTES) this._flush();
    return batch.promise;
  }

  #openBatch(): SendBatch {
    const batch = (this.#batch = new SendBatch());
    this.#tcp?.cork();
    process.nextTick(flushBatch, this);
    return batch;
  }

  /**
   * @internal Write the pending send batch now: uncork the socket and seal
   * the batch. A no-op when no batch is open.
   */
  _flush(): void {
    const batch = this.#batch;
    if (batch === undefined) return;
    this.#batch = undefined;
    batch.seal();
    this.#tcp?.uncork();
  }

  /**
   * Start the close handshake. The connection is in `closing` when this
   * returns; a connection already closing or closed is left as it is.
   *
   * @param {number} [code=1000] Close code (1000-1003, 1007-1014, 3000-4999)
   * @param {string} [reason=''] Close reason, at most 123 bytes of UTF-8
   * @returns {Promise<CloseInfo>} The {@link closed} promise
   * @throws {RangeError} If the code or reason is invalid; nothing changes then
   */
  close(code: number = 1000, reason: string = ''): Promise<CloseInfo> {
    assertCloseArgs(code, reason);
    if (this.#state === 'connected' && this.#peerIsClosing()) this._dispatch(PEER_CLOSING);
    else if (this.#state === 'connecting' || this.#state === 'connected') this._dispatch({ type: 'CLOSE', code, reason });
    return this.closed;
  }

  /**
   * Destroy the socket without a close handshake; the connection is
   * `closed` when this returns.
   *
   * @returns {Promise<CloseInfo>} The {@link closed} promise
   */
  terminate(): Promise<CloseInfo> {
    this._dispatch(TERMINATE);
    return this.closed;
  }

  /** A plain summary, for logs and `JSON.stringify`. */
  toJSON(): { id: string; userId: string | undefined; state: ConnectionState } {
    return { id: this.id, userId: this.#userId, state: this.#state };
  }

  /**
   * The one guarded write. The state check and the write happen in one
   * synchronous step, so nothing can close the socket in between.
   *
   * When nothing is queued on the socket, the frame is written without a
   * callback and the socket tells at once whether the kernel took all of it
   * ({@link WRITTEN}): Node then allocates nothing and schedules nothing for
   * the write. Otherwise `callback` reports it, later.
   *
   * @internal
   * @returns The refusal; {@link WRITTEN}; or `undefined` when `callback` will report the write
   */
  _transmit(data: WireData, binary: boolean, callback: (error?: Error | null) => void, limit = this.#host.maxBufferedBytes): TransmitOutcome {
    const refusal = SEND_REFUSAL[this.#state];
    if (refusal !== undefined) return refusal;
    const ws = this.#ws;
    if (this.#peerIsClosing()) {
      this._dispatch(PEER_CLOSING);
      return 'closing';
    }
    if (ws.bufferedAmount >= limit) {
      // A batch open in this turn is not backpressure: write it, then judge what the kernel left.
      this._flush();
      if (ws.bufferedAmount >= limit) return this.#backpressure();
    }
    const socket = this.#tcp;
    // Direct when ws writes the frame straight to the socket (no extension, nothing ahead of it, not corked, no Blob to
    // read first); reported otherwise, by ws's callback. One ws.send either way: one line writes a frame.
    const direct =
      socket !== undefined && this.#plainFrames && ws.bufferedAmount === 0 && socket.writableCorked === 0 && !(data instanceof Blob);
    ws.send(data, binary ? BINARY : TEXT, direct ? undefined : callback);
    if (!direct) return undefined;
    // A failed write leaves the socket errored at once (destroyed only on the next tick).
    if (ws.bufferedAmount === 0 && socket.writable) return WRITTEN;
    // Partly written, or failed: an empty write queued behind it reports when the rest is out, or the error.
    socket.write(EMPTY, callback);
    return undefined;
  }

  #backpressure(): SendFailureReason {
    if (this.#host.backpressurePolicy === 'close') {
      this._dispatch({ type: 'CLOSE', code: CLOSE_CODES.BACKPRESSURE, reason: 'send buffer over maxBufferedBytes' });
    }
    return 'backpressure';
  }

  /** Refuse a send: tell the host, allocate nothing. */
  #refuse(reason: SendFailureReason): Promise<SendResult> {
    this.#host.onRefused(this, reason);
    return refused(reason);
  }

  /** @internal */
  _start(): void {
    this.#actor.start();
  }

  /** @internal An outgoing socket opened: the host decides whether to admit it. */
  _socketOpened(): void {
    this.#host.onOpen(this);
  }

  /** @internal */
  _transportError(error: Error): void {
    this.#host.onTransportError(this, error);
    this._dispatch({ type: 'TRANSPORT_ERROR', message: error.message, code: errorCloseCode(error) });
  }

  /** @internal The socket is open and the peer authenticated. */
  _open(): void {
    const ws = this.#ws;
    this.#tcp = rawSocket(ws);
    this.#plainFrames = ws.extensions === '' && this.#tcp !== undefined;
    onCloseFrame(ws, onSocketCloseFrame);
    this._dispatch(OPENED);
  }

  /** @internal */
  _identify(userId: string | undefined, metadata: Record<string, unknown> | undefined): void {
    this.#userId = userId;
    this.#metadata = metadata;
  }

  /**
   * @internal Send an event to the actor, counting those it ignores. XState
   * keeps the same snapshot object when no transition is taken (no handler,
   * or no guard held), so that is the test. Not for use inside the
   * machine's own actions, where the event would only be queued.
   */
  _dispatch(event: ConnectionEvent): void {
    if (this.#state === 'closed') return;
    const actor = this.#actor;
    const before = actor.getSnapshot();
    actor.send(event);
    if (actor.getSnapshot() === before) this.#host.onEventIgnored(this, event.type);
    const untold = this.#untold;
    if (untold === undefined) return;
    this.#untold = undefined;
    tellHost(this.#host, this, untold, this.#closeInfo);
  }

  /**
   * @internal The actor entered `to` (its `reportEntry` action): the state,
   * the record and, once `closed`, the close info are settled here, in the
   * step; the host is told once the step is done ({@link _dispatch}).
   */
  _entered(to: ConnectionState, context: ConnectionContext, eventType: string): void {
    const from = this.#state;
    // The initial state reports its entry when the actor starts, and the heartbeat re-enters connected: not changes of state.
    if (to === from) return;
    this.#state = to;
    (this.#untold ??= []).push(transitionRecord(this, ++this.#seq, from, to, eventType, context));
    if (to === 'closed') {
      const info = closeInfoOf(context);
      unbindActor(this.#actor);
      systems.release(this.#system);
      this.#closeInfo = info;
      this.#resolveClosed?.(info);
    }
  }

  /**
   * @internal Inbound data reaches the application only in `connected`.
   * `maxMessagesPerSecond` bounds plain connections; a connection reserved
   * for a protocol is bounded by that protocol, which slows it rather than
   * closing it (the session protocol's `maxFramesPerSecond`).
   */
  _receive(data: RawData, binary: boolean): void {
    if (!DELIVERING[this.#state]) return;
    const limit = this.#host.maxMessagesPerSecond;
    if (limit > 0 && !this.#reserved && !(this.#rate ??= new RateWindow()).admit(limit, Date.now())) {
      this._dispatch({ type: 'CLOSE', code: CLOSE_CODES.RATE_LIMITED, reason: 'message rate limit exceeded' });
      return;
    }
    this._peerActive();
    // ws's default binaryType, nodebuffer, hands over one Buffer even for a fragmented message.
    this._deliver(binary ? (data as Buffer) : (data as Buffer).toString(), binary);
  }

  /**
   * @internal Stop reading from the socket for `cause` (a bit of the
   * caller's): the peer's frames wait in its socket and TCP slows it down,
   * instead of this process holding them. Reading resumes once every cause
   * that paused it has resumed. A peer paused for longer than the heartbeat
   * interval is judged silent: pause briefly.
   */
  _pauseReading(cause: number): void {
    if (this.#paused === 0) this.#ws.pause();
    this.#paused |= cause;
  }

  /** @internal See {@link _pauseReading}. */
  _resumeReading(cause: number): void {
    if ((this.#paused & cause) === 0) return;
    this.#paused &= ~cause;
    if (this.#paused === 0) this.#ws.resume();
  }

  /**
   * @internal A frame from the peer arrived. Only the machine's written
   * ping cares, so the event is sent only then: one read of the snapshot
   * per frame instead of an event through the interpreter.
   */
  _peerActive(): void {
    if (this.#state === 'connected' && this.#actor.getSnapshot().context.ping === 'written') this._dispatch(PEER_ACTIVE);
  }

  /** @internal */
  _deliver(data: string | Buffer, binary: boolean): void {
    this.#host.onMessage(this, data, binary);
  }

  /** @internal The TCP socket under ws (see ws-internals.ts), once open; `undefined` if ws hides it. */
  get _tcp(): Duplex | undefined {
    return this.#tcp;
  }

  /** @internal The armed timer elapsed: the state that armed it is still current (arming the next disarms it). */
  _timerElapsed(): void {
    this._dispatch(this._timer.event);
  }

  /**
   * Whether the socket left OPEN while the actor is `connected`: ws saw the
   * peer's close frame (or a protocol error) but emits nothing until 'close'.
   */
  #peerIsClosing(): boolean {
    return this.#ws.readyState !== WebSocket.OPEN;
  }
}
