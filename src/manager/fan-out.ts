/**
 * One message to many: plain connections through the {@link Delivery},
 * session connections through their topic (`broadcast`, `user:<id>`), one
 * report for both.
 */
import type { Connection } from '../core/connection.js';
import { countRejected, mergeReports, type SendReport } from '../core/send-result.js';
import { BROADCAST_TOPIC, userTopic, type PublishResult, type SessionHub } from '../sessions/session-hub.js';
import type { Delivery } from './delivery.js';

export class FanOut {
  readonly #delivery: Delivery;
  readonly #sessions: SessionHub;

  constructor(delivery: Delivery, sessions: SessionHub) {
    this.#delivery = delivery;
    this.#sessions = sessions;
  }

  /** See `ConnectionManager.broadcast`. */
  broadcast(message: unknown, filter: ((connection: Connection) => boolean) | undefined): Promise<SendReport> {
    const plain = this.#delivery.deliver({ kind: 'everyone', filter }, message);
    // Session connections get it as a message of the broadcast topic (a filter applies to plain connections only).
    if (filter !== undefined) return plain;
    // Kept for resumes only while a session exists: with none, no one could ask for it back.
    if (!this.#sessions.active && !this.#sessions.shared) return plain;
    return Promise.all([plain, this.#sessions.publish(BROADCAST_TOPIC, message)]).then(([a, b]) => mergeReports(a, publishReport(b)));
  }

  /** See `ConnectionManager.sendToUser`. */
  toUser(userId: string, message: unknown): Promise<SendReport> {
    // Stored in the user's topic while the user has a session, live or detached: a tab that comes back gets it.
    const plain = this.#delivery.deliver({ kind: 'user', userId }, message);
    if (!this.#sessions.hasUser(userId) && !this.#sessions.shared) return plain;
    return Promise.all([plain, this.#sessions.publish(userTopic(userId), message)]).then(([a, b]) => mergeReports(a, publishReport(b)));
  }
}

/** A publish as a send report: a message the store did not take counts as one refusal with its reason. */
function publishReport(result: PublishResult): SendReport {
  if (result.ok || result.reason === undefined) return result.report;
  const report: SendReport = { sent: result.report.sent, rejected: result.report.rejected, reasons: { ...result.report.reasons } };
  countRejected(report, result.reason);
  return report;
}
