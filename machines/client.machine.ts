/**
 * The reconnecting session client (#11) as a pure XState v5 machine:
 * `idle` until started, `connecting` while a socket opens and the hello is
 * answered, `open` while welcomed, `reconnecting` while it waits out a
 * backoff, `closed` (final) when the application closes it or the server
 * refuses it for good. The binding (src/client.ts) provides the socket
 * actions and the jittered backoff delay.
 *
 * Offline detection: a socket whose peer vanished (a laptop lid, a NAT that
 * forgot the flow) may never report a close, and browsers cannot send a
 * ping frame. So in `open` the client is `listening`; after an interval in
 * which nothing arrived it is `probing` (it sends a protocol ping), and if
 * nothing arrives within the timeout either it gives the socket up and
 * reconnects. No timer is touched per message: the binding only notes that
 * a frame arrived (`heard`).
 */
import { assign, setup } from 'xstate';

export const CLIENT_STATES = ['idle', 'connecting', 'open', 'reconnecting', 'closed'] as const;
export type ClientState = (typeof CLIENT_STATES)[number];

export interface ClientMachineInput {
  /** First retry delay; it doubles per failed attempt up to `maxDelayMs`. */
  minDelayMs: number;
  maxDelayMs: number;
  /** Quiet time in `open` after which the client probes the server. */
  heartbeatIntervalMs: number;
  /** How long a probe waits for any frame before the socket is given up. */
  heartbeatTimeoutMs: number;
  /** How long `connecting` may last (socket open and welcome) before the attempt is given up. */
  connectTimeoutMs: number;
}

export interface ClientContext extends ClientMachineInput {
  /** Failed attempts since the last welcome. */
  attempts: number;
}

export type ClientEvent =
  | { type: 'START' }
  /** The server welcomed the hello. */
  | { type: 'WELCOMED' }
  /** The socket closed; `final` when the server refused this client for good (4400, 4403). */
  | { type: 'SOCKET_CLOSED'; final: boolean }
  /** The application closes the client. */
  | { type: 'CLOSE' };

export const clientMachine = setup({
  types: {
    context: {} as ClientContext,
    events: {} as ClientEvent,
    input: {} as ClientMachineInput
  },
  actions: {
    /** Open a socket and say hello with the session token and the cursors. */
    openSocket: () => {},
    /** Close the socket, if any. */
    closeSocket: () => {},
    /** Forget the socket (its late close event is ignored) and close it: the server stopped answering. */
    abandonSocket: () => {},
    /** Send a protocol ping; any frame from the server answers it. */
    sendPing: () => {},
    /** Start noting afresh whether a frame arrives. */
    forgetHeard: () => {},
    /** The client entered `state`: the binding tells the application. */
    reportEntry: (_, _params: { state: ClientState }) => {},
    countAttempt: assign({ attempts: ({ context }) => context.attempts + 1 }),
    resetAttempts: assign({ attempts: 0 })
  },
  guards: {
    refused: ({ event }) => event.type === 'SOCKET_CLOSED' && event.final,
    /** A frame arrived since `forgetHeard`; the binding provides it. */
    heard: () => false
  },
  delays: {
    // Doubling, capped; the binding provides the same with jitter.
    backoff: ({ context }) => Math.min(context.maxDelayMs, context.minDelayMs * 2 ** Math.max(0, context.attempts - 1)),
    heartbeatInterval: ({ context }) => context.heartbeatIntervalMs,
    heartbeatTimeout: ({ context }) => context.heartbeatTimeoutMs,
    connectTimeout: ({ context }) => context.connectTimeoutMs
  }
}).createMachine({
  id: 'client',
  initial: 'idle',
  context: ({ input }) => ({ ...input, attempts: 0 }),
  states: {
    idle: {
      entry: { type: 'reportEntry', params: { state: 'idle' } },
      on: { START: { target: 'connecting' }, CLOSE: { target: 'closed' } }
    },
    connecting: {
      entry: [{ type: 'reportEntry', params: { state: 'connecting' } }, 'openSocket'],
      on: {
        WELCOMED: { target: 'open', actions: ['resetAttempts'] },
        SOCKET_CLOSED: [{ guard: 'refused', target: 'closed' }, { target: 'reconnecting', actions: ['countAttempt'] }],
        CLOSE: { target: 'closed', actions: ['closeSocket'] }
      },
      // A socket that never opens, or a hello never answered (a half-open connection reports nothing): given up.
      after: { connectTimeout: { target: 'reconnecting', actions: ['abandonSocket', 'countAttempt'] } }
    },
    open: {
      entry: { type: 'reportEntry', params: { state: 'open' } },
      on: {
        SOCKET_CLOSED: [{ guard: 'refused', target: 'closed' }, { target: 'reconnecting', actions: ['countAttempt'] }],
        CLOSE: { target: 'closed', actions: ['closeSocket'] }
      },
      initial: 'listening',
      states: {
        listening: {
          entry: ['forgetHeard'],
          after: {
            heartbeatInterval: [{ guard: 'heard', target: 'listening', reenter: true }, { target: 'probing' }]
          }
        },
        probing: {
          entry: ['forgetHeard', 'sendPing'],
          after: {
            heartbeatTimeout: [{ guard: 'heard', target: 'listening' }, { target: '#client.reconnecting', actions: ['abandonSocket', 'countAttempt'] }]
          }
        }
      }
    },
    reconnecting: {
      entry: { type: 'reportEntry', params: { state: 'reconnecting' } },
      on: { CLOSE: { target: 'closed' } },
      after: { backoff: { target: 'connecting' } }
    },
    closed: {
      type: 'final',
      entry: { type: 'reportEntry', params: { state: 'closed' } }
    }
  }
});
