/**
 * What a connection and its owner exchange: the audit record of a
 * transition, the callbacks one owner object gives every connection, and
 * what `_transmit` reports; how a transition record is made and told.
 */
import type { CloseInfo, ConnectionContext, ConnectionEvent, ConnectionMachineInput, ConnectionState } from '../../machines/connection.machine.js';
import { eventLabel } from './machine-graph.js';
import type { Connection } from './connection.js';
import type { SendFailureReason } from './send-result.js';
import type { SerializationError, WireData } from './serialization.js';

/** One audit record: a change of state of one connection. */
export interface TransitionRecord {
  connectionId: string;
  userId: string | undefined;
  /** 1 for the connection's first transition, then +1 each. */
  seq: number;
  from: ConnectionState;
  to: ConnectionState;
  /** The event that caused it, e.g. `OPENED`, `CLOSE`, `after closeTimeout`. */
  event: string;
  /** When it happened, in milliseconds since the epoch. */
  at: number;
  /** Set when `to` is `closing` or `closed`. */
  code?: number | null;
  reason?: string;
  initiator?: string | null;
}

/** What a connection needs from its owner; one object per manager serves them all. */
export interface ConnectionHost {
  readonly maxBufferedBytes: number;
  readonly backpressurePolicy: 'reject' | 'close';
  readonly maxMessagesPerSecond: number;
  /** The manager's serializer; never throws. */
  serialize(message: unknown): WireData | SerializationError;
  onTransition(connection: Connection, record: TransitionRecord): void;
  onClosed(connection: Connection, info: CloseInfo): void;
  onOpen(connection: Connection): void;
  onMessage(connection: Connection, data: string | Buffer, isBinary: boolean): void;
  onRefused(connection: Connection, reason: SendFailureReason): void;
  onSerializationFailed(connection: Connection | undefined, error: SerializationError): void;
  onTransportError(connection: Connection, error: Error): void;
  onEventIgnored(connection: Connection, event: ConnectionEvent['type']): void;
  /** `onTransition` or `onClosed` threw: the connection went on (its state and `closed` are settled); report it. */
  onCallbackFailed(connection: Connection, callback: 'onTransition' | 'onClosed', error: unknown): void;
}

/** Options for creating a {@link Connection}; the manager fills them in. */
export interface ConnectionInit {
  id: string;
  userId: string | undefined;
  metadata: Record<string, unknown> | undefined;
  timing: ConnectionMachineInput;
}

/** What {@link Connection._transmit} returns when the kernel took the whole frame before it returned. */
export const WRITTEN = 'written';
/** A refusal, {@link WRITTEN}, or `undefined`: the write callback will report. */
export type TransmitOutcome = SendFailureReason | typeof WRITTEN | undefined;

/**
 * The audit record of a connection entering `to`: with the close code,
 * reason and initiator once it is `closing` or `closed`.
 */
export function transitionRecord(
  connection: { readonly id: string; readonly userId: string | undefined },
  seq: number,
  from: ConnectionState,
  to: ConnectionState,
  eventType: string,
  context: ConnectionContext
): TransitionRecord {
  const event = eventLabel(eventType);
  const record: TransitionRecord = { connectionId: connection.id, userId: connection.userId, seq, from, to, event, at: Date.now() };
  if (to === 'closing' || to === 'closed') {
    record.code = context.code;
    record.reason = context.reason;
    record.initiator = context.initiator;
  }
  return record;
}

/**
 * Tell the host of the transitions of the actor's step just done. Never
 * from inside the step: what a listener does then (a `close()` from a
 * `transition` listener) takes effect before it returns instead of being
 * queued behind the step, and a throw (a logger on a full disk) cannot
 * stop the actor and strand the connection. A throw is the host's to
 * report; the lifecycle goes on.
 */
export function tellHost(host: ConnectionHost, connection: Connection, records: readonly TransitionRecord[], closeInfo: CloseInfo | undefined): void {
  for (const record of records) {
    try {
      host.onTransition(connection, record);
    } catch (error) {
      host.onCallbackFailed(connection, 'onTransition', error);
    }
    if (record.to !== 'closed') continue;
    try {
      host.onClosed(connection, closeInfo!);
    } catch (error) {
      host.onCallbackFailed(connection, 'onClosed', error);
    }
  }
}
