/**
 * ws-lifecycle: WebSocket connections with an explicit, auditable
 * lifecycle. Each connection is an XState actor; a send is accepted only in
 * `connected`, and a close moves the actor to `closing` before any I/O.
 *
 * This entry loads what a server needs (xstate, ws, pino) and nothing
 * else. The tools are subpath exports: `ws-lifecycle/machine`,
 * `ws-lifecycle/audit`, `ws-lifecycle/charts`, `ws-lifecycle/inspector`.
 */
export { ConnectionManager } from './connection-manager.js';
export type {
  AcceptOptions,
  AttachOptions,
  AuthenticateRequest,
  AuthenticateResult,
  ConnectOptions,
  ConnectionManagerEvents,
  ConnectionManagerOptions,
  ShutdownOptions,
  ShutdownReport
} from './connection-manager.js';
export { Connection } from './connection.js';
export type { TransitionRecord } from './connection.js';
export type { StateCounts } from './connection-registry.js';
export { CLOSE_CODES, DEFAULTS } from './constants.js';
export type { AuditTarget } from './logging.js';
export { SEND_FAILURE_REASONS } from './send-result.js';
export type { SendFailureReason, SendReport, SendResult } from './send-result.js';
export { SerializationError, serialize as defaultSerialize } from './serialization.js';
export type { Serializer, WireData } from './serialization.js';
export { isValidCloseCode } from './validation.js';
export { ABNORMAL_CLOSURE, CONNECTION_STATES } from '../machines/connection.machine.js';
export type { CloseInfo, CloseInitiator, ConnectionState } from '../machines/connection.machine.js';
