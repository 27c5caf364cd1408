/**
 * The seam between a manager and whoever measures it (#22): the counts its
 * hot paths cannot leave to events, and the pieces the manager swaps in,
 * once, when it is given a probe. Without one nothing here runs: the host,
 * the delivery and the store are the ones it would have used anyway.
 *
 * `ws-lifecycle/metrics` implements the probe on an OpenTelemetry `Meter`;
 * the runtime never loads it. What events already tell (transitions,
 * closes, session transitions) and what a gauge reads at collection time
 * (`counts`, `sessionSnapshot()`) the probe takes from the manager itself.
 */
import type { Connection } from '../core/connection.js';
import type { ConnectionHost } from '../core/connection-host.js';
import type { SendFailureReason, SendReport } from '../core/send-result.js';
import { SerializationError } from '../core/serialization.js';
import type { SessionHub } from '../sessions/session-hub.js';
import type { SessionProbe } from '../sessions/subscription.js';
import type { SessionRecords, TopicStore } from '../sessions/topic-store.js';
import type { ConnectionManager } from './connection-manager.js';
import type { Delivery } from './delivery.js';
import { FanOut } from './fan-out.js';

/** What the manager times: the calls that hand one message to many. */
export type MeasuredOperation = 'broadcast' | 'send_to_user' | 'publish';

/** The calls of a topic store (and its shared session records) whose failures are counted. */
export type StoreOperation = 'append' | 'position' | 'read_after' | 'forget' | 'session_create' | 'session_get' | 'session_touch' | 'session_accept_send' | 'session_delivered';

/** What a manager tells whoever measures it. One probe serves one manager. */
export interface MetricsProbe extends SessionProbe {
  /** Once, at the end of the manager's constructor: gauges read it from now on, listeners hear its events. */
  observe(manager: ConnectionManager): void;
  /** Messages to plain connections handed to their socket (`count` of them). */
  accepted(count: number): void;
  /** Messages to plain connections refused, all for `reason`. */
  refused(reason: SendFailureReason, count: number): void;
  /** A broadcast, a send to a user or a publish settled after `seconds`; `error` names why a publish stored nothing. */
  operation(name: MeasuredOperation, seconds: number, topic: string | undefined, error: string | undefined): void;
  /** A call to the topic store (or its session records) threw or rejected; the caller handles it as before. */
  storeFailed(operation: StoreOperation, error: unknown): void;
}

/**
 * The connections' host with sends counted. A plain connection's
 * `Connection.send` serializes exactly once, after its state accepted the
 * send, so a message serialized is a send accepted; a `backpressure`
 * refusal comes after that, from the socket, and takes it back in the
 * same synchronous step, before a collection can read the count. The
 * delivery keeps the host without a probe: its report counts each target
 * ({@link probedDelivery}). Session connections are measured by their
 * topics (the probe's session half): their frames are left out here.
 *
 * @param {ConnectionHost} host The host the manager would use without a probe
 * @param {MetricsProbe} probe Where the counts go
 * @param {(connection: Connection) => boolean} isSession Whether a connection speaks the session protocol (for its whole life)
 * @returns {ConnectionHost} The same host with `serialize`, `onRefused` and `onSerializationFailed` counting
 */
export function probedHost(host: ConnectionHost, probe: MetricsProbe, isSession: (connection: Connection) => boolean): ConnectionHost {
  return {
    ...host,
    serialize: (message) => {
      const data = host.serialize(message);
      if (!(data instanceof SerializationError)) probe.accepted(1);
      return data;
    },
    onRefused: (connection, reason) => {
      host.onRefused(connection, reason);
      if (isSession(connection)) return;
      if (reason === 'backpressure') probe.accepted(-1);
      probe.refused(reason, 1);
    },
    onSerializationFailed: (connection, error) => {
      host.onSerializationFailed(connection, error);
      if (connection !== undefined && !isSession(connection)) probe.refused('serialization_failed', 1);
    }
  };
}

/**
 * A delivery whose reports are counted: every target handed the frame is
 * accepted (a write error, `transport_error`, comes after that, as it does
 * for a single send), every other reason a refusal.
 *
 * @param {Delivery} delivery The manager's delivery to plain connections
 * @param {MetricsProbe} probe Where the counts go
 * @returns {Delivery} The same delivery, counted
 */
