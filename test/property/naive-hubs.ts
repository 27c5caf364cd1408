/**
 * Session hubs that each break one part of the promise of docs/protocol.md
 * on purpose. The properties and the conformance checker must fail against
 * every one of them: a check that passes a naive hub checks nothing.
 */
import type { Connection } from '../../src/core/connection.js';
import { SessionHub } from '../../src/sessions/session-hub.js';
import type { TopicCursor } from '../../src/protocol/session-protocol.js';
import type { TopicPosition } from '../../src/sessions/topic-store.js';

/** Goes live first and replays a little later: live messages overtake the replay. */
export class NaiveResumeHub extends SessionHub {
  protected override resumeTopic(connection: Connection, topic: string, cursor: TopicCursor | undefined, resumed: boolean): void {
    this.subscribe(connection, topic);
    this.goLive(connection, topic, { epoch: '', offset: 0 });
    setTimeout(() => void this.catchUp(connection, topic, cursor, resumed), 5);
  }
}

/**
 * Keeps no high-water mark per connection and topic: after the replay it
 * writes everything the live buffer caught meanwhile, so a message
 * published while the replay was read goes out twice on one connection.
 */
export class NoHighWaterMarkHub extends SessionHub {
  protected override async catchUp(
    connection: Connection,
    topic: string,
    cursor: TopicCursor | undefined,
    resumed: boolean
  ): Promise<TopicPosition | undefined> {
    const from = await super.catchUp(connection, topic, cursor, resumed);
    // Forget where the replay stopped: the buffer is flushed from its first event.
    return from === undefined ? undefined : { epoch: '', offset: 0 };
  }
}

/**
 * Writes each topic message as it comes and lets the socket refuse what
 * does not fit under `maxBufferedBytes` (`backpressure`): the refused
 * message is skipped and the slow reader's next one arrives past a gap,
 * with no `recovery`. This is how `SessionHub` wrote topic messages when
 * #20 was reported; once the hub pauses a slow reader and refills it from
 * the store, this variant overrides that refill away.
 */
export class SkipUnderBackpressureHub extends SessionHub {}
