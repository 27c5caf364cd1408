/**
 * The options, host and results of a `SessionHub`: its vocabulary, with
 * the defaults and their checks.
 */
import type { Logger } from 'pino';
import type { Connection } from '../core/connection.js';
import type { SendReport } from '../core/send-result.js';
import type { SerializationError, WireData } from '../core/serialization.js';
import { assertDuration, assertNumberOption } from '../core/validation.js';
import type { SessionTransitionRecord } from './session-registry.js';
import type { TopicBroker } from './topic-broker.js';
import type { TopicStore } from './topic-store.js';

/** Options of the manager's `sessions`. */
export interface SessionOptions {
  /** How long a session without connections keeps its history for a resume. Default 120,000 (2 minutes). */
  ttlMs?: number;
  /** Where topic history (and, when shared, session records) is kept. Default: a `MemoryTopicStore` with its default bounds. */
  store?: TopicStore;
  /** How long a session connection may take to send its hello. Default 10,000. */
  helloTimeoutMs?: number;
  /** Fan-out from the other processes of a cluster (with a shared `store`). Without one, this process is the only publisher. */
  broker?: TopicBroker;
  /** Sessions per user (live or detached); past it the user's oldest detached session ends. Default 32. */
  maxSessionsPerUser?: number;
  /** Sessions in this process; past it the oldest detached session ends. Default 100,000. */
  maxSessions?: number;
  /** Sends per connection checked against a shared store at once; past it the connection is not read until they are done. Default 64. */
  maxInFlight?: number;
  /** Frames per second a session connection may send; past it the connection is not read until the second is over. 0: no limit. Default 500. */
  maxFramesPerSecond?: number;
}

export const SESSION_DEFAULTS = Object.freeze({
  ttlMs: 120_000,
  helloTimeoutMs: 10_000,
  maxSessionsPerUser: 32,
  maxSessions: 100_000,
  maxInFlight: 64,
  maxFramesPerSecond: 500
});

/** What `publish` resolves to. */
export interface PublishResult {
  /** `false` when the topic is not a valid name, the message could not be serialized, or the store did not take it; nothing was stored. */
  ok: boolean;
  topic: string;
  epoch: string;
  /** The message's offset (the topic's last offset, or 0 when unknown, when `ok` is false). */
  offset: number;
  /** The live delivery to the topic's connections of this process. */
  report: SendReport;
  /** Why not: a `RangeError` naming the topic (a `TypeError` when it holds an unpaired surrogate), the `SerializationError`, or the store's error (`reason: 'store_unavailable'`). */
  error?: SerializationError | RangeError | TypeError | Error;
  /** `store_unavailable` when the store could not be reached; `invalid_topic` when the topic is not a valid name. */
  reason?: 'store_unavailable' | 'invalid_topic';
}

/** What a hub holds at one moment (`manager.sessionSnapshot()`). */
export interface SessionSnapshot {
  sessions: { attached: number; detached: number };
  /** The busiest topics held here: where each stands (unknown while its store position is not read yet) and how many connections follow it. */
  topics: Array<{ topic: string; epoch: string | undefined; offset: number | undefined; connections: number }>;
  /** Topics held here in all (`topics` may list fewer). */
  heldTopics: number;
}

/** What the hub needs from its manager. */
export interface SessionHost {
  readonly logger: Logger;
  readonly audit: Logger;
  /** The manager's serializer: topic messages that are neither text nor bytes go through it. */
  serialize(message: unknown): WireData | SerializationError;
  /** A connection whose socket holds fewer bytes than half of this is written to again after falling behind. */
  readonly maxBufferedBytes: number;
  /** The server's ping interval, told to clients in `welcome`. */
  readonly heartbeatIntervalMs: number;
  /** An application message arrived on a session connection (decoded, delivered once). */
  onMessage(connection: Connection, data: unknown): void;
  onTransition(record: SessionTransitionRecord): void;
}

/**
 * @param {SessionOptions} options As given (a value that is not a number means the default)
 * @returns The numeric options with their defaults
 * @throws {RangeError} Naming the option and its value when one is out of range
 */
export function sessionSettings(options: SessionOptions): typeof SESSION_DEFAULTS {
  const o = { ...SESSION_DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined && typeof value !== 'object')) };
  for (const name of ['ttlMs', 'helloTimeoutMs'] as const) assertDuration(`sessions.${name}`, o[name]);
  for (const name of ['maxSessionsPerUser', 'maxSessions', 'maxInFlight'] as const) assertNumberOption(`sessions.${name}`, o[name], 1);
  assertNumberOption('sessions.maxFramesPerSecond', o.maxFramesPerSecond, 0);
  return o;
}
