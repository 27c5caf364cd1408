/**
 * The lifecycle of one WebSocket connection as a pure XState v5 machine.
 *
 * No I/O lives here: every effect on the socket is a named action whose
 * implementation the transport binding injects with `machine.provide()`.
 * The defaults below do nothing, so the machine can be run, tested and
 * charted on its own.
 *
 * The binding reads three things from the definition, never restates them
 * (src/connection-rules.ts): a state tagged `writable` accepts sends, one
 * tagged `delivering` hands inbound messages to the application, and every
 * other state names the refusal a send gets there in `meta.sendRefusal`.
 * The states that run `reportEntry` are the ones the audit trail records.
 *
 * Timeouts are events, not XState `after` delays (#14): each state before
 * `closed` arms its one timer on entry (`startTimer`), which replaces the
 * timer armed before it, and the binding sends `after <timer>` when it
 * elapses. A timer that elapses for a state already left is never sent.
 * XState's `after` cost about 20 us per connection's life in its scheduler
 * (bench/lifecycle-cost.ts), a quarter of the whole; the chart and the
 * audit trail read the same as with `after`.
 */
import { assertEvent, assign, setup } from 'xstate';

/** The four lifecycle states, in the order a connection passes through them. */
export const CONNECTION_STATES = ['connecting', 'connected', 'closing', 'closed'] as const;

/** One of `connecting`, `connected`, `closing`, `closed`. */
export type ConnectionState = (typeof CONNECTION_STATES)[number];

/**
 * Who ended the connection: `server` (this side closed and the handshake
 * completed), `peer` (the other side closed or vanished), `timeout` (a
 * handshake, heartbeat or close-handshake timeout terminated the socket) or
 * `error` (a transport error).
 */
export type CloseInitiator = 'server' | 'peer' | 'timeout' | 'error';

/** The chart's timers: one per state before `closed`, each lasting its `<timer>Ms` from the input. */
export type ConnectionTimer = 'handshakeTimeout' | 'heartbeatInterval' | 'closeTimeout';

/** The event a timer sends when it elapses in the state that armed it. */
export type TimerEvent = { type: `after ${ConnectionTimer}` };

/** Close code used when the socket is terminated without a close handshake. */
export const ABNORMAL_CLOSURE = 1006;

/** The timings a connection actor is created with. */
export interface ConnectionMachineInput {
  /** How long `connecting` may last (socket open plus authentication). */
  handshakeTimeoutMs: number;
  /** How long `closing` waits for the close handshake before terminating. */
  closeTimeoutMs: number;
  /** Ping period in `connected`; 0 disables the heartbeat. */
  heartbeatIntervalMs: number;
}

/**
 * Where the heartbeat's ping is: `none` out; `queued` handed to the
 * transport but not yet written (it may wait behind this side's own
 * compression queue, which says nothing about the peer); `written` on the
 * wire, and no frame from the peer since.
 */
export type PingState = 'none' | 'queued' | 'written';

export interface ConnectionContext extends ConnectionMachineInput {
  code: number | null;
  reason: string;
  initiator: CloseInitiator | null;
  ping: PingState;
}

/** How a connection ended: the machine's output once it reaches `closed`. */
export interface CloseInfo {
  code: number;
  reason: string;
  initiator: CloseInitiator;
}

export type ConnectionEvent =
  /** The socket is open and the peer is authenticated. */
  | { type: 'OPENED' }
  /** This side closes with a close code and reason. */
  | { type: 'CLOSE'; code: number; reason: string }
  /** This side destroys the socket without a close handshake. */
  | { type: 'TERMINATE' }
  /** The peer's close frame arrived; the transport reports `close` only later. */
  | { type: 'PEER_CLOSING' }
  /** The transport reports the socket closed. */
  | { type: 'TRANSPORT_CLOSED'; code: number; reason: string }
  /** The transport reports an error, with the close code it answers it with, if any. */
  | { type: 'TRANSPORT_ERROR'; message: string; code?: number }
  /** The transport wrote the heartbeat's ping frame: the peer's deadline starts now. */
  | { type: 'PING_WRITTEN' }
  /** A frame from the peer arrived (pong, ping or message): it is alive. */
  | { type: 'PEER_ACTIVE' }
  /**
   * The data queued for the peer made no progress for a whole heartbeat
   * interval while the ping waited behind it: the peer stopped reading.
   */
  | { type: 'WRITE_STALLED' }
  /** The timer the current state armed elapsed. */
  | TimerEvent;

export type ConnectionEventType = ConnectionEvent['type'];

/** `writable`: sends are accepted; `delivering`: inbound messages reach the application. */
export type ConnectionTag = 'writable' | 'delivering';

