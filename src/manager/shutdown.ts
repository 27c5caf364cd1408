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
 * Close every target; terminate what is still open after `timeoutMs`.
 *
 * @returns {Promise<ShutdownReport>} Once every target is `closed`
 */
export async function closeAll(targets: readonly Connection[], plan: ShutdownPlan): Promise<ShutdownReport> {
  const { code, reason, batchSize, batchIntervalMs } = plan;
  const outcomes = Promise.all(targets.map((c) => c.closed));
  let terminated = 0;
  const deadline = setTimeout(() => {
    for (const connection of targets) {
      if (connection.state !== 'closed') {
        terminated++;
        void connection.terminate();
      }
    }
  }, plan.timeoutMs);
  try {
    for (let i = 0; i < targets.length; i += batchSize) {
      // Yield between batches even at 0 ms, so each batch's close frames go out before the next.
      if (i > 0) await delay(batchIntervalMs);
      for (const connection of targets.slice(i, i + batchSize)) {
        if (connection.state === 'connecting' || connection.state === 'connected') void connection.close(code, reason);
      }
    }
    const infos = await outcomes;
    terminated += infos.filter((info) => info.initiator === 'timeout').length;
    return { closed: infos.length - terminated, terminated };
  } finally {
    clearTimeout(deadline);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
