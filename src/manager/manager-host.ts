/**
 * The host every connection of a manager calls back (`ConnectionHost`):
 * the manager's own steps (a transition, a close, an opened socket, an
 * inbound message) are handed in; what the manager only logs or counts
 * (a refused send, a serializer that failed, a transport error, an event
 * the machine ignored, a callback that threw) is done here.
 */
import type { Logger } from 'pino';
import type { CloseInfo } from '../../machines/connection.machine.js';
import type { Connection } from '../core/connection.js';
import type { ConnectionHost, TransitionRecord } from '../core/connection-host.js';
import { logSafely } from '../core/logging.js';
import type { SerializationError, WireData } from '../core/serialization.js';

/** What only the manager can do when a connection calls back. */
export interface ManagerSteps {
  readonly onTransition: (connection: Connection, record: TransitionRecord) => void;
  readonly onClosed: (connection: Connection, info: CloseInfo) => void;
  readonly onOpen: (connection: Connection) => void;
  readonly onMessage: (connection: Connection, data: string | Buffer, isBinary: boolean) => void;
}

/** The numbers a connection's host keeps for the manager to show. */
export interface HostCounts {
  /** Events the machine would have ignored (for example a pong while closing). */
  ignoredEvents: number;
}

/**
 * @param {object} settings The send bounds and the manager's serializer (which never throws)
 * @param {ManagerSteps} steps The manager's own steps
 * @param {{ logger: Logger, audit: Logger }} logs Where the application log and the audit trail go
 * @param {HostCounts} counts Moved here as they happen
 * @returns {ConnectionHost} One host for every connection of the manager
 */
export function managerHost(
  settings: {
    maxBufferedBytes: number;
    backpressurePolicy: 'reject' | 'close';
    maxMessagesPerSecond: number;
    serialize: (message: unknown) => WireData | SerializationError;
  },
  steps: ManagerSteps,
  logs: { logger: Logger; audit: Logger },
  counts: HostCounts
): ConnectionHost {
  const { logger, audit } = logs;
  return {
    maxBufferedBytes: settings.maxBufferedBytes,
    backpressurePolicy: settings.backpressurePolicy,
    maxMessagesPerSecond: settings.maxMessagesPerSecond,
    serialize: settings.serialize,
    onTransition: steps.onTransition,
    onClosed: steps.onClosed,
    onOpen: steps.onOpen,
    onMessage: steps.onMessage,
    onRefused: (connection, reason) => {
      if (audit.isLevelEnabled('debug')) {
        logSafely(audit, 'debug', { connectionId: connection.id, userId: connection.userId, state: connection.state, reason }, 'send refused');
      }
    },
    onSerializationFailed: (connection, error) =>
      logSafely(logger, 'error', { connectionId: connection?.id, userId: connection?.userId, err: error }, 'message not serializable'),
    onTransportError: (connection, error) => logSafely(logger, 'warn', { connectionId: connection.id, userId: connection.userId, err: error }, 'transport error'),
    onEventIgnored: (connection, event) => {
      counts.ignoredEvents++;
      if (logger.isLevelEnabled('debug')) {
        logSafely(logger, 'debug', { connectionId: connection.id, userId: connection.userId, state: connection.state, event }, 'event ignored');
      }
    },
    onCallbackFailed: (connection, callback, error) =>
      logSafely(logger, 'error', { connectionId: connection.id, userId: connection.userId, err: error }, `${callback} threw; the connection went on`)
  };
}
