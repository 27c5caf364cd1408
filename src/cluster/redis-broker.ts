/**
 * The Redis broker (#12): one subscriber connection per node, one pattern
 * subscription for every topic of the prefix. The store's append script
 * publishes each message in the same step that numbers it, so per topic
 * the messages arrive in offset order; a node cut off from Redis misses
 * some, and on its way back it tells its listener to resync, which reads
 * the gap from the streams.
 *
 * Message format: `<epoch>\n<offset>\n<kind><payload>`, kind `s` (text) or
 * `b` (bytes).
 */
import type { BrokerListener, TopicBroker } from '../sessions/topic-broker.js';
import type { TopicMessage } from '../sessions/topic-store.js';

/** The part of a node-redis client in subscriber mode the broker uses. */
export interface RedisSubscriber {
  pSubscribe(pattern: string, listener: (message: Buffer, channel: Buffer) => void, bufferMode: true): Promise<unknown>;
  pUnsubscribe(pattern: string): Promise<unknown>;
  on(event: 'ready', listener: () => void): unknown;
  off(event: 'ready', listener: () => void): unknown;
}

const NEWLINE = 0x0a;

/**
 * @param {string} prefix The store's prefix
 * @param {Buffer} channel The channel a message came on
 * @param {Buffer} data Its body
 * @returns {TopicMessage | undefined} The message, or undefined for anything malformed
 */
export function parseBrokerMessage(prefix: string, channel: Buffer, data: Buffer): TopicMessage | undefined {
  const head = `${prefix}:c:`;
  const name = channel.toString('utf8');
  if (!name.startsWith(head)) return undefined;
  const first = data.indexOf(NEWLINE);
  const second = first < 0 ? -1 : data.indexOf(NEWLINE, first + 1);
  if (second < 0 || second + 1 >= data.length) return undefined;
  const offset = Number(data.toString('latin1', first + 1, second));
  if (!Number.isSafeInteger(offset) || offset < 1) return undefined;
  const kind = data[second + 1];
  const body = data.subarray(second + 2);
  return {
    topic: name.slice(head.length),
    epoch: data.toString('utf8', 0, first),
    offset,
    // `s`: text as it was stored; `b`: bytes, copied out of the reply buffer.
    payload: kind === 0x73 ? body.toString('utf8') : Buffer.from(body)
  };
}

export class RedisBroker implements TopicBroker {
  readonly #subscriber: RedisSubscriber;
  readonly #prefix: string;
  #listener: BrokerListener | undefined;
  #subscribed = false;
  #readyCount = 0;
  readonly #onReady = (): void => {
    // Every ready after the first is a reconnect: node-redis resubscribed, but what was published meanwhile is gone.
    if (++this.#readyCount > 1) this.#listener?.resync();
  };

  constructor(subscriber: RedisSubscriber, prefix: string) {
    this.#subscriber = subscriber;
    this.#prefix = prefix;
  }

  listen(listener: BrokerListener): void {
    this.#listener = listener;
  }

  /** Tell the listener to read what may have been missed (the node's Redis connections are back). */
  resync(): void {
    this.#listener?.resync();
  }

  /** Subscribe (the subscriber client is connected). */
  async start(): Promise<void> {
    if (this.#subscribed) return;
    this.#readyCount = 1;
    this.#subscriber.on('ready', this.#onReady);
    await this.#subscriber.pSubscribe(`${this.#prefix}:c:*`, (data, channel) => {
      const message = parseBrokerMessage(this.#prefix, channel, data);
      if (message !== undefined) this.#listener?.message(message);
    }, true);
    this.#subscribed = true;
  }

  async stop(): Promise<void> {
    if (!this.#subscribed) return;
    this.#subscribed = false;
    this.#subscriber.off('ready', this.#onReady);
    await this.#subscriber.pUnsubscribe(`${this.#prefix}:c:*`);
  }
}