export function probedDelivery(delivery: Delivery, probe: MetricsProbe): Delivery {
  const count = (report: SendReport): SendReport => {
    const written = report.reasons.transport_error ?? 0;
    probe.accepted(report.sent + written);
    for (const [reason, times] of Object.entries(report.reasons) as Array<[SendFailureReason, number]>) {
      if (reason !== 'transport_error') probe.refused(reason, times);
    }
    return report;
  };
  return { deliver: (audience, message) => delivery.deliver(audience, message).then(count) };
}

/** A fan-out whose broadcasts and sends to a user are timed, from the call to the report. */
export class TimedFanOut extends FanOut {
  readonly #probe: MetricsProbe;

  constructor(delivery: Delivery, sessions: SessionHub, probe: MetricsProbe) {
    super(delivery, sessions);
    this.#probe = probe;
  }

  override broadcast(message: unknown, filter: ((connection: Connection) => boolean) | undefined): Promise<SendReport> {
    return timed(this.#probe, 'broadcast', undefined, performance.now(), super.broadcast(message, filter));
  }

  override toUser(userId: string, message: unknown): Promise<SendReport> {
    return timed(this.#probe, 'send_to_user', undefined, performance.now(), super.toUser(userId, message));
  }
}

/**
 * Time a broadcast, a send to a user or a publish from the call to its
 * settling, and give the result back unchanged.
 *
 * @param {MetricsProbe} probe Where the time goes
 * @param {MeasuredOperation} name Which call
 * @param {string | undefined} topic The topic of a publish
 * @param {number} startedAt `performance.now()` before the call (an argument ahead of `result`: evaluated first)
 * @param {Promise<T>} result What the call returned
 * @returns {Promise<T>} `result`, settled after the time is told
 */
export function timed<T extends SendReport | { ok: boolean; reason?: string; error?: Error }>(
  probe: MetricsProbe,
  name: MeasuredOperation,
  topic: string | undefined,
  startedAt: number,
  result: Promise<T>
): Promise<T> {
  return result.then((value) => {
    probe.operation(name, (performance.now() - startedAt) / 1000, topic, 'ok' in value ? publishError(value) : undefined);
    return value;
  });
}

/** Why a publish stored nothing, as a short name: the store's reason, the serializer's failure, or a bad topic name. */
function publishError(result: { ok: boolean; reason?: string; error?: Error }): string | undefined {
  if (result.ok) return undefined;
  if (result.reason !== undefined) return result.reason;
  return result.error instanceof SerializationError ? 'serialization_failed' : 'invalid_topic';
}

/**
 * The store with its failures counted. Each call is made as it was and
 * its answer handed back as it came: a value at once stays at once (the
 * in-memory store answers synchronously, and the feeds rely on that
 * order), a promise is the same promise, a throw is thrown again.
 *
 * @param {TopicStore} store The store the sessions use
 * @param {MetricsProbe} probe Where failures are told
 * @returns {TopicStore} The same store, watched
 */
export function probedStore(store: TopicStore, probe: MetricsProbe): TopicStore {
  const watch = <R>(operation: StoreOperation, call: () => R): R => {
    let answer: R;
    try {
      answer = call();
    } catch (error) {
      probe.storeFailed(operation, error);
      throw error;
    }
    // Observed, not replaced: the caller still sees the rejection (and handles it) on the promise it got.
    if (answer instanceof Promise) answer.then(undefined, (error: unknown) => probe.storeFailed(operation, error));
    return answer;
  };
  const records = store.sessions;
  const sessions: SessionRecords | undefined =
    records === undefined
      ? undefined
      : {
        create: (...args) => watch('session_create', () => records.create(...args)),
        get: (...args) => watch('session_get', () => records.get(...args)),
        touch: (...args) => watch('session_touch', () => records.touch(...args)),
        acceptSend: (...args) => watch('session_accept_send', () => records.acceptSend(...args)),
        delivered: (...args) => watch('session_delivered', () => records.delivered(...args))
      };
  return {
    append: (...args) => watch('append', () => store.append(...args)),
    position: (...args) => watch('position', () => store.position(...args)),
    readAfter: (...args) => watch('read_after', () => store.readAfter(...args)),
    forget: (...args) => watch('forget', () => store.forget(...args)),
    sessions
  };
}
