/** Loggers: the application logger and the audit trail, decided once. */
import { pino, type DestinationStream, type Logger } from 'pino';

/** A pino logger, or a pino destination to write the audit trail to. */
export type AuditTarget = Logger | DestinationStream;

/**
 * The logger to use when the user passes none: pino at info, named so
 * records can be told apart in a shared stream.
 *
 * @returns {Logger} A new pino logger
 */
export function defaultLogger(): Logger {
  return pino({ name: 'ws-lifecycle' });
}

function isLogger(target: AuditTarget): target is Logger {
  return typeof (target as Logger).info === 'function' && typeof (target as Logger).child === 'function';
}

/**
 * The logger audit records go to: `audit` itself if it is a logger, a new
 * pino logger writing to it if it is a destination, else `logger`.
 *
 * @param {Logger} logger The manager's logger
 * @param {AuditTarget} [audit] Where the user wants the audit kept
 * @returns {Logger} The audit logger
 */
export function auditLogger(logger: Logger, audit: AuditTarget | undefined): Logger {
  if (audit === undefined) return logger;
  if (isLogger(audit)) return audit;
  return pino({ name: 'ws-lifecycle-audit', level: 'debug' }, audit);
}
