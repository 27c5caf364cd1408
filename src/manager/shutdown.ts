/**
 * Shutting a set of connections down: each is closed (in batches if
 * asked), and whatever is not `closed` by the deadline is terminated.
 */
import type { Connection } from '../core/connection.js';
import { DEFAULTS } from '../core/constants.js';
import { assertCloseArgs, assertDuration, assertNumberOption } from '../core/validation.js';
import type { ShutdownOptions, ShutdownReport } from './options.js';

/** Shutdown options with their defaults, checked. */
export interface ShutdownPlan {
  code: number;
  reason: string;
  timeoutMs: number;
  batchSize: number;
  batchIntervalMs: number;
}

/**
 * @param {ShutdownOptions} options As given
 * @returns {ShutdownPlan} With defaults
 * @throws {RangeError} If the code, the reason or a number is invalid
 */
export function shutdownPlan(options: ShutdownOptions): ShutdownPlan {
  const plan = {
    code: options.code ?? DEFAULTS.shutdownCode,
    reason: options.reason ?? DEFAULTS.shutdownReason,
    timeoutMs: options.timeoutMs ?? DEFAULTS.shutdownTimeoutMs,
    batchSize: options.batchSize ?? DEFAULTS.shutdownBatchSize,
    batchIntervalMs: options.batchIntervalMs ?? DEFAULTS.shutdownBatchIntervalMs
  };
  assertCloseArgs(plan.code, plan.reason);
  assertDuration('timeoutMs', plan.timeoutMs, 'terminate at once');
  assertNumberOption('batchSize', plan.batchSize, 1);
  assertDuration('batchIntervalMs', plan.batchIntervalMs, 'the next turn of the event loop');
  return plan;
}

/**
 * Close every target; terminate what is still open after `timeoutMs`. Ends
 * by the deadline whatever the targets do: one whose `closed` has not
 * settled by then is counted as terminated rather than waited for.
 *
 * @returns {Promise<ShutdownReport>} Once every target is `closed`, or at the deadline
 */
export async function closeAll(targets: readonly Connection[], plan: ShutdownPlan): Promise<ShutdownReport> {
  const { code, reason, batchSize, batchIntervalMs } = plan;
  // Counted as each settles, so the count stands at the deadline too.
  let timedOut = 0;
  const outcomes = Promise.all(
    targets.map((c) =>
      c.closed.then((info) => {
        if (info.initiator === 'timeout') timedOut++;
      })
    )
  );
  let terminated = 0;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'deadline'>((resolve) => {
    timer = setTimeout(() => {
      for (const connection of targets) {
        if (connection.state !== 'closed') {
          terminated++;
          void connection.terminate();
        }
      }
      resolve('deadline');
    }, plan.timeoutMs);
  });
  try {
    for (let i = 0; i < targets.length; i += batchSize) {
      // Yield between batches even at 0 ms, so each batch's close frames go out before the next.
      if (i > 0 && (await Promise.race([delay(batchIntervalMs), deadline])) === 'deadline') break;
      for (const connection of targets.slice(i, i + batchSize)) {
        if (connection.state === 'connecting' || connection.state === 'connected') void connection.close(code, reason);
      }
    }
    await Promise.race([outcomes, deadline]);
    return { closed: targets.length - terminated - timedOut, terminated: terminated + timedOut };
  } finally {
    clearTimeout(timer);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
