/**
 * `ws-lifecycle/metrics` (#22): a manager's lifecycle on the OpenTelemetry
 * metrics API. The application brings the `Meter` (`metrics.getMeter(...)`
 * from `@opentelemetry/api`, an optional peer) and chooses the SDK and the
 * exporter; this module loads neither, only the API's types.
 *
 * Where OpenTelemetry has a convention it is followed (SignalR's server
 * metrics: connections counted up and down, a connection's duration in
 * seconds with how it closed; messaging's `sent.messages` with `error.type`
 * on a failure); the rest is named after what this module is. The hot path
 * (a send) only adds to a number; counts are read when the exporter
 * collects. See docs/metrics.md for each metric and what to alert on.
 *
 * ```ts
 * const manager = new ConnectionManager({ metrics: new LifecycleMetrics(metrics.getMeter('ws-lifecycle')) });
 * ```
 */
import type { Attributes, Counter, Histogram, Meter } from '@opentelemetry/api';
import { NODE_STATES, type NodeState } from '../../machines/node.machine.js';
import type { CloseInfo } from '../../machines/connection.machine.js';
import type { Connection } from '../core/connection.js';
import type { SendFailureReason } from '../core/send-result.js';
import type { ConnectionManager } from '../manager/connection-manager.js';
import type { MeasuredOperation, MetricsProbe, StoreOperation } from '../manager/metrics-probe.js';
import type { RecoveryFailure } from '../protocol/session-protocol.js';
import type { SessionTransitionRecord } from '../sessions/session-registry.js';
import type { TopicMessage } from '../sessions/topic-store.js';
import { ATTRIBUTES, CONNECTION_BUCKETS, FAST_BUCKETS, METRIC_NAMES, closeCodeClass, errorType } from './attributes.js';

export { ATTRIBUTES, METRIC_NAMES, closeCodeClass } from './attributes.js';
export type { MetricsProbe } from '../manager/metrics-probe.js';

export interface LifecycleMetricsOptions {
  /**
   * Topics measured by name (`ws_lifecycle.topic` on publish durations,
   * recoveries and delivery lag). Any other topic is counted without its
   * name: topic names are the application's, and may be per user.
   */
  topics?: Iterable<string>;
  /**
   * A cluster node (`RedisCluster` from `ws-lifecycle/redis`): its state is
   * exported as `ws_lifecycle.node.state`, and the errors its Redis
   * connections reported (store and broker) as `ws_lifecycle.redis.errors`.
   */
  cluster?: { readonly state: NodeState; readonly redisErrors?: number };
}

const NO_ATTRIBUTES: Attributes = Object.freeze({});
const LIVE_STATES = ['connecting', 'connected', 'closing'] as const;
/**
 * Messages remembered at most on either side of the match between a
 * publish and its first live write (one no connection takes live, or one
 * another node published, is forgotten oldest first).
 */
const MAX_UNMATCHED = 10_000;

/** Remember `value` under `key`, forgetting the oldest entry past {@link MAX_UNMATCHED}. */
function remember(map: Map<string, number>, key: string, value: number): void {
  if (map.size >= MAX_UNMATCHED) map.delete(map.keys().next().value!);
  map.set(key, value);
}

/** A message's place, the same for this node's copy and the broker's: the epoch is an id without spaces, the offset a number. */
function positionKey(message: TopicMessage): string {
  return `${message.epoch} ${message.offset} ${message.topic}`;
}

/**
 * The probe a manager is given as its `metrics` option. One per manager:
 * it reads that manager's counts when the exporter collects.
 */
export class LifecycleMetrics implements MetricsProbe {
  readonly #meter: Meter;
  readonly #topics: ReadonlyMap<string, Attributes>;
  readonly #cluster: { readonly state: NodeState; readonly redisErrors?: number } | undefined;
  #manager: ConnectionManager | undefined;

  readonly #connectionDuration: Histogram;
  readonly #operationDuration: Histogram;
  readonly #deliveryLag: Histogram;
  readonly #recoveries: Counter;
  readonly #sessionTransitions: Counter;
  readonly #storeErrors: Counter;

