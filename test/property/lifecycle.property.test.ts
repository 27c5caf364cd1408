/**
 * The lifecycle property over real sockets on 127.0.0.1: it holds for
 * `ConnectionManager`, and the very same property finds a counterexample
 * in a naive sender. Replay a run with FC_SEED (and FC_PATH).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { lifecycleProperty, newStats, replayParameters } from './lifecycle-property.js';
import { naiveSubject } from './naive-sender.js';
import { managerSubject } from './subject.js';

describe('lifecycle property over real connections', () => {
  it('holds for ConnectionManager: no write after close, every send settled, in-order delivery, bounded close', async () => {
    const stats = newStats();
    const details = await fc.check(lifecycleProperty(managerSubject, stats), {
      ...replayParameters('ConnectionManager'),
      numRuns: 40,
      plugins: [fc.interruptAfterTimeLimit(25_000)]
    });
    console.log(`[ConnectionManager] ${details.numRuns} runs${details.interrupted ? ' (interrupted by the time limit)' : ''}; all executions exercised ${JSON.stringify(stats)}`);
    if (details.failed) throw new Error(`${fc.defaultReportMessage(details)}\n${errorText(details.errorInstance)}`);
    expect(details.numRuns).toBeGreaterThan(0);
  }, 60_000);

  it('finds a counterexample in a naive sender that writes without checking state', async () => {
    const details = await fc.check(lifecycleProperty(naiveSubject), {
      ...replayParameters('naive sender'),
      numRuns: 30,
      endOnFailure: true,
      plugins: [fc.interruptAfterTimeLimit(15_000)]
    });
    const message = errorText(details.errorInstance);
    console.log(`[naive sender] failed=${details.failed} after ${details.numRuns} runs, seed=${details.seed} path=${details.counterexamplePath}\n${message.split('\n').slice(0, 4).join('\n')}`);
    expect(details.failed).toBe(true);
    expect(details.counterexample).not.toBeNull();
    // A property violation, not a crash of the harness.
    expect(message).toMatch(/^\([a-e]\) /m);
  }, 40_000);
});

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