/** What a state not tagged `writable` says to a send, in its `meta`. */
export interface ConnectionStateMeta {
  sendRefusal?: 'not_connected' | 'closing' | 'closed';
}

/**
 * How long a timer lasts for a connection.
 *
 * @param {ConnectionMachineInput} context The machine's context (or input)
 * @param {ConnectionTimer} timer The timer
 * @returns {number} Its `<timer>Ms`; 0 means the timer is off (heartbeat disabled)
 */
export function timerDuration(context: ConnectionMachineInput, timer: ConnectionTimer): number {
  // A switch, not context[`${timer}Ms`]: that builds a string per arm.
  switch (timer) {
    case 'handshakeTimeout':
      return context.handshakeTimeoutMs;
    case 'heartbeatInterval':
      return context.heartbeatIntervalMs;
    case 'closeTimeout':
      return context.closeTimeoutMs;
  }
}

/**
 * How a connection that ended with this context ended: the machine's
 * output in `closed`.
 *
 * @param {ConnectionContext} context The machine's context
 * @returns {CloseInfo} Code (1006 if none), reason and initiator (`peer` if none)
 */
export function closeInfoOf(context: ConnectionContext): CloseInfo {
  return {
    code: context.code ?? ABNORMAL_CLOSURE,
    reason: context.reason,
    initiator: context.initiator ?? 'peer'
  };
}

/**
 * The connection lifecycle. `live` holds what every state before `closed`
 * shares; every path ends in the final state `closed`, whose output is the
 * {@link CloseInfo}.
 */
