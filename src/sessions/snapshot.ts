/**
 * What a hub holds at one moment, for an operator's view (the inspector, a
 * metrics gauge): sessions by state, and per held topic where it stands here
 * and how many connections follow it.
 */
import type { SessionSnapshot } from './session-options.js';
import type { Session } from './session-registry.js';
import type { TopicHolds } from './topic-holds.js';

/**
 * @param {Iterable<Session>} sessions The hub's sessions
 * @param {number} count How many there are
 * @param {TopicHolds} holds The topics held here
 * @param {number} limit Topics listed at most, busiest first; 0 lists none (and sorts nothing)
 * @returns {SessionSnapshot} The snapshot
 */
export function sessionSnapshot(sessions: Iterable<Session>, count: number, holds: TopicHolds, limit: number): SessionSnapshot {
  let attached = 0;
  for (const session of sessions) if (session.state === 'attached') attached++;
  const byState = { attached, detached: count - attached };
  if (limit <= 0) return { sessions: byState, topics: [], heldTopics: holds.size };
  const topics = [...holds.feeds()].map((feed) => {
    const position = feed.position;
    return { topic: feed.topic, epoch: position?.epoch, offset: position?.offset, connections: feed.size };
  });
  topics.sort((a, b) => b.connections - a.connections || (a.topic < b.topic ? -1 : 1));
  return { sessions: byState, topics: topics.slice(0, limit), heldTopics: topics.length };
}
