/**
 * The example's topic store: the in-memory one, with a switch that makes
 * appends fail while it is on, as a shared store does while its Redis is
 * away. A publish then stores nothing and says `store_unavailable`, and
 * `ws_lifecycle.store.errors` counts the failed append.
 */
import { MemoryTopicStore, type TopicPosition } from '../../src/sessions/topic-store.js';

/** What an append throws while the store is down. */
export class StoreOutageError extends Error {
  constructor(topic: string) {
    super(`the store is down: nothing appended to ${topic}`);
    this.name = 'StoreOutageError';
  }
}

export class OutageStore extends MemoryTopicStore {
  /** While true, every append throws a {@link StoreOutageError} (the in-memory store answers at once, failures too). */
  down = false;

  override append(topic: string, payload: string | Buffer): TopicPosition {
    if (this.down) throw new StoreOutageError(topic);
    return super.append(topic, payload);
  }
}
