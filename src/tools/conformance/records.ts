/**
 * What the conformance checker reads (#20, #24): the frames each
 * connection of a run sent and received, and what the application knows
 * (which rooms each user was in, from where to where; what the server's
 * application was handed). Plain data, so a test, a recording socket or a
 * log file can produce it.
 */

/** A place in a topic: an epoch and an offset in it. */
export interface Position {
  epoch: string;
  offset: number;
}

/** How a connection ended, as its client saw it. */
export interface CloseRecord {
  code: number;
  reason: string;
  /** Who started the close: the client (its own code comes back) or the server (or the network). */
  by: 'client' | 'server';
}

/** One WebSocket connection of a session client, from its hello to its close. */
export interface ConnectionRecord {
  /** How reports name it, e.g. `tab 2 #3`. Unique within a run. */
  id: string;
  /** The user the server knows the connection as (from the upgrade request); `undefined` for an anonymous one. */
  user: string | undefined;
  /** Every frame the client sent, in order, as sent (the first is its hello). */
  sent: string[];
  /** Every message the server sent, in order: text frames as text, binary ones as bytes. */
  received: Array<string | Uint8Array>;
  /** Absent while the connection is open. */
  close?: CloseRecord;
  /**
   * The connection was open at the end of the run and the server had
   * nothing left to send it: every send must have its ack, every topic of
   * the welcome its recovery, every replay its `replayed`.
   */
  complete?: boolean;
  /**
   * The client broke the protocol on purpose (a skipped send id, a foreign
   * token, a malformed frame): the server must close the connection with
   * one of these codes.
   */
  expectedClose?: readonly number[];
}

/**
 * A user's membership of a room: it began where the room stood when the
 * user was added (`from`, exclusive) and, once removed, ended where the
 * room stood then (`until`, inclusive).
 */
export interface Membership {
  user: string;
  topic: string;
  from: Position;
  until?: Position;
}

/** A client message the server's application was handed (`sessionMessage`), in the order it was handed over. */
export interface Delivery {
  /** The `id` of the connection record it arrived on. */
  connection: string;
  data: unknown;
}

/** Everything the checker reads about one run. */
export interface RunRecord {
  connections: readonly ConnectionRecord[];
  /** Room memberships; `user:<id>` and `broadcast` need none. Without it every room is foreign. */
  memberships?: readonly Membership[];
  /** What the application was handed; without it the delivery rules are not checked. */
  deliveries?: readonly Delivery[];
  /** Per topic, its epochs in the order they began, when the run saw more than one. */
  epochOrder?: Readonly<Record<string, readonly string[]>>;
}

/** Which rule of docs/protocol.md a breach is of. */
export type Rule =
  /** 2.1, 2.2, 4: not a JSON object, not matching the schema, binary. */
  | 'frame'
  /** 1.4, 4.1, 6.1: welcome first, once, and consistent with the hello. */
  | 'welcome'
  /** 5.6, 6.2: recovery before messages, offsets contiguous within an epoch. */
  | 'order'
  /** 6.2: one offset of an epoch sent twice on one connection. */
  | 'duplicate'
  /** 4.2, 6.2: recovered: true from the client's cursor, replayed where the replay ended, nothing at or below the cursor. */
  | 'replay'
  /** 10: only the user's own topic, broadcast and the user's rooms. */
  | 'topic'
  /** 10: nothing of a room from outside the user's membership. */
  | 'membership'
  /** 4.4: nothing of a topic after unsubscribed, until a recovery starts it again. */
  | 'unsubscribed'
  /** 3.3, 3.4, 6.4: an ack per send, in order; a pong per ping. */
  | 'ack'
  /** 3.3: each (session, client, id) handed to the application once, none skipped, every acknowledged one. */
  | 'delivery'
  /** 4.5, 7: close codes of the table, an error just before a close, no final close of a client that broke no rule. */
  | 'close'
  /** 1.4, 3.3: the client's own frames: hello first, send ids increasing on a connection. */
  | 'client';

/** One breach: where (the connection, the index of the received frame, or -1 for the connection as a whole) and what. */
export interface Violation {
  connection: string;
  frame: number;
  rule: Rule;
  message: string;
}

/**
 * @param {readonly Violation[]} violations What the checker found
 * @param {number} [limit] Lines shown at most
 * @returns {string} One line per violation, in plain words
 */
export function describeViolations(violations: readonly Violation[], limit = 20): string {
  const lines = violations.slice(0, limit).map((v) => `${v.connection}${v.frame >= 0 ? ` frame ${v.frame}` : ''}: [${v.rule}] ${v.message}`);
  if (violations.length > limit) lines.push(`... and ${violations.length - limit} more`);
  return lines.join('\n');
}
