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

/** The pino levels this package writes at. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Writes that threw, per logger: counted, and the first reported. */
const failedWrites = new WeakMap<Logger, number>();

/**
 * Write one record and never throw into the caller. A logger can throw (a
 * synchronous pino destination on a full disk, a stream that was closed);
 * thrown from inside a connection's lifecycle it would lose a transition,
 * from a socket's event it would end the process. A failed write drops the
 * record, is counted ({@link logWriteFailures}) and, the first time for
 * this logger, reported as a process warning (`WS_LIFECYCLE_LOG_FAILED`),
 * which does not go through the logger that failed. Costs one `try` when
 * the write succeeds.
 *
 * @param {Logger} logger The application logger or the audit logger
 * @param {LogLevel} level The level to write at
 * @param {object} record The record's fields
 * @param {string} msg The record's `msg`
 */
export function logSafely(logger: Logger, level: LogLevel, record: object, msg: string): void {
  try {
    logger[level](record, msg);
  } catch (error) {
    writeFailed(logger, msg, error);
  }
}

/**
 * @param {Logger} logger A logger written through {@link logSafely}
 * @returns {number} How many of its writes threw (each record dropped)
 */
export function logWriteFailures(logger: Logger): number {
  return failedWrites.get(logger) ?? 0;
}

function writeFailed(logger: Logger, msg: string, error: unknown): void {
  const count = (failedWrites.get(logger) ?? 0) + 1;
  failedWrites.set(logger, count);
  if (count > 1) return;
  const cause = error instanceof Error ? error.message : String(error);
  process.emitWarning(`a log write threw (${cause}) writing ${JSON.stringify(msg)}: the record is dropped; later failures of this logger are only counted`, {
    code: 'WS_LIFECYCLE_LOG_FAILED'
  });
}
