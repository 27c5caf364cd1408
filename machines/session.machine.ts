/**
 * The lifecycle of one session, the logical client across connections
 * (issue #11), as a pure XState v5 machine: `attached` while at least one
 * live connection belongs to it, `detached` while none does (its history
 * is kept for resume), `expired` (final) once it stayed detached for
 * `ttlMs` or was ended. Audited like the connection machine: every state
 * runs `reportEntry`.
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
    countAttach: assign({ connections: ({ context }) => context.connections + 1 }),
    countDetach: assign({ connections: ({ context }) => context.connections - 1 })
  },
  guards: {
    lastConnection: ({ context }) => context.connections === 1
  },
  delays: {
    sessionTtl: ({ context }) => context.ttlMs
  }
}).createMachine({
  id: 'session',
  initial: 'attached',
  // A session is made by the connection that starts it.
  context: ({ input }) => ({ ttlMs: input.ttlMs, connections: 1 }),
  states: {
    attached: {
      entry: { type: 'reportEntry', params: { state: 'attached' } },
      on: {
        ATTACH: { actions: ['countAttach'] },
        DETACH: [{ guard: 'lastConnection', target: 'detached', actions: ['countDetach'] }, { actions: ['countDetach'] }],
        END: { target: 'expired' }
      }
    },
    detached: {
      entry: { type: 'reportEntry', params: { state: 'detached' } },
      on: {
        ATTACH: { target: 'attached', actions: ['countAttach'] },
        END: { target: 'expired' }
      },
      after: {
        sessionTtl: { target: 'expired' }
      }
    },
    expired: {
      type: 'final',
      entry: { type: 'reportEntry', params: { state: 'expired' } }
    }
  }
});

export type SessionMachine = typeof sessionMachine;
