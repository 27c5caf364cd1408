/**
 * ws-lifecycle: WebSocket connections with an explicit, auditable
 * lifecycle. Each connection is an XState actor; a send is accepted only in
 * `connected`, and a close moves the actor to `closing` before any I/O.
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
export { SerializationError, serialize } from './serialization.js';
export { isValidCloseCode } from './validation.js';
export { readChart, eventLabel } from './machine-graph.js';
export { AuditVerifier, verifyAudit } from './audit/verify.js';
export type { AuditError, AuditErrorKind, AuditInput, AuditInputRecord, AuditReport, OpenConnection } from './audit/verify.js';
export type { ChartState, ChartTransition } from './machine-graph.js';
export { createInspector } from './inspector/inspector.js';
export type { Inspector, InspectorOptions, InspectorSnapshot } from './inspector/inspector.js';
export {
  ABNORMAL_CLOSURE,
  CONNECTION_STATES,
  connectionMachine
} from '../machines/connection.machine.js';
export type {
  CloseInfo,
  CloseInitiator,
  ConnectionEvent,
  ConnectionMachineInput,
  ConnectionState
} from '../machines/connection.machine.js';
