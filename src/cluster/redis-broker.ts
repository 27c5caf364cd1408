/**
 * The Redis broker (#12, #23): how a node hears every topic of its prefix.
 * The store's append script publishes each message on its topic's
 * partition channel in the same step that numbers it, so per topic the
 * messages arrive in offset order. On one server (or behind Sentinel) one
 * pattern subscription covers every partition; on Redis Cluster sharded
 * pub/sub has no patterns, so the node subscribes to each partition's
 * shard channel, on the shard that owns it.
 *
 * A subscription that was cut off (Redis restarted, a failover, a slot
 * moved to another shard) misses what was published meanwhile. Before
 * telling its listener to resync (read the gap from the streams), the
 * broker publishes a probe on every partition channel and waits to hear
 * each back: only then is every subscription live again, so nothing
 * published after the read can be missed.
 *
 * Message format: `<topic bytes>:<topic><epoch>\n<offset>\n<kind><payload>`,
 * kind `s` (text) or `b` (bytes); a probe is `0:<token>`.
 */
import { randomUUID } from 'node:crypto';
import type { BrokerListener, TopicBroker } from '../sessions/topic-broker.js';
import type { TopicMessage } from '../sessions/topic-store.js';
import { PARTITIONS, partitionTag } from './redis-slots.js';
import type { RedisCommander } from './redis-store.js';

type BufferListener = (message: Buffer, channel: Buffer) => void;

/** The part of a node-redis client (or Sentinel or cluster client) in subscriber mode the broker uses. */
export interface RedisSubscriber {
  pSubscribe(pattern: string, listener: BufferListener, bufferMode: true): Promise<unknown>;
  pUnsubscribe(pattern: string): Promise<unknown>;
  /** Sharded pub/sub (Redis Cluster). */
  sSubscribe?(channel: string, listener: BufferListener, bufferMode: true): Promise<unknown>;
  sUnsubscribe?(channel: string): Promise<unknown>;
}

export interface RedisBrokerOptions {
  /** The store's prefix. */
  prefix: string;
  /** One shard channel per partition (Redis Cluster) instead of one pattern. Default false. */
  sharded?: boolean;
  /** Where probes are published (the commands client); without it a resync does not wait for them. */
  publisher?: RedisCommander;
}

const NEWLINE = 0x0a;
const COLON = 0x3a;
/** How long a round of probes may take before the resync goes ahead anyway (and another round follows). */
const PROBE_MS = 1_000;
const PROBE_ROUNDS = 5;

/** What a partition channel carries: a topic message, a probe, or nothing valid. */
export type BrokerFrame = { kind: 'message'; message: TopicMessage } | { kind: 'probe'; token: string };

/**
 * @param {string} prefix The store's prefix
 * @param {Buffer} channel The channel a message came on
 * @param {Buffer} data Its body
 * @returns {BrokerFrame | undefined} The message or probe, or undefined for anything malformed
 */
export function parseBrokerMessage(prefix: string, channel: Buffer, data: Buffer): BrokerFrame | undefined {
  if (!channel.toString('utf8').startsWith(`${prefix}:c:`)) return undefined;
  const colon = data.indexOf(COLON);
  const length = colon < 1 || colon > 10 ? Number.NaN : Number(data.toString('latin1', 0, colon));
  if (!Number.isSafeInteger(length) || length < 0 || colon + 1 + length > data.length) return undefined;
  const start = colon + 1 + length;
  if (length === 0) return { kind: 'probe', token: data.toString('latin1', start) };
  const first = data.indexOf(NEWLINE, start);
  const second = first < 0 ? -1 : data.indexOf(NEWLINE, first + 1);
  if (second < 0 || second + 1 >= data.length) return undefined;
  const offset = Number(data.toString('latin1', first + 1, second));
  if (!Number.isSafeInteger(offset) || offset < 1) return undefined;
  const kind = data[second + 1];
  const body = data.subarray(second + 2);
  return {
    kind: 'message',
    message: {
      topic: data.toString('utf8', colon + 1, start),
      epoch: data.toString('utf8', start, first),
      offset,
      // `s`: text as it was stored; `b`: bytes, copied out of the reply buffer.
      payload: kind === 0x73 ? body.toString('utf8') : Buffer.from(body)
    }
  };
}

