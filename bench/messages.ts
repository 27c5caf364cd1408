/** The application messages the benchmarks send: JSON objects of a chosen size. */

/** What every benchmark message looks like before serialization. */
export interface BenchMessage {
  type: 'tick';
  seq: number;
  payload: string;
}

const payloads = new Map<number, string>();

/**
 * A message whose JSON text is `bytes` long for a six-digit `seq` (about that
 * long for others). The payload string is shared, so building a message
 * costs one small object, as in an application that sends a fresh event.
 *
 * @param {number} bytes Target JSON length, at least 40
 * @param {number} seq Sequence number carried by the message
 * @returns {BenchMessage} The object to serialize
 */
export function makeMessage(bytes: number, seq: number): BenchMessage {
  let payload = payloads.get(bytes);
  if (payload === undefined) {
    const overhead = JSON.stringify({ type: 'tick', seq: 100000, payload: '' }).length;
    payload = 'x'.repeat(Math.max(0, bytes - overhead));
    payloads.set(bytes, payload);
  }
  return { type: 'tick', seq, payload };
}
