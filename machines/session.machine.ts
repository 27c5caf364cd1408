/**
 * The lifecycle of one session, the logical client across connections
 * (issue #11), as a pure XState v5 machine: `attached` while at least one
 * live connection belongs to it, `detached` while none does (its history
 * is kept for resume), `expired` (final) once it stayed detached for
 * `ttlMs` or was ended. Audited like the connection machine: every state
 * runs `reportEntry`. The TTL is a timer of the chart, as the connection
 * machine's timeouts are (#14): `detached` arms it on entry
 * (`startTimer(sessionTtl)`), the binding sends `after sessionTtl` when it
 * elapses, and the other states cancel it.
 */
import { assign, setup } from 'xstate';

/** The three session states, in the order a session passes through them. */
export const SESSION_STATES = ['attached', 'detached', 'expired'] as const;

/** One of `attached`, `detached`, `expired`. */
export type SessionState = (typeof SESSION_STATES)[number];

export interface SessionMachineInput {
  /** How long the session may stay detached before it expires. */
  ttlMs: number;
}

export interface SessionContext extends SessionMachineInput {
  /** Live connections of the session. */
  connections: number;
}

export type SessionEvent =
  /** The TTL armed in `detached` elapsed. */
  | { type: 'after sessionTtl' }
  /** A connection joined the session (a resume). */
  | { type: 'ATTACH' }
  /** A connection of the session closed. */
  | { type: 'DETACH' }
  /** The session ends now (the user logged out, the token was revoked, the server drains). */
  | { type: 'END' };

export const sessionMachine = setup({
  types: {
    context: {} as SessionContext,
    events: {} as SessionEvent,
    input: {} as SessionMachineInput
  },
  actions: {
    /** The session entered `state`: the binding records the transition. */
    reportEntry: (_, _params: { state: SessionState }) => {},
    /** Arm the session's one timer for `context.ttlMs`; the binding sends `after sessionTtl` when it elapses. */
    startTimer: (_, _params: { timer: 'sessionTtl' }) => {},
    /** Disarm it: a session attached again, or over, does not expire. */
    cancelTimer: () => {},
    countAttach: assign({ connections: ({ context }) => context.connections + 1 }),
    countDetach: assign({ connections: ({ context }) => context.connections - 1 })
  },
  guards: {
    lastConnection: ({ context }) => context.connections === 1
  }
}).createMachine({
  id: 'session',
  initial: 'attached',
  // A session is made by the connection that starts it.
  context: ({ input }) => ({ ttlMs: input.ttlMs, connections: 1 }),
  states: {
    attached: {
      entry: [{ type: 'reportEntry', params: { state: 'attached' } }, 'cancelTimer'],
      on: {
        ATTACH: { actions: ['countAttach'] },
        DETACH: [{ guard: 'lastConnection', target: 'detached', actions: ['countDetach'] }, { actions: ['countDetach'] }],
        END: { target: 'expired' }
      }
    },
    detached: {
      entry: [
        { type: 'reportEntry', params: { state: 'detached' } },
        { type: 'startTimer', params: { timer: 'sessionTtl' } }
      ],
      on: {
        ATTACH: { target: 'attached', actions: ['countAttach'] },
        END: { target: 'expired' },
        'after sessionTtl': { target: 'expired' }
      }
    },
    expired: {
      type: 'final',
      entry: ['cancelTimer', { type: 'reportEntry', params: { state: 'expired' } }]
    }
  }
});

export type SessionMachine = typeof sessionMachine;
