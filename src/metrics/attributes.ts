/**
 * The names `ws-lifecycle/metrics` exports, and the bounded values its
 * attributes take (#22). Every attribute has a known, small set of values:
 * no user id, session id, connection id or topic name the application did
 * not list, whose numbers grow without bound.
 */
import { SESSION_CLOSE_CODES } from '../protocol/session-protocol.js';

/** Each instrument's name, as OpenTelemetry names it (Prometheus: dots to underscores, the unit and `_total` appended). */
export const METRIC_NAMES = Object.freeze({
  connectionCount: 'ws_lifecycle.connection.count',
  connectionDuration: 'ws_lifecycle.connection.duration',
  sentMessages: 'ws_lifecycle.sent.messages',
  operationDuration: 'ws_lifecycle.operation.duration',
  recoveries: 'ws_lifecycle.topic.recoveries',
  sessionCount: 'ws_lifecycle.session.count',
  sessionTransitions: 'ws_lifecycle.session.transitions',
  deliveryLag: 'ws_lifecycle.delivery.lag',
  storeErrors: 'ws_lifecycle.store.errors',
  logDropped: 'ws_lifecycle.log.dropped',
  nodeState: 'ws_lifecycle.node.state',
  redisErrors: 'ws_lifecycle.redis.errors'
});

/** Attribute keys. `error.type` is OpenTelemetry's own; the rest are named after this module. */
export const ATTRIBUTES = Object.freeze({
  connectionState: 'ws_lifecycle.connection.state',
  closeInitiator: 'ws_lifecycle.close.initiator',
  closeCode: 'ws_lifecycle.close.code',
  errorType: 'error.type',
  operation: 'ws_lifecycle.operation.name',
  topic: 'ws_lifecycle.topic',
  recoveryResult: 'ws_lifecycle.recovery.result',
  sessionState: 'ws_lifecycle.session.state',
  sessionFrom: 'ws_lifecycle.session.from',
  storeOperation: 'ws_lifecycle.store.operation',
  nodeState: 'ws_lifecycle.node.state'
});

/** Durations of a connection: SignalR's boundaries for `signalr.server.connection.duration` (10 ms to 5 minutes). */
export const CONNECTION_BUCKETS: readonly number[] = Object.freeze([0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300]);
/** Durations of a broadcast or a publish, and delivery lag: half a millisecond (one in-memory fan-out) to 10 s (a store that stalls). */
export const FAST_BUCKETS: readonly number[] = Object.freeze([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);

/** The codes RFC 6455 registers (1000-1015) and the session protocol's own: each is told by its number. */
const NAMED_CODES: ReadonlySet<number> = new Set([...Array.from({ length: 16 }, (_, i) => 1000 + i), ...Object.values(SESSION_CLOSE_CODES)]);

/**
 * A close code as an attribute value: the code itself when RFC 6455 or the
 * session protocol defines it, else its range (`3xxx` registered by
 * libraries, `4xxx` chosen by the application), so an application that
 * closes with many private codes still adds at most two values.
 *
 * @param {number} code The close code a connection ended with
 * @returns {string} E.g. `1000`, `4403`, `4xxx`
 */
export function closeCodeClass(code: number): string {
  if (NAMED_CODES.has(code)) return String(code);
  if (code >= 3000 && code <= 3999) return '3xxx';
  if (code >= 4000 && code <= 4999) return '4xxx';
  return 'other';
}

/**
 * What OpenTelemetry's `error.type` holds for an exception: its class name
 * (`ErrorReply`, `TypeError`...), a set as small as the kinds of failure.
 *
 * @param {unknown} error What a store threw or rejected with
 * @returns {string} The class name, or `_OTHER` when it is not an Error
 */
export function errorType(error: unknown): string {
  if (!(error instanceof Error)) return '_OTHER';
  const name = error.constructor.name;
  return name === '' ? error.name : name;
}