export const connectionMachine = setup({
  types: {
    context: {} as ConnectionContext,
    events: {} as ConnectionEvent,
    input: {} as ConnectionMachineInput,
    output: {} as CloseInfo,
    // The assertion types XState's meta; the lint rule cannot see that it changes inference.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
    meta: {} as ConnectionStateMeta,
    tags: {} as ConnectionTag
  },
  actions: {
    /** Start the close handshake with `context.code` and `context.reason`. */
    closeTransport: () => {},
    /** Destroy the socket without a handshake. */
    terminateTransport: () => {},
    /** Send a ping frame; the binding sends PING_WRITTEN once it is written. */
    sendPing: () => {},
    /**
     * The ping has waited a whole interval behind data queued for the peer:
     * the binding compares how much of it was written since the ping was
     * sent (or since the last check) and sends WRITE_STALLED if nothing was.
     */
    checkWriteProgress: () => {},
    /**
     * Arm `timer` for {@link timerDuration}, replacing the timer armed
     * before; when it elapses the binding sends `after <timer>`. A duration
     * of 0 arms nothing.
     */
    startTimer: (_, _params: { timer: ConnectionTimer }) => {},
    /** Disarm the timer: nothing elapses once the connection is `closed`. */
    cancelTimer: () => {},
    /**
     * The connection entered `state`: the binding records the transition
     * (the audit trail) and tells the application.
     */
    reportEntry: (_, _params: { state: ConnectionState }) => {},
    recordServerClose: assign(({ event }) => {
      assertEvent(event, 'CLOSE');
      return { code: event.code, reason: event.reason, initiator: 'server' as const };
    }),
    recordTermination: assign({ code: ABNORMAL_CLOSURE, initiator: 'server' as CloseInitiator }),
    recordPeerClosing: assign({ initiator: 'peer' as CloseInitiator }),
    recordTransportError: assign(({ event }) => {
      assertEvent(event, 'TRANSPORT_ERROR');
      return { code: event.code ?? null, reason: event.message, initiator: 'error' as const };
    }),
    // Nobody had started a close: the peer closed or vanished.
    recordTransportClose: assign(({ event, context }) => {
      assertEvent(event, 'TRANSPORT_CLOSED');
      return { code: event.code, reason: event.reason, initiator: context.initiator ?? ('peer' as const) };
    }),
    // The transport closed with the error's code (1002, 1007, 1009...): keep it and the error's message.
    recordCloseAfterError: assign(({ event, context }) => {
      assertEvent(event, 'TRANSPORT_CLOSED');
      return { code: context.code ?? event.code };
    }),
    recordPeerVanished: assign(({ event }) => {
      assertEvent(event, 'TRANSPORT_CLOSED');
      return { code: event.code, reason: event.reason, initiator: 'peer' as const };
    }),
    recordTimeout: assign({ code: ABNORMAL_CLOSURE, initiator: 'timeout' as CloseInitiator }),
    markPingQueued: assign({ ping: 'queued' as PingState }),
    markPingWritten: assign({ ping: 'written' as PingState }),
    markPeerActive: assign({ ping: 'none' as PingState })
  },
  guards: {
    // Only a written ping can be overdue: one still queued behind this side's frames says nothing about the peer (#10).
    pongOverdue: ({ context }) => context.ping === 'written',
    // Never a second ping while one waits to be written.
    pingDue: ({ context }) => context.heartbeatIntervalMs > 0 && context.ping === 'none',
    // The ping still waits behind this side's queue: the queue, not the peer, is judged (#25).
    pingQueued: ({ context }) => context.ping === 'queued',
    afterTransportError: ({ context }) => context.initiator === 'error',
    // A close this side started counts as `server` only if the peer completed it.
    serverCloseUnanswered: ({ context, event }) => {
      assertEvent(event, 'TRANSPORT_CLOSED');
      return context.initiator === 'server' && event.code === ABNORMAL_CLOSURE;
    }
  }
}).createMachine({
  id: 'connection',
  initial: 'live',
  context: ({ input }) => ({
    handshakeTimeoutMs: input.handshakeTimeoutMs,
    closeTimeoutMs: input.closeTimeoutMs,
    heartbeatIntervalMs: input.heartbeatIntervalMs,
    code: null,
    reason: '',
    initiator: null,
    ping: 'none'
  }),
  states: {
    live: {
      initial: 'connecting',
      on: {
        TERMINATE: { target: 'closed', actions: ['recordTermination', 'terminateTransport'] },
        TRANSPORT_CLOSED: [
          { guard: 'afterTransportError', target: 'closed', actions: ['recordCloseAfterError'] },
          { guard: 'serverCloseUnanswered', target: 'closed', actions: ['recordPeerVanished'] },
          { target: 'closed', actions: ['recordTransportClose'] }
        ]
      },
      states: {
        connecting: {
          entry: [
            { type: 'reportEntry', params: { state: 'connecting' } },
            { type: 'startTimer', params: { timer: 'handshakeTimeout' } }
          ],
          meta: { sendRefusal: 'not_connected' },
          on: {
            OPENED: { target: 'connected' },
            CLOSE: { target: 'closing', actions: ['recordServerClose', 'closeTransport'] },
            TRANSPORT_ERROR: { target: 'closing', actions: ['recordTransportError'] },
            'after handshakeTimeout': { target: '#connection.closed', actions: ['recordTimeout', 'terminateTransport'] }
          }
        },
        connected: {
          entry: [
            { type: 'reportEntry', params: { state: 'connected' } },
            { type: 'startTimer', params: { timer: 'heartbeatInterval' } }
          ],
          tags: ['writable', 'delivering'],
          on: {
            CLOSE: { target: 'closing', actions: ['recordServerClose', 'closeTransport'] },
            PEER_CLOSING: { target: 'closing', actions: ['recordPeerClosing'] },
            TRANSPORT_ERROR: { target: 'closing', actions: ['recordTransportError'] },
            PEER_ACTIVE: { actions: ['markPeerActive'] },
            // Re-entering restarts heartbeatInterval: the peer gets a whole interval from the write.
            PING_WRITTEN: { target: 'connected', reenter: true, actions: ['markPingWritten'] },
            // The heartbeat judges the peer, not this side's own send queue (#10). It lives in
            // context rather than in substates: substates cost 170-200 B per idle connection
            // (bench/memory-breakdown.ts). While the ping is queued the timer runs on, and each
            // interval checks that the queue ahead of it moves: a peer that stops reading is
            // ended even under backpressurePolicy 'reject' (#25).
            'after heartbeatInterval': [
              { guard: 'pongOverdue', target: '#connection.closed', actions: ['recordTimeout', 'terminateTransport'] },
              { guard: 'pingDue', target: 'connected', reenter: true, actions: ['markPingQueued', 'sendPing'] },
              { guard: 'pingQueued', target: 'connected', reenter: true, actions: ['checkWriteProgress'] }
            ],
            WRITE_STALLED: { target: '#connection.closed', actions: ['recordTimeout', 'terminateTransport'] }
          }
        },
        closing: {
          entry: [
            { type: 'reportEntry', params: { state: 'closing' } },
            { type: 'startTimer', params: { timer: 'closeTimeout' } }
          ],
          meta: { sendRefusal: 'closing' },
          on: {
            'after closeTimeout': { target: '#connection.closed', actions: ['recordTimeout', 'terminateTransport'] }
          }
        }
      }
    },
    closed: {
      type: 'final',
      entry: ['cancelTimer', { type: 'reportEntry', params: { state: 'closed' } }],
      meta: { sendRefusal: 'closed' }
    }
  },
  output: ({ context }) => closeInfoOf(context)
});

export type ConnectionMachine = typeof connectionMachine;
