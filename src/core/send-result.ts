/** The outcome of a send, and the report of a send to many. */

/** Why a send did not happen. */
export type SendFailureReason =
  | 'not_found'
  | 'not_connected'
  | 'closing'
  | 'closed'
  | 'serialization_failed'
  | 'backpressure'
  | 'transport_error'
  /** The topic store (a cluster's Redis) could not be reached: the message was not kept for the user's sessions. */
  | 'store_unavailable'
  /**
   * An application write to a session connection (subprotocol `ws-lifecycle.v1`): its frames are the session
   * protocol's alone, so nothing else may corrupt its stream. Publish to a topic or `sendToUser` instead.
   */
  | 'session_connection'
  /** A topic name the protocol cannot carry (1 to 200 characters): a publish to it, or `sendToUser` to a user id too long for its topic with a shared store, kept nothing. */
  | 'invalid_topic';

/** Every {@link SendFailureReason}, for iteration and validation. */
export const SEND_FAILURE_REASONS: readonly SendFailureReason[] = Object.freeze([
  'not_found',
  'not_connected',
  'closing',
  'closed',
  'serialization_failed',
  'backpressure',
  'transport_error',
  'store_unavailable',
  'session_connection',
  'invalid_topic'
]);

/**
 * `{ ok: true }` once ws reports the frame written to the socket, or
 * `{ ok: false, reason }`; `error` is set for `serialization_failed` and
 * `transport_error`.
 */
export type SendResult = { readonly ok: true } | { readonly ok: false; readonly reason: SendFailureReason; readonly error?: Error };

/** What `broadcast` and `sendToUser` resolve to. */
export interface SendReport {
  /** Connections ws reported the frame written to. */
  sent: number;
  /** Connections that did not get it. */
  rejected: number;
  /** `rejected`, counted per reason (only reasons that occurred). */
  reasons: Partial<Record<SendFailureReason, number>>;
}

/** The shared success result (no allocation per message). */
export const SENT: SendResult = Object.freeze({ ok: true });

/** A settled promise of {@link SENT}, for a write reported done before `send` returns. */
export const SENT_PROMISE: Promise<SendResult> = Promise.resolve(SENT);

const refusals = new Map<SendFailureReason, SendResult>();
const refusedPromises = new Map<SendFailureReason, Promise<SendResult>>();
const reasonsOfRefused = new Map<Promise<SendResult>, SendFailureReason>();
for (const reason of SEND_FAILURE_REASONS) {
  const result: SendResult = Object.freeze({ ok: false, reason });
  refusals.set(reason, result);
  const promise = Promise.resolve(result);
  refusedPromises.set(reason, promise);
  reasonsOfRefused.set(promise, reason);
}

/**
 * The shared, frozen result for a refusal.
 *
 * @param {SendFailureReason} reason Why the send was refused
 * @returns {SendResult} `{ ok: false, reason }`
 */
export function refusal(reason: SendFailureReason): SendResult {
  return refusals.get(reason)!;
}

/**
 * A settled promise of the shared refusal, so refusing allocates nothing.
 *
 * @param {SendFailureReason} reason Why the send was refused
 * @returns {Promise<SendResult>} Resolves to `{ ok: false, reason }`
 */
export function refused(reason: SendFailureReason): Promise<SendResult> {
  return refusedPromises.get(reason)!;
}

/**
 * Why a send was refused before anything was written, read from the
 * promise it returned: every refusal is one of the shared promises of
 * {@link refused}.
 *
 * @param {Promise<SendResult>} result What a send returned
 * @returns {SendFailureReason | undefined} The reason, or `undefined` for a frame written or queued
 */
export function refusedFor(result: Promise<SendResult>): SendFailureReason | undefined {
  return reasonsOfRefused.get(result);
}

/**
 * A failed result carrying the error that caused it.
 *
 * @param {'serialization_failed' | 'transport_error'} reason The failure
 * @param {Error} error The cause
 * @returns {SendResult} `{ ok: false, reason, error }`
 */
export function failure(reason: 'serialization_failed' | 'transport_error', error: Error): SendResult {
  return { ok: false, reason, error };
}

/**
 * Count one refused target in a report.
 *
 * @param {SendReport} report The report being filled
 * @param {SendFailureReason} reason Why that target did not get the message
 */
export function countRejected(report: SendReport, reason: SendFailureReason): void {
  report.rejected++;
  report.reasons[reason] = (report.reasons[reason] ?? 0) + 1;
}

/** A report of no targets: nothing sent, nothing refused. */
export function emptyReport(): SendReport {
  return { sent: 0, rejected: 0, reasons: {} };
}

/**
 * @param {readonly SendResult[]} results The results of one message's writes
 * @returns {SendReport} Them counted
 */
export function reportOf(results: readonly SendResult[]): SendReport {
  const report = emptyReport();
  for (const result of results) {
    if (result.ok) report.sent++;
    else countRejected(report, result.reason);
  }
  return report;
}

/**
 * @param {SendReport} a A report
 * @param {SendReport} b Another, of the same message to other targets
 * @returns {SendReport} Both added up
 */
export function mergeReports(a: SendReport, b: SendReport): SendReport {
  const merged: SendReport = { sent: a.sent + b.sent, rejected: a.rejected + b.rejected, reasons: { ...a.reasons } };
  for (const [reason, count] of Object.entries(b.reasons) as Array<[SendFailureReason, number]>) {
    merged.reasons[reason] = (merged.reasons[reason] ?? 0) + count;
  }
  return merged;
}
