/**
 * Fan-out between processes (#12): a broker hands this process every
 * topic message any process appended, so the feeds here can write it to
 * their connections. Per topic, messages arrive in the order the store
 * numbered them but may have gaps (the broker was cut off); the feeds fill
 * those from the store after `resync`.
 */
import type { TopicMessage } from './topic-store.js';

/** What a broker calls. */
export interface BrokerListener {
  /** A message some process appended (this one included). */
  message(message: TopicMessage): void;
  /** Messages may have been missed (the broker was cut off and is back): read what the store has. */
  resync(): void;
}

export interface TopicBroker {
  /** Start handing messages to `listener` (one listener per broker). */
  listen(listener: BrokerListener): void;
}
