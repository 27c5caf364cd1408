/** Defaults and close codes, decided once here so every module agrees. */

/** Default options of a {@link ConnectionManager}. */
export const DEFAULTS = Object.freeze({
  closeTimeoutMs: 5_000,
  handshakeTimeoutMs: 10_000,
  heartbeatIntervalMs: 30_000,
  maxConnections: Infinity,
  maxConnectionsPerUser: Infinity,
  maxBufferedBytes: 8 * 1024 * 1024,
  backpressurePolicy: 'reject' as const,
  maxMessagesPerSecond: 0,
  historyLimit: 32,
  closedHistoryLimit: 256,
  shutdownCode: 1001,
  shutdownReason: 'server shutting down',
  shutdownTimeoutMs: 10_000,
  shutdownBatchSize: Infinity,
  shutdownBatchIntervalMs: 0,
  /** How long `identify` may take before an upgrade is refused with 503 (`attach` and the adapters). */
  identifyTimeoutMs: 10_000
});

/** Close codes this package sends on its own, with the reason it gives. */
export const CLOSE_CODES = Object.freeze({
  /** `shutdown()` closes every connection with this. */
  GOING_AWAY: 1001,
  /** The `authenticate` hook refused or threw; or the user is over `maxConnectionsPerUser`. */
  POLICY_VIOLATION: 1008,
  /** Inbound messages over `maxMessagesPerSecond`. */
  RATE_LIMITED: 1008,
  /** Over `maxConnections`, or a new connection while shutting down. */
  TRY_AGAIN_LATER: 1013,
  /** `backpressurePolicy: 'close'` and `bufferedAmount` at `maxBufferedBytes`. */
  BACKPRESSURE: 1013
});
