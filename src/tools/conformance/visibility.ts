/**
 * Which topics a user may see, and which messages of a room (docs/protocol.md
 * section 10): the user's own topic and `broadcast` always; a room only
 * between where the user's membership began and where it ended.
 */
import type { Membership, Position } from './records.js';

export interface TopicAccess {
  /** Why the user may not see the topic at all, or `undefined` when it may. */
  refusal(topic: string): string | undefined;
  /** Why this message of a topic is outside the user's memberships, or `undefined` when it is inside one. */
  outsideMembership(topic: string, position: Position): string | undefined;
}

const BROADCAST = 'broadcast';
const USER_PREFIX = 'user:';

/**
 * @param {string | undefined} user The connection's user
 * @param {readonly Membership[]} memberships Every membership of the run
 * @param {Readonly<Record<string, readonly string[]>>} epochOrder Per topic, its epochs in the order they began
 * @returns {TopicAccess} What that user may see
 */
export function topicAccess(
  user: string | undefined,
  memberships: readonly Membership[],
  epochOrder: Readonly<Record<string, readonly string[]>>
): TopicAccess {
  const own = user === undefined ? undefined : `${USER_PREFIX}${user}`;
  const windows = new Map<string, Membership[]>();
  for (const membership of memberships) {
    if (membership.user !== user) continue;
    const list = windows.get(membership.topic) ?? [];
    list.push(membership);
    windows.set(membership.topic, list);
  }
  /** -1, 0 or 1 as epoch `a` began before, with or after `b`; `undefined` when the run did not say. */
  const compare = (topic: string, a: string, b: string): number | undefined => {
    if (a === b) return 0;
    const order = epochOrder[topic];
    const i = order?.indexOf(a) ?? -1;
    const j = order?.indexOf(b) ?? -1;
    return i < 0 || j < 0 ? undefined : Math.sign(i - j);
  };
  const inside = (topic: string, window: Membership, { epoch, offset }: Position): boolean => {
    const fromEpoch = compare(topic, epoch, window.from.epoch);
    // An epoch the run did not order is taken as a later one: the room lost its history after the user joined.
    const afterFrom = fromEpoch === 0 ? offset > window.from.offset : fromEpoch !== -1;
    if (!afterFrom || window.until === undefined) return afterFrom;
    const untilEpoch = compare(topic, epoch, window.until.epoch);
    if (untilEpoch === 0) return offset <= window.until.offset;
    return untilEpoch === -1 || (untilEpoch === undefined && fromEpoch === 0);
  };
  return {
    refusal(topic) {
      if (topic === BROADCAST || topic === own) return undefined;
      if (topic.startsWith(USER_PREFIX)) return `another user's topic (this connection is ${user === undefined ? 'anonymous' : `user ${JSON.stringify(user)}`})`;
      return windows.has(topic) ? undefined : 'a room the user was never added to';
    },
    outsideMembership(topic, position) {
      const list = windows.get(topic);
      if (list === undefined || list.some((window) => inside(topic, window, position))) return undefined;
      const shownWindows = list.map((w) => `after ${w.from.epoch}:${w.from.offset}${w.until === undefined ? '' : ` to ${w.until.epoch}:${w.until.offset}`}`);
      return `outside the user's membership of the room (${shownWindows.join('; ')}): nothing from before it began or after it ended is sent`;
    }
  };
}
