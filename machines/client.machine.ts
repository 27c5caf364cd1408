/**
 * The reconnecting session client (#11) as a pure XState v5 machine:
 * `idle` until started, `connecting` while a socket opens and the hello is
 * answered, `open` while welcomed, `reconnecting` while it waits out a
 * backoff, `closed` (final) when the application closes it or the server
 * refuses it for good. The binding (src/client.ts) provides the socket
 * actions and the jittered backoff delay.
 */
import { assign, setup } from 'xstate';

export const CLIENT_STATES = ['idle', 'connecting', 'open', 'reconnecting', 'closed'] as const;
export type ClientState = (typeof CLIENT_STATES)[number];

export interface ClientMachineInput {
  /** First retry delay; it doubles per failed attempt up to `maxDelayMs`. */
  minDelayMs: number;
  maxDelayMs: number;
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
    /** The client entered `state`: the binding tells the application. */
    reportEntry: (_, _params: { state: ClientState }) => {},
    countAttempt: assign({ attempts: ({ context }) => context.attempts + 1 }),
    resetAttempts: assign({ attempts: 0 })
  },
  guards: {
    refused: ({ event }) => event.type === 'SOCKET_CLOSED' && event.final
  },
  delays: {
    // Doubling, capped; the binding provides the same with jitter.
    backoff: ({ context }) => Math.min(context.maxDelayMs, context.minDelayMs * 2 ** Math.max(0, context.attempts - 1))
  }
}).createMachine({
  id: 'client',
  initial: 'idle',
  context: ({ input }) => ({ minDelayMs: input.minDelayMs, maxDelayMs: input.maxDelayMs, attempts: 0 }),
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
      }
    },
    open: {
      entry: { type: 'reportEntry', params: { state: 'open' } },
      on: {
        SOCKET_CLOSED: [{ guard: 'refused', target: 'closed' }, { target: 'reconnecting', actions: ['countAttempt'] }],
        CLOSE: { target: 'closed', actions: ['closeSocket'] }
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
