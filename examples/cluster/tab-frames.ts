/**
 * What a tab was owed against what its sockets received, counted from
 * the raw frames (#23): the failover demo and the failover tests read a
 * tab's frames as the server sent them, before any client's dedupe could
 * hide a duplicate or a gap. Pure: frames and acknowledged publishes in,
 * a tally out.
 *
 * A tab owes nothing it was told it would not get: per docs/protocol.md
 * 4.2, a `recovered: false` says the stream continues after `(epoch,
 * offset)`; within one epoch the offsets it skips are told, and an epoch
 * the tab leaves that way is told for whatever followed in it. Everything
 * else acknowledged to a publisher in an epoch the tab was following must
 * have reached it, once, with the very payload that was acknowledged.
 */

/** A publish as its publisher was told it went: where the store put it, and the id in its payload. */
export interface Acknowledged {
  topic: string;
  epoch: string;
  offset: number;
  id: string;
}

/** A topic's position: where a tab should end. */
export interface EndPosition {
  epoch: string;
  offset: number;
}

export interface FrameTally {
  /** `message` frames of the topic. */
  received: number;
  /** Acknowledged messages the tab was owed and did not get (or got with another payload), untold. */
  lost: number;
  /** An (epoch, offset) received more than once. */
  duplicated: number;
  /** Messages received at an (epoch, offset) that was acknowledged for another payload too: two histories under one name. */
  diverged: number;
  /** `recovered: false` frames after the tab's first, by reason. */
  told: Record<string, number>;
  /** The tab's cursor is where the topic ends (or it has none, and the topic never had a message). */
  caughtUp: boolean;
}

interface Frame {
  type?: unknown;
  topic?: unknown;
  epoch?: unknown;
  offset?: unknown;
  recovered?: unknown;
  reason?: unknown;
  data?: unknown;
}

/**
 * @param {ReadonlyArray<string | Uint8Array>} frames Every frame the tab's sockets received, in order (its connections one after another)
 * @param {string} topic The topic to tally
 * @param {readonly Acknowledged[]} acknowledged Every acknowledged publish of the run
 * @param {EndPosition} end Where the topic ends
 * @param {(data: unknown) => string | undefined} idOf The id a message's `data` carries
 * @returns {FrameTally} The tab's tally for the topic
 */
export function tallyFrames(
  frames: ReadonlyArray<string | Uint8Array>,
  topic: string,
  acknowledged: readonly Acknowledged[],
  end: EndPosition,
  idOf: (data: unknown) => string | undefined
): FrameTally {
  const ids = new Map<string, Set<string>>();
  for (const ack of acknowledged) {
    if (ack.topic !== topic) continue;
    const key = `${ack.epoch}\n${ack.offset}`;
    ids.set(key, (ids.get(key) ?? new Set()).add(ack.id));
  }
  const tally: FrameTally = { received: 0, lost: 0, duplicated: 0, diverged: 0, told: {}, caughtUp: false };
  /** Per epoch: where the tab entered it, offsets told skipped, and what it received at each offset. */
  const epochs = new Map<string, { entered: number; told: Set<number>; got: Map<number, string | undefined> }>();
  let cursor: { epoch: string; offset: number } | undefined;
  let recoveries = 0;
  for (const raw of frames) {
    if (typeof raw !== 'string') continue;
    let frame: Frame;
    try {
      frame = JSON.parse(raw) as Frame;
    } catch {
      continue;
    }
    if (frame.topic !== topic || typeof frame.epoch !== 'string' || typeof frame.offset !== 'number') continue;
    const { epoch, offset } = frame as { epoch: string; offset: number };
    let state = epochs.get(epoch);
    if (frame.type === 'recovery') {
      if (frame.recovered === true) continue;
      // The tab's first recovery starts its stream (a new session, a new topic): nothing before it was owed.
      if (recoveries++ > 0) tally.told[String(frame.reason)] = (tally.told[String(frame.reason)] ?? 0) + 1;
      if (state === undefined) epochs.set(epoch, (state = { entered: offset, told: new Set(), got: new Map() }));
      else if (cursor?.epoch === epoch) for (let skipped = cursor.offset + 1; skipped <= offset; skipped++) state.told.add(skipped);
      cursor = { epoch, offset };
    } else if (frame.type === 'message') {
      tally.received++;
      // A message of an epoch never entered by a recovery breaks 5.6; counted from where it stands, it shows as what it lost.
      if (state === undefined) epochs.set(epoch, (state = { entered: 0, told: new Set(), got: new Map() }));
      const id = idOf(frame.data);
      if (state.got.has(offset)) tally.duplicated++;
      else state.got.set(offset, id);
      if ((ids.get(`${epoch}\n${offset}`)?.size ?? 0) > 1) tally.diverged++;
      if (cursor === undefined || cursor.epoch !== epoch || offset > cursor.offset) cursor = { epoch, offset };
    }
  }
  for (const ack of acknowledged) {
    if (ack.topic !== topic) continue;
    const state = epochs.get(ack.epoch);
    if (state === undefined || ack.offset <= state.entered || state.told.has(ack.offset)) continue;
    // An epoch the tab left: it was told for what it had not reached.
    const reached = Math.max(0, ...state.got.keys(), ...state.told);
    if (cursor?.epoch !== ack.epoch && ack.offset > reached) continue;
    if (state.got.get(ack.offset) !== ack.id) tally.lost++;
  }
  // A topic that never had a message owes nothing to a tab that has no cursor of it.
  tally.caughtUp = cursor === undefined ? end.offset === 0 : cursor.epoch === end.epoch && cursor.offset === end.offset;
  return tally;
}
