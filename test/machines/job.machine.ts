/**
 * A test machine that uses what the connection machine does not, so the
 * graph reader, the charts, the audit verifier, the derived rules and the
 * inspector are proved on ordinary XState (#9): guarded event transitions
 * (the first guard that holds wins), a parent whose transitions its
 * children share, states nested two deep, `assertEvent` in actions and
 * guards, an invoked callback actor, tags, meta, several final states.
 */
import { assertEvent, assign, fromCallback, setup } from 'xstate';

export type JobEvent =
  | { type: 'START' }
  | { type: 'PROGRESS'; percent: number }
  | { type: 'FAIL'; retryable: boolean }
  | { type: 'CANCEL' }
  | { type: 'DONE' };

export const jobMachine = setup({
  types: {
    context: {} as { attempts: number; percent: number },
    events: {} as JobEvent,
    tags: {} as 'busy'
  },
  actions: {
    reportEntry: (_, _params: { state: string }) => {},
    countAttempt: assign(({ context, event }) => {
      assertEvent(event, 'FAIL');
      return { attempts: context.attempts + 1 };
    }),
    recordProgress: assign(({ event }) => {
      assertEvent(event, 'PROGRESS');
      return { percent: event.percent };
    })
  },
  guards: {
    retryable: ({ event }) => {
      assertEvent(event, 'FAIL');
      return event.retryable;
    },
    underLimit: ({ context }) => context.attempts < 3
  },
  actors: {
    ticker: fromCallback(() => () => {})
  },
  delays: {
    stallTimeout: 1_000
  }
}).createMachine({
  id: 'job',
  initial: 'queued',
  context: { attempts: 0, percent: 0 },
  states: {
    queued: {
      entry: { type: 'reportEntry', params: { state: 'queued' } },
      on: { START: { target: 'active' } }
    },
    active: {
      initial: 'running',
      on: { CANCEL: { target: 'cancelled' } },
      states: {
        running: {
          entry: { type: 'reportEntry', params: { state: 'running' } },
          tags: ['busy'],
          invoke: { src: 'ticker' },
          initial: 'downloading',
          on: {
            FAIL: [{ guard: 'retryable', target: 'retrying', actions: ['countAttempt'] }, { target: '#job.failed' }],
            DONE: { target: '#job.succeeded' }
          },
          after: { stallTimeout: { target: '#job.failed' } },
          states: {
            downloading: { on: { PROGRESS: { target: 'processing', actions: ['recordProgress'] } } },
            processing: { on: { PROGRESS: { actions: ['recordProgress'] } } }
          }
        },
        retrying: {
          entry: { type: 'reportEntry', params: { state: 'retrying' } },
          meta: { note: 'backing off' },
          on: { START: { guard: 'underLimit', target: 'running' } }
        }
      }
    },
    succeeded: { type: 'final', entry: { type: 'reportEntry', params: { state: 'succeeded' } } },
    failed: { type: 'final', entry: { type: 'reportEntry', params: { state: 'failed' } } },
    cancelled: { type: 'final', entry: { type: 'reportEntry', params: { state: 'cancelled' } } }
  }
});
