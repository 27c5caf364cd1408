/**
 * Session hubs that each break one part of the promise of docs/protocol.md
 * on purpose, by giving their connections a naive `Subscription`. The
 * properties and the conformance checker must fail against every one of
 * them: a check that passes a naive hub checks nothing.
 */
import type { Connection } from '../../src/core/connection.js';
import type { SendResult } from '../../src/core/send-result.js';
import { messageFrame } from '../../src/protocol/session-protocol.js';
import { SessionHub } from '../../src/sessions/session-hub.js';
import { Subscription, type SubscriptionHost } from '../../src/sessions/subscription.js';
import type { FeedEvent, TopicFeed } from '../../src/sessions/topic-feed.js';

function frameOf(event: FeedEvent & { kind: 'message' }): string {
  const { topic, epoch, offset, payload } = event.message;
  return messageFrame(topic, epoch, offset, payload);
}

/** Writes live messages as they come even while it catches up: live messages overtake the replay (what a server that subscribes, then reads history, does). */
class LiveFirstSubscription extends Subscription {
  override offer(event: FeedEvent): Promise<SendResult> | undefined {
    if ((this.state === 'buffering' || this.state === 'reading') && event.kind === 'message') return this.connection._sendText(frameOf(event));
    return super.offer(event);
  }
}

/** Keeps no high-water mark: a message at or below what the connection was given is written again (a replay and the live buffer overlap). */
class NoHighWaterMarkSubscription extends Subscription {
  protected override write(event: FeedEvent): Promise<SendResult> | undefined {
    const mark = this.mark;
    if (event.kind === 'message' && mark !== undefined && event.message.epoch === mark.epoch && event.message.offset <= mark.offset) {
      return this.connection._sendText(frameOf(event));
    }
    return super.write(event);
  }
}

/**
 * Writes each message as it comes and lets the socket refuse what does not
 * fit under `maxBufferedBytes` (`backpressure`): the refused message is
 * skipped, and the slow reader's next one arrives past a gap with no
 * `recovery`. How topic messages were written when #20 was reported.
 */
class SkipUnderBackpressureSubscription extends Subscription {
  protected override write(event: FeedEvent): Promise<SendResult> | undefined {
    if (event.kind === 'message' && this.mark !== undefined) return this.connection._sendText(frameOf(event));
    return super.write(event);
  }
}

type SubscriptionClass = new (connection: Connection, feed: TopicFeed, host: SubscriptionHost) => Subscription;

function hubWith(Naive: SubscriptionClass): typeof SessionHub {
  return class extends SessionHub {
    protected override makeSubscription(connection: Connection, feed: TopicFeed, host: SubscriptionHost): Subscription {
      return new Naive(connection, feed, host);
    }
  };
}

/** Goes live first and replays after: live messages overtake the replay. */
export const NaiveResumeHub = hubWith(LiveFirstSubscription);
/** No high-water mark per connection and topic: duplicates where a replay and the live buffer overlap. */
export const NoHighWaterMarkHub = hubWith(NoHighWaterMarkSubscription);
/** Skips a message the socket refuses under backpressure: a silent gap for a slow reader. */
export const SkipUnderBackpressureHub = hubWith(SkipUnderBackpressureSubscription);
