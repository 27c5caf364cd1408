/**
 * A manager's options with their defaults (src/core/constants.ts), checked
 * once at construction: a bad value throws a `RangeError` naming it, and
 * nothing is made.
 */
import { DEFAULTS } from '../core/constants.js';
import { assertDuration, assertNumberOption } from '../core/validation.js';
import type { ConnectionManagerOptions } from './options.js';

/** Every option the defaults cover, filled in. */
export type ManagerSettings = ReturnType<typeof withDefaults>;

function withDefaults(options: ConnectionManagerOptions) {
  return { ...DEFAULTS, ...stripUndefined(options) };
}

/**
 * @param {ConnectionManagerOptions} options As given (an `undefined` value means the default)
 * @returns {ManagerSettings} With defaults
 * @throws {RangeError} If a number or the policy is out of range
 * @throws {TypeError} If `serialize` is not a function
 */
export function managerSettings(options: ConnectionManagerOptions): ManagerSettings {
  const o = withDefaults(options);
  assertDuration('closeTimeoutMs', o.closeTimeoutMs);
  assertDuration('handshakeTimeoutMs', o.handshakeTimeoutMs);
  assertDuration('heartbeatIntervalMs', o.heartbeatIntervalMs, 'off');
  assertNumberOption('maxConnections', o.maxConnections, 1);
  assertNumberOption('maxConnectionsPerUser', o.maxConnectionsPerUser, 1);
  assertNumberOption('maxBufferedBytes', o.maxBufferedBytes, 0);
  assertNumberOption('maxMessagesPerSecond', o.maxMessagesPerSecond, 0);
  assertNumberOption('historyLimit', o.historyLimit, 0);
  assertNumberOption('closedHistoryLimit', o.closedHistoryLimit, 0);
  if (o.backpressurePolicy !== 'reject' && o.backpressurePolicy !== 'close') {
    throw new RangeError(`Invalid option backpressurePolicy: ${String(o.backpressurePolicy)} (expected 'reject' or 'close')`);
  }
  if (options.serialize !== undefined && typeof options.serialize !== 'function') {
    throw new TypeError(`Invalid option serialize: ${typeof options.serialize} (expected a function)`);
  }
  return o;
}

function stripUndefined<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<T>;
}
