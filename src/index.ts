/**
 * ws-lifecycle: WebSocket connections with an explicit, auditable
 * lifecycle. Each connection is an XState actor; a send is accepted only in
 * `connected`, and a close moves the actor to `closing` before any I/O.
 *
 * This entry loads what a server needs (xstate, ws, pino) and nothing
 * else. The tools are subpath exports: `ws-lifecycle/machine`,
 * `ws-lifecycle/audit`, `ws-lifecycle/charts`, `ws-lifecycle/inspector`,
 * `ws-lifecycle/client` and the framework adapters.
 */
export { ConnectionManager } from './manager/connection-manager.js';
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
} from './manager/connection-manager.js';
export { Connection } from './core/connection.js';
export type { TransitionRecord } from './core/connection-host.js';
export type { StateCounts } from './core/connection-registry.js';
export type { AllowedOrigins, ClientAddress, UpgradeOptions } from './manager/upgrade-gate.js';
export { CLOSE_CODES, DEFAULTS } from './core/constants.js';
export type { AuditTarget } from './core/logging.js';
export { SEND_FAILURE_REASONS } from './core/send-result.js';
export type { SendFailureReason, SendReport, SendResult } from './core/send-result.js';
export { SerializationError, serialize as defaultSerialize } from './core/serialization.js';
export type { Serializer, WireData } from './core/serialization.js';
export { isValidCloseCode } from './core/validation.js';
export { ABNORMAL_CLOSURE, CONNECTION_STATES } from '../machines/connection.machine.js';
export type { CloseInfo, CloseInitiator, ConnectionState } from '../machines/connection.machine.js';
export { BROADCAST_TOPIC, MAX_SESSION_USER_ID_LENGTH, SESSION_DEFAULTS, userTopic } from './sessions/session-hub.js';
export type { PublishResult, SessionOptions, SessionSnapshot, SessionTransitionRecord } from './sessions/session-hub.js';
export { sessionIdOf } from './sessions/session-registry.js';
export type { SendVerdict } from './sessions/client-sends.js';
export { MEMORY_STORE_DEFAULTS, MemoryTopicStore } from './sessions/topic-store.js';
export type { MemoryTopicStoreOptions, TopicEntry, TopicPosition, TopicRead, TopicStore } from './sessions/topic-store.js';
export { FINAL_CLOSE_CODES, PROTOCOL_VERSION, SESSION_CLOSE_CODES, SESSION_PROTOCOL } from './protocol/session-protocol.js';
export type { ClientFrame, ProtocolLimits, ServerFrame, TopicCursor, RecoveryFailure } from './protocol/session-protocol.js';
export { SESSION_STATES } from '../machines/session.machine.js';
export type { SessionState } from '../machines/session.machine.js';
export type { Cluster, ClusterCounts, Presence, PresenceSource, UserPresence } from './manager/cluster.js';
export type { BrokerListener, TopicBroker } from './sessions/topic-broker.js';
export type { SessionRecord, SessionRecords, TopicMessage } from './sessions/topic-store.js';