  /** Sends to plain connections handed to their socket, and refused by reason: numbers on the hot path, read at collection. */
  #accepted = 0;
  readonly #refused = new Map<SendFailureReason, number>();
  /** When each live connection was accepted (`performance.now()`), for its duration. */
  readonly #openedAt = new WeakMap<Connection, number>();
  /**
   * When the publish of each message this node stored began, by its place
   * in the topic, until its first live write here: in a cluster the copy
   * written may be the broker's, not the one the publish made.
   */
  readonly #publishedAt = new Map<string, number>();
  /** When a message was first written live before its publish here was known: the broker's copy came before the store's answer. */
  readonly #writtenAt = new Map<string, number>();
  /** The message written last: the rest of its fan-out is skipped without building its key again. */
  #lastDelivered: TopicMessage | undefined;
  readonly #operationAttributes: Record<MeasuredOperation, Attributes> = {
    broadcast: Object.freeze({ [ATTRIBUTES.operation]: 'broadcast' }),
    send_to_user: Object.freeze({ [ATTRIBUTES.operation]: 'send_to_user' }),
    publish: Object.freeze({ [ATTRIBUTES.operation]: 'publish' })
  };

  /**
   * @param {Meter} meter Where the instruments are made, e.g. `metrics.getMeter('ws-lifecycle')`
   * @param {LifecycleMetricsOptions} [options] Topics measured by name, the cluster node
   * @throws {TypeError} If `meter` is not a Meter, or a topic is not a string
   */
  constructor(meter: Meter, options: LifecycleMetricsOptions = {}) {
    if (typeof meter?.createHistogram !== 'function') {
      throw new TypeError(`LifecycleMetrics needs an OpenTelemetry Meter (metrics.getMeter(name) from @opentelemetry/api), got ${typeof meter}`);
    }
    this.#meter = meter;
    const topics = new Map<string, Attributes>();
    for (const topic of options.topics ?? []) {
      if (typeof topic !== 'string') throw new TypeError(`LifecycleMetrics: topics must be strings, got ${JSON.stringify(topic)}`);
      topics.set(topic, Object.freeze({ [ATTRIBUTES.topic]: topic }));
    }
    this.#topics = topics;
    this.#cluster = options.cluster;
    this.#connectionDuration = meter.createHistogram(METRIC_NAMES.connectionDuration, {
      description: 'How long connections lasted, from accept to closed, by who closed and the close code',
      unit: 's',
      advice: { explicitBucketBoundaries: [...CONNECTION_BUCKETS] }
    });
    this.#operationDuration = meter.createHistogram(METRIC_NAMES.operationDuration, {
      description: 'Broadcasts, sends to a user and publishes, from the call until every local write is reported',
      unit: 's',
      advice: { explicitBucketBoundaries: [...FAST_BUCKETS] }
    });
    this.#deliveryLag = meter.createHistogram(METRIC_NAMES.deliveryLag, {
      description: 'From the publish of a topic message on this node to its first write to a connection',
      unit: 's',
      advice: { explicitBucketBoundaries: [...FAST_BUCKETS] }
    });
    this.#recoveries = meter.createCounter(METRIC_NAMES.recoveries, {
      description: 'What session connections were told of their place in a topic: recovered, or why not',
      unit: '{recovery}'
    });
    this.#sessionTransitions = meter.createCounter(METRIC_NAMES.sessionTransitions, {
      description: 'Sessions detached (their last connection closed), attached again (a resume) and expired',
      unit: '{transition}'
    });
    this.#storeErrors = meter.createCounter(METRIC_NAMES.storeErrors, {
      description: 'Calls to the topic store or its session records that failed',
      unit: '{error}'
    });
  }

  /** Called by the manager once, at the end of its constructor. */
  observe(manager: ConnectionManager): void {
    if (this.#manager !== undefined) {
      throw new Error('This LifecycleMetrics already measures a ConnectionManager: make one per manager');
    }
    this.#manager = manager;
    manager.on('connection', (connection) => this.#openedAt.set(connection, performance.now()));
    manager.on('close', (connection, info) => this.#closed(connection, info));
    manager.on('sessionTransition', (record) => this.#sessionTransition(record));
    this.#observeGauges(manager);
  }

  accepted(count: number): void {
    this.#accepted += count;
  }

  refused(reason: SendFailureReason, count: number): void {
    this.#refused.set(reason, (this.#refused.get(reason) ?? 0) + count);
  }

  operation(name: MeasuredOperation, seconds: number, topic: string | undefined, error: string | undefined): void {
    const named = topic === undefined ? undefined : this.#topics.get(topic);
    const attributes =
      named === undefined && error === undefined
        ? this.#operationAttributes[name]
        : { ...this.#operationAttributes[name], ...named, ...(error === undefined ? undefined : { [ATTRIBUTES.errorType]: error }) };
    this.#operationDuration.record(seconds, attributes);
  }

  storeFailed(operation: StoreOperation, error: unknown): void {
    this.#storeErrors.add(1, { [ATTRIBUTES.storeOperation]: operation, [ATTRIBUTES.errorType]: errorType(error) });
  }

  recovery(topic: string, result: 'recovered' | RecoveryFailure): void {
    this.#recoveries.add(1, { ...this.#topics.get(topic), [ATTRIBUTES.recoveryResult]: result });
  }

  published(message: TopicMessage, startedAt: number): void {
    const key = positionKey(message);
    const writtenAt = this.#writtenAt.get(key);
    if (writtenAt === undefined) return remember(this.#publishedAt, key, startedAt);
    this.#writtenAt.delete(key);
    this.#lag(message, writtenAt - startedAt);
  }

  delivered(message: TopicMessage): void {
    // Once per message, at its first write: the rest of this node's fan-out follows in the same turn.
    if (message === this.#lastDelivered) return;
    this.#lastDelivered = message;
    const now = performance.now();
    const key = positionKey(message);
    const startedAt = this.#publishedAt.get(key);
    if (startedAt === undefined) return remember(this.#writtenAt, key, now);
    this.#publishedAt.delete(key);
    this.#lag(message, now - startedAt);
  }

  #lag(message: TopicMessage, ms: number): void {
    this.#deliveryLag.record(ms / 1000, this.#topics.get(message.topic) ?? NO_ATTRIBUTES);
  }

  #closed(connection: Connection, info: CloseInfo): void {
    const now = performance.now();
    // A connection closed before the manager announced it (refused at once) lasted no time.
    const seconds = (now - (this.#openedAt.get(connection) ?? now)) / 1000;
    this.#connectionDuration.record(seconds, {
      [ATTRIBUTES.closeInitiator]: info.initiator,
      [ATTRIBUTES.closeCode]: closeCodeClass(info.code)
    });
  }

  #sessionTransition(record: SessionTransitionRecord): void {
    this.#sessionTransitions.add(1, { [ATTRIBUTES.sessionFrom]: record.from, [ATTRIBUTES.sessionState]: record.to });
  }

  /** What is read when the exporter collects: nothing of it costs a connection or a send anything. */
  #observeGauges(manager: ConnectionManager): void {
    const meter = this.#meter;
    meter
      .createObservableUpDownCounter(METRIC_NAMES.connectionCount, { description: 'Live connections by state', unit: '{connection}' })
      .addCallback((result) => {
        const counts = manager.counts;
        for (const state of LIVE_STATES) result.observe(counts[state], { [ATTRIBUTES.connectionState]: state });
      });
    meter
      .createObservableCounter(METRIC_NAMES.sentMessages, {
        description: 'Messages sent to plain connections: handed to the socket, or refused (error.type says why)',
        unit: '{message}'
      })
      .addCallback((result) => {
        result.observe(this.#accepted, NO_ATTRIBUTES);
        for (const [reason, count] of this.#refused) result.observe(count, { [ATTRIBUTES.errorType]: reason });
      });
    meter
      .createObservableUpDownCounter(METRIC_NAMES.sessionCount, { description: 'Sessions by state', unit: '{session}' })
      .addCallback((result) => {
        const { attached, detached } = manager.sessionSnapshot(0).sessions;
        result.observe(attached, { [ATTRIBUTES.sessionState]: 'attached' });
        result.observe(detached, { [ATTRIBUTES.sessionState]: 'detached' });
      });
    meter
      .createObservableCounter(METRIC_NAMES.logDropped, {
        description: 'Log and audit records dropped because the logger or the audit target threw',
        unit: '{record}'
      })
      .addCallback((result) => result.observe(manager.logFailures, NO_ATTRIBUTES));
    const cluster = this.#cluster;
    if (cluster === undefined) return;
    meter
      .createObservableUpDownCounter(METRIC_NAMES.nodeState, { description: "The cluster node's state: 1 for the one it is in", unit: '{node}' })
      .addCallback((result) => {
        const current = cluster.state;
        for (const state of NODE_STATES) result.observe(state === current ? 1 : 0, { [ATTRIBUTES.nodeState]: state });
      });
    if (cluster.redisErrors === undefined) return;
    meter
      .createObservableCounter(METRIC_NAMES.redisErrors, {
        description: "Errors the cluster node's Redis connections reported (the store's commands and the broker's subscriptions)",
        unit: '{error}'
      })
      .addCallback((result) => result.observe(cluster.redisErrors ?? 0, NO_ATTRIBUTES));
  }
}
