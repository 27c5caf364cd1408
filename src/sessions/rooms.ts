/**
 * Room membership (#11, #20): the server decides which users follow which
 * topics besides their own (`user:<id>`) and `broadcast`. Each membership
 * remembers where the room stood when it began, its floor: a resume never
 * replays a room below it, whatever cursor the client names, so a user
 * added to a room never reads what was said there before.
 */
import { topicError } from '../core/validation.js';
import { MAX_NAME_LENGTH } from '../protocol/session-protocol.js';
import type { TopicPosition } from './topic-store.js';

/** The topic every session follows: `broadcast` publishes to it. */
export const BROADCAST_TOPIC = 'broadcast';

/** The topic every user has: `sendToUser` publishes to it. */
export function userTopic(userId: string): string {
  return `user:${userId}`;
}

/** The longest user id a session can have (195): its topic `user:<id>` is a topic, at most 200 characters (docs/protocol.md 2.4). */
export const MAX_SESSION_USER_ID_LENGTH = MAX_NAME_LENGTH - userTopic('').length;

/**
 * Why a connection of `userId` cannot have a session, or `undefined` when
 * it can: its topic `user:<id>` must be a topic name (docs/protocol.md 2.4).
 *
 * @param {string} userId A user id
 * @returns {RangeError | TypeError | undefined} A `RangeError` naming the length (not the id) when it is over
 *   {@link MAX_SESSION_USER_ID_LENGTH}; a `TypeError` when it holds an unpaired surrogate (Redis would store its topic as another's)
 */
export function sessionUserError(userId: string): RangeError | TypeError | undefined {
  const error = topicError(userTopic(userId));
  if (error === undefined || error instanceof TypeError) return error;
  return new RangeError(
    `userId of ${userId.length} characters cannot have a session: its topic user:<userId> would be ${userTopic(userId).length} characters, ` +
      `over the ${MAX_NAME_LENGTH} of any topic (a session's user id has at most ${MAX_SESSION_USER_ID_LENGTH})`
  );
}

interface Membership {
  /** Where the room stood in the store when the user joined, once the store has said. */
  known: TopicPosition | undefined;
  /** The store's answer while it has not come; `undefined` after it failed, until someone asks again. */
  floor: Promise<TopicPosition> | undefined;
  /** Asks the store where the room stands. */
  readonly ask: () => TopicPosition | Promise<TopicPosition>;
}

export class Rooms {
  readonly #byUser = new Map<string, Map<string, Membership>>();

  /**
   * The user joins `topic`; `ask` says where the store stands (the store,
   * not a feed: a message already appended but not yet delivered here is
   * from before the membership). Asked at once. False when already a member.
   */
  join(userId: string, topic: string, ask: () => TopicPosition | Promise<TopicPosition>): boolean {
    let rooms = this.#byUser.get(userId);
    if (rooms === undefined) this.#byUser.set(userId, (rooms = new Map<string, Membership>()));
    if (rooms.has(topic)) return false;
    const membership: Membership = { known: undefined, floor: undefined, ask };
    rooms.set(topic, membership);
    void this.#ask(membership);
    return true;
  }

  #ask(membership: Membership): TopicPosition | Promise<TopicPosition> {
    const floor = membership.ask();
    if (!(floor instanceof Promise)) return (membership.known = floor);
    membership.floor = floor;
    floor.then(
      (position) => {
        membership.known = position;
      },
      () => {
        // The store could not say: the connection that asked is closed (1013), and the next one to ask asks the store
        // again, which then says where the room stands by then (a later floor, told as `membership` to a cursor below).
        if (membership.floor === floor) membership.floor = undefined;
      }
    );
    return floor;
  }

  /** The user leaves `topic`. False when not a member. */
  leave(userId: string, topic: string): boolean {
    const rooms = this.#byUser.get(userId);
    if (rooms?.delete(topic) !== true) return false;
    if (rooms.size === 0) this.#byUser.delete(userId);
    return true;
  }

  /**
   * Where the user's membership of `topic` began: `undefined` for the
   * user's own topics and `broadcast` (no floor); a promise while the store
   * has not said yet.
   */
  floorOf(userId: string | undefined, topic: string): TopicPosition | Promise<TopicPosition> | undefined {
    if (userId === undefined) return undefined;
    const membership = this.#byUser.get(userId)?.get(topic);
    return membership === undefined ? undefined : (membership.known ?? membership.floor ?? this.#ask(membership));
  }

  /** Every topic a session of the user follows: `broadcast`, the user's own, the user's rooms. */
  topicsOf(userId: string | undefined): string[] {
    if (userId === undefined) return [BROADCAST_TOPIC];
    const rooms = this.#byUser.get(userId);
    return rooms === undefined ? [BROADCAST_TOPIC, userTopic(userId)] : [BROADCAST_TOPIC, userTopic(userId), ...rooms.keys()];
  }
}
