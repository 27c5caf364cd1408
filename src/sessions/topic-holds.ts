/**
 * Which topics this process holds, and their feeds (#11, #12). Sessions and
 * connections before their hello hold the topics they follow; a topic
 * nobody holds can never be resumed here, so its feed closes and the store
 * may forget it (a session that expires leaves nothing behind).
 */
import type { Logger } from 'pino';
import { logSafely } from '../core/logging.js';
import { TopicFeed } from './topic-feed.js';
import type { TopicStore } from './topic-store.js';

export class TopicHolds {
  readonly #store: TopicStore;
  readonly #logger: Logger;
  readonly #holders = new Map<string, number>();
  readonly #feeds = new Map<string, TopicFeed>();

  constructor(store: TopicStore, logger: Logger) {
    this.#store = store;
    this.#logger = logger;
  }

  /** Topics held. */
  get size(): number {
    return this.#holders.size;
  }

  /** The feed of a held topic. */
  feed(topic: string): TopicFeed | undefined {
    return this.#feeds.get(topic);
  }

  feeds(): IterableIterator<TopicFeed> {
    return this.#feeds.values();
  }

  /** One more holder of `topic`; its feed, made by the first. */
  hold(topic: string): TopicFeed {
    const count = this.#holders.get(topic) ?? 0;
    this.#holders.set(topic, count + 1);
    let feed = this.#feeds.get(topic);
    if (feed === undefined) this.#feeds.set(topic, (feed = new TopicFeed(topic, this.#store)));
    return feed;
  }

  /** One holder fewer; the last one closes the feed and lets the store forget the topic. */
  release(topic: string): void {
    const count = (this.#holders.get(topic) ?? 0) - 1;
    if (count > 0) {
      this.#holders.set(topic, count);
      return;
    }
    this.#holders.delete(topic);
    this.#feeds.get(topic)?.close();
    this.#feeds.delete(topic);
    void Promise.resolve(this.#store.forget(topic)).catch((error: unknown) => logSafely(this.#logger, 'warn', { topic, err: error }, 'topic store: forget failed'));
  }
}
