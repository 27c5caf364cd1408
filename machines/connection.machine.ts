/**
 * The lifecycle of one WebSocket connection as a pure XState v5 machine.
 *
 * No I/O lives here: every effect on the socket is a named action whose
 * implementation the transport binding injects with `machine.provide()`.
 * The defaults below do nothing, so the machine can be run, tested and
 * charted on its own.
 */
import { assign, setup } from 'xstate';

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
 * wire, no frame from the peer since.
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
  /** Write one message; accepted only in `connected`. */
  | { type: 'SEND'; data: unknown }
  /** An inbound message; delivered only in `connected`. */
  | { type: 'RECEIVE'; data: unknown }
  /** This side closes with a close code and reason. */
  | { type: 'CLOSE'; code: number; reason: string }
  /** This side destroys the socket without a close handshake. */
  | { type: 'TERMINATE' }
  /** The transport saw the peer's close frame before reporting `close`. */
  | { type: 'PEER_CLOSING' }
  /** The transport reports the socket closed. */
  | { type: 'TRANSPORT_CLOSED'; code: number; reason: string }
  /** The transport reports an error, with the close code it answers it with, if any. */
  | { type: 'TRANSPORT_ERROR'; message: string; code?: number }
  /** The transport wrote the heartbeat's ping frame: the peer's deadline starts now. */
  | { type: 'PING_WRITTEN' }
  /** A frame from the peer arrived (pong, ping or message): it is alive. */
  | { type: 'PEER_ACTIVE' };

export type ConnectionEventType = ConnectionEvent['type'];

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
 * The connection lifecycle. Every path ends in the final state `closed`,
 * whose output is the {@link CloseInfo}.
 */
export const connectionMachine = setup({
  types: {
    context: {} as ConnectionContext,
    events: {} as ConnectionEvent,
    input: {} as ConnectionMachineInput,
    output: {} as CloseInfo
  },
  actions: {
    /** Start the close handshake with `context.code` and `context.reason`. */
    closeTransport: () => {},
    /** Destroy the socket without a handshake. */
    terminateTransport: () => {},
    /** Send a ping frame; the binding sends PING_WRITTEN once it is written. */
    sendPing: () => {},
    /** Write the SEND event's data to the socket. */
    transmit: () => {},
    /** Hand the RECEIVE event's data to the application. */
    deliver: () => {},
    /**
     * The connection entered `state`: the binding records the transition
     * (the audit trail) and tells the application. Every state but the
     * initial one runs it on entry.
     */
    reportEntry: (_, _params: { state: ConnectionState }) => {},
    recordServerClose: assign({
      code: ({ event }) => (event.type === 'CLOSE' ? event.code : null),
      reason: ({ event }) => (event.type === 'CLOSE' ? event.reason : ''),
      initiator: 'server' as CloseInitiator
    }),
    recordTermination: assign({ code: ABNORMAL_CLOSURE, initiator: 'server' as CloseInitiator }),
    recordPeerClosing: assign({ initiator: 'peer' as CloseInitiator }),
    // The transport closes with the error's code (1002, 1007, 1009...); keep it
    // even if the peer then vanishes instead of answering with its own.
    recordTransportError: assign({
      code: ({ event, context }) => (event.type === 'TRANSPORT_ERROR' ? (event.code ?? null) : context.code),
      reason: ({ event, context }) => (event.type === 'TRANSPORT_ERROR' ? event.message : context.reason),
      initiator: 'error' as CloseInitiator
    }),
    recordTransportClose: assign({
      code: ({ event, context }) =>
        event.type !== 'TRANSPORT_CLOSED' || (context.initiator === 'error' && context.code !== null) ? context.code : event.code,
      reason: ({ event, context }) =>
        event.type !== 'TRANSPORT_CLOSED' || context.initiator === 'error' ? context.reason : event.reason,
      // A close this side started counts as `server` only if the peer completed it.
      initiator: ({ event, context }) =>
        context.initiator === 'server' && event.type === 'TRANSPORT_CLOSED' && event.code === ABNORMAL_CLOSURE
          ? 'peer'
          : (context.initiator ?? 'peer')
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
    pingDue: ({ context }) => context.heartbeatIntervalMs > 0 && context.ping === 'none'
  },
  delays: {
    handshakeTimeout: ({ context }) => context.handshakeTimeoutMs,
    closeTimeout: ({ context }) => context.closeTimeoutMs,
    heartbeatInterval: ({ context }) => context.heartbeatIntervalMs
  }
}).createMachine({
  id: 'connection',
  initial: 'connecting',
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
    connecting: {
      on: {
        OPENED: { target: 'connected' },
        CLOSE: { target: 'closing', actions: ['recordServerClose', 'closeTransport'] },
        TERMINATE: { target: 'closed', actions: ['recordTermination', 'terminateTransport'] },
        TRANSPORT_ERROR: { target: 'closing', actions: ['recordTransportError'] },
        TRANSPORT_CLOSED: { target: 'closed', actions: ['recordTransportClose'] }
      },
      after: {
        handshakeTimeout: { target: 'closed', actions: ['recordTimeout', 'terminateTransport'] }
      }
    },
    connected: {
      entry: { type: 'reportEntry', params: { state: 'connected' } },
      on: {
        SEND: { actions: ['transmit'] },
        RECEIVE: { actions: ['deliver'] },
        PEER_ACTIVE: { actions: ['markPeerActive'] },
        // Re-entering restarts heartbeatInterval: the peer gets a whole interval from the write.
        PING_WRITTEN: { target: 'connected', reenter: true, actions: ['markPingWritten'] },
        CLOSE: { target: 'closing', actions: ['recordServerClose', 'closeTransport'] },
        TERMINATE: { target: 'closed', actions: ['recordTermination', 'terminateTransport'] },
        PEER_CLOSING: { target: 'closing', actions: ['recordPeerClosing'] },
        TRANSPORT_ERROR: { target: 'closing', actions: ['recordTransportError'] },
        TRANSPORT_CLOSED: { target: 'closed', actions: ['recordTransportClose'] }
      },
      after: {
        // No timer runs while a ping is queued: PING_WRITTEN arms the next one.
        heartbeatInterval: [
          { guard: 'pongOverdue', target: 'closed', actions: ['recordTimeout', 'terminateTransport'] },
          { guard: 'pingDue', actions: ['markPingQueued', 'sendPing'] }
        ]
      }
    },
    closing: {
      entry: { type: 'reportEntry', params: { state: 'closing' } },
      on: {
        TERMINATE: { target: 'closed', actions: ['recordTermination', 'terminateTransport'] },
        TRANSPORT_CLOSED: { target: 'closed', actions: ['recordTransportClose'] }
      },
      after: {
        closeTimeout: { target: 'closed', actions: ['recordTimeout', 'terminateTransport'] }
      }
    },
    closed: {
      type: 'final',
      entry: { type: 'reportEntry', params: { state: 'closed' } }
    }
  },
  output: ({ context }) => closeInfoOf(context)
});

export type ConnectionMachine = typeof connectionMachine;
