/**
 * What the conformance checker needs from a run against real servers: the
 * records of every client connection, what the servers' applications
 * were handed (`sessionMessage`, told apart by the `conn` query parameter
 * every recorded connection carries), and the room memberships, each
 * from where the room stood when the user was added to where it stood
 * when the user was removed.
 */
import type { ConnectionManager } from '../../src/index.js';
import { checkRun, type ConnectionRecord, type Delivery, type Membership, type Position, type Violation } from '../../src/tools/conformance/checker.js';

/** The query parameter that names a connection's record. */
export const CONNECTION_PARAM = 'conn';

/** Where a room stands now: at once from a store of this process, or a promise from a shared one. */
export type RoomPosition = (topic: string) => Position | Promise<Position>;

export class ConformanceRun {
  readonly records: ConnectionRecord[] = [];
  readonly deliveries: Delivery[] = [];
  readonly memberships: Membership[] = [];
  readonly #managers: readonly ConnectionManager[];
  readonly #position: RoomPosition;
  /** How far each record was read for {@link settle}. */
  readonly #read = new Map<ConnectionRecord, number>();

  /**
   * @param {readonly ConnectionManager[]} managers Every server of the run (a room membership is set on each)
   * @param {RoomPosition} position Where a room stands, from the store that numbers it
   */
  constructor(managers: readonly ConnectionManager[], position: RoomPosition) {
    this.#managers = managers;
    this.#position = position;
    for (const manager of managers) {
      manager.on('sessionMessage', (connection, data) => {
        const conn = connection.metadata?.[CONNECTION_PARAM];
        this.deliveries.push({ connection: typeof conn === 'string' ? conn : `unrecorded ${connection.id}`, data });
      });
    }
  }

  /** Whether the user is in the room now. */
  isMember(user: string, topic: string): boolean {
    return this.memberships.some((m) => m.user === user && m.topic === topic && m.until === undefined);
  }

  /**
   * Add the user to the room on every server, the membership beginning
   * where the room stands. With a store of this process that is read and
   * acted on in one synchronous step; with a shared one, nothing may be
   * published to the room until the promise resolves.
   */
  join(user: string, topic: string): void | Promise<void> {
    if (this.isMember(user, topic)) return;
    return this.#now(topic, (from) => {
      this.memberships.push({ user, topic, from: { ...from } });
      for (const manager of this.#managers) manager.subscribe(user, topic);
    });
  }

  /** Remove the user from the room on every server; the membership ends where the room stands. */
  leave(user: string, topic: string): void | Promise<void> {
    const membership = this.memberships.find((m) => m.user === user && m.topic === topic && m.until === undefined);
    if (membership === undefined) return;
    return this.#now(topic, (until) => {
      membership.until = { ...until };
      for (const manager of this.#managers) manager.unsubscribe(user, topic);
    });
  }

  /** Every breach of docs/protocol.md in the run's records. */
  check(): Violation[] {
    return checkRun({ connections: this.records, memberships: this.memberships, deliveries: this.deliveries });
  }

  /**
   * Wait until no connection has received a frame for `quietMs` (or
   * `timeoutMs` passed): the servers have nothing left to send. A `pong`
   * does not count: a client's heartbeat asks for one whenever it is quiet.
   */
  async settle(quietMs = 60, timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let since = Date.now();
    this.#news();
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      if (this.#news()) since = Date.now();
      else if (Date.now() - since >= quietMs) return;
    }
  }

  /** Whether any record received a frame other than a pong since the last look. */
  #news(): boolean {
    let news = false;
    for (const record of this.records) {
      const from = this.#read.get(record) ?? 0;
      for (let i = from; i < record.received.length && !news; i++) news = !isPong(record.received[i]!);
      this.#read.set(record, record.received.length);
    }
    return news;
  }

  /** Act on where the room stands: in the same synchronous step when the store answers at once. */
  #now(topic: string, act: (position: Position) => void): void | Promise<void> {
    const position = this.#position(topic);
    if (position instanceof Promise) return position.then(act);
    act(position);
  }
}

function isPong(data: string | Uint8Array): boolean {
  if (typeof data !== 'string' || !data.includes('pong')) return false;
  try {
    return (JSON.parse(data) as { type?: unknown }).type === 'pong';
  } catch {
    return false;
  }
}

/** The identify of a test server: the user and the record's name from the URL's query. */
export function identifyRecorded(request: { url?: string }): { userId?: string; metadata: Record<string, unknown> } {
  const query = new URL(request.url ?? '/', 'http://127.0.0.1').searchParams;
  const user = query.get('user');
  return { ...(user === null ? {} : { userId: user }), metadata: { [CONNECTION_PARAM]: query.get(CONNECTION_PARAM) ?? undefined } };
}