export class RedisBroker implements TopicBroker {
  readonly #subscriber: RedisSubscriber;
  readonly #prefix: string;
  readonly #sharded: boolean;
  readonly #publisher: RedisCommander | undefined;
  readonly #probes = new Map<string, () => void>();
  #listener: BrokerListener | undefined;
  #subscribed = false;
  /** The resync under way, if any; a second request while it runs starts one more after it. */
  #resyncing: Promise<void> | undefined;
  #again = false;
  readonly #hear: BufferListener = (data, channel) => {
    const frame = parseBrokerMessage(this.#prefix, channel, data);
    if (frame?.kind === 'message') this.#listener?.message(frame.message);
    else if (frame?.kind === 'probe') this.#probes.get(frame.token)?.();
  };

  constructor(subscriber: RedisSubscriber, options: RedisBrokerOptions) {
    this.#subscriber = subscriber;
    this.#prefix = options.prefix;
    this.#sharded = options.sharded === true;
    this.#publisher = options.publisher;
    if (this.#sharded && (subscriber.sSubscribe === undefined || subscriber.sUnsubscribe === undefined)) {
      throw new TypeError('A sharded RedisBroker needs a subscriber with sSubscribe and sUnsubscribe (a node-redis cluster client)');
    }
  }

  listen(listener: BrokerListener): void {
    this.#listener = listener;
  }

  /**
   * Messages may have been missed (a subscription was cut off and is
   * back, or Redis came back): once every subscription is heard live,
   * the listener reads what came after what it delivered.
   */
  resync(): Promise<void> {
    if (this.#resyncing !== undefined) {
      this.#again = true;
      return this.#resyncing;
    }
    this.#resyncing = (async () => {
      do {
        this.#again = false;
        for (let round = 1; this.#subscribed && round <= PROBE_ROUNDS; round++) {
          const heard = await this.#probe();
          this.#listener?.resync();
          if (heard) break;
        }
      } while (this.#again && this.#subscribed);
    })().finally(() => {
      this.#resyncing = undefined;
    });
    return this.#resyncing;
  }

  /** Subscribe (the subscriber client is connected). */
  async start(): Promise<void> {
    if (this.#subscribed) return;
    if (this.#sharded) await Promise.all(this.#channels().map((channel) => this.#subscriber.sSubscribe!(channel, this.#hear, true)));
    else await this.#subscriber.pSubscribe(`${this.#prefix}:c:*`, this.#hear, true);
    this.#subscribed = true;
  }

  async stop(): Promise<void> {
    if (!this.#subscribed) return;
    this.#subscribed = false;
    for (const settle of this.#probes.values()) settle();
    if (this.#sharded) await Promise.all(this.#channels().map((channel) => this.#subscriber.sUnsubscribe!(channel)));
    else await this.#subscriber.pUnsubscribe(`${this.#prefix}:c:*`);
  }

  /**
   * Publish a probe on every channel the node listens to: true once each
   * came back within a second (the node can write and hear), false if not,
   * or if the broker is not subscribed or has nowhere to publish.
   */
  probe(): Promise<boolean> {
    return this.#subscribed && this.#publisher !== undefined ? this.#probe() : Promise.resolve(false);
  }

  async #probe(): Promise<boolean> {
    const publisher = this.#publisher;
    if (publisher === undefined) return true;
    // One pattern hears every partition: one probe proves it.
    const channels = this.#sharded ? this.#channels() : [`${this.#prefix}:c:${partitionTag(0)}`];
    const tokens = channels.map(() => randomUUID());
    let timer: NodeJS.Timeout | undefined;
    const heard = tokens.map((token) => new Promise<void>((resolve) => this.#probes.set(token, resolve)));
    try {
      const command = this.#sharded ? 'SPUBLISH' : 'PUBLISH';
      const sent = Promise.all(channels.map((channel, i) => publisher.sendCommand([command, channel, `0:${tokens[i]}`])));
      const timeout = new Promise<false>((resolve) => (timer = setTimeout(resolve, PROBE_MS, false)));
      return await Promise.race([sent.then(() => Promise.all(heard)).then(() => true), timeout]);
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
      for (const token of tokens) this.#probes.delete(token);
    }
  }

  #channels(): string[] {
    return Array.from({ length: PARTITIONS }, (_, partition) => `${this.#prefix}:c:${partitionTag(partition)}`);
  }
}
