/**
 * The lifecycle of one node of a cluster (#12) as a pure XState v5
 * machine: `connecting` until its Redis connections are ready, `ready`
 * while they are, `degraded` while Redis is unreachable (publishes are
 * refused with `store_unavailable`, resumes are closed with 1013 to be
 * tried again), `draining` once shutdown began (the readiness check says
 * no, so a load balancer stops sending clients), `stopped` (final).
 * Only `ready` is ready. Every state runs `reportEntry`: the binding logs
 * each transition.
 */
import { setup } from 'xstate';

export const NODE_STATES = ['connecting', 'ready', 'degraded', 'draining', 'stopped'] as const;
export type NodeState = (typeof NODE_STATES)[number];

export type NodeEvent =
  /** Both Redis connections (commands and subscriber) are ready. */
  | { type: 'REDIS_READY' }
  /** A Redis connection failed or closed. */
  | { type: 'REDIS_LOST' }
  /** Shutdown began. */
  | { type: 'DRAIN' }
  /** Shutdown is done: connections closed, Redis connections released. */
  | { type: 'STOPPED' };

export const nodeMachine = setup({
  types: {
    events: {} as NodeEvent
  },
  actions: {
    /** The node entered `state`: the binding logs it and answers the readiness check from it. */
    reportEntry: (_, _params: { state: NodeState }) => {},
    /** Redis is back: every topic reads from the streams what the broker may have missed while it was away. */
    resync: () => {}
  }
}).createMachine({
  id: 'node',
  initial: 'running',
  states: {
    // Shared by every running state: shutdown can begin at any time.
    running: {
      initial: 'connecting',
      on: { DRAIN: { target: 'draining' } },
      states: {
        connecting: {
          entry: { type: 'reportEntry', params: { state: 'connecting' } },
          on: { REDIS_READY: { target: 'ready' } }
        },
        ready: {
          entry: { type: 'reportEntry', params: { state: 'ready' } },
          on: { REDIS_LOST: { target: 'degraded' } }
        },
        degraded: {
          entry: { type: 'reportEntry', params: { state: 'degraded' } },
          on: { REDIS_READY: { target: 'ready', actions: ['resync'] } }
        }
      }
    },
    draining: {
      entry: { type: 'reportEntry', params: { state: 'draining' } },
      on: { STOPPED: { target: 'stopped' } }
    },
    stopped: {
      type: 'final',
      entry: { type: 'reportEntry', params: { state: 'stopped' } }
    }
  }
});
