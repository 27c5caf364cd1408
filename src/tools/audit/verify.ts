/**
 * Replays an audit trail through the connection machine's own transition
 * set and reports every record the machine could not have produced.
 *
 * The input is pino output (JSON lines) or records already parsed. Only
 * records with `msg === "transition"` are audit records; everything else a
 * pino logger writes may be mixed in and is skipped.
 */
import { allowedTransitions, lifecycleChart, transitionKey, type ChartState } from '../../core/machine-graph.js';

/** What kind of inconsistency an {@link AuditError} reports. */
export type AuditErrorKind =
  /** The line is not blank and not a JSON object. */
  | 'parse'
  /** A `transition` record lacks a field or has one of the wrong type. */
  | 'invalid_record'
  /** A connection's first record does not leave the initial state. */
  | 'bad_start'
  /** `from` is not the `to` of the connection's previous record. */
  | 'broken_chain'
  /** The machine has no transition from `from` on `event` to `to`. */
  | 'disallowed'
  /** `seq` skips numbers: records are missing. */
  | 'seq_gap'
  /** `seq` is not above the previous one: a record is repeated or out of order. */
  | 'seq_repeat';

/** One inconsistency, located by line (1-based: a text line, or an index into a record list). */
export interface AuditError {
  line: number;
  /** `null` when the line has no usable connection id. */
  connectionId: string | null;
  kind: AuditErrorKind;
  message: string;
}

/** A connection whose records never reach `closed` (the log may end while the process runs). */
export interface OpenConnection {
  connectionId: string;
  userId: string | undefined;
  /** The state its last record left it in. */
  state: string;
  lastSeq: number;
  lastLine: number;
}

/** The result of {@link verifyAudit}. */
export interface AuditReport {
  /** No errors. Open connections do not make a trail inconsistent. */
  ok: boolean;
  /** Distinct connection ids among the transition records. */
  connections: number;
  /** Transition records read (well-formed ones). */
  transitions: number;
  /** The first `maxErrors` errors, in line order. */
  errors: AuditError[];
  /** Every error found, kept or not. */
  errorCount: number;
  /** Every error found, per kind. */
  errorsByKind: Partial<Record<AuditErrorKind, number>>;
  open: OpenConnection[];
}

/** One parsed log record; only `msg === "transition"` records are checked. */
export type AuditInputRecord = Record<string, unknown>;

/** What {@link verifyAudit} reads: JSON-lines text, or lines, or parsed records. */
export type AuditInput = string | Iterable<string | AuditInputRecord>;

/** The fields of a transition record that {@link recordProblem} has checked. */
interface TransitionFields {
  connectionId: string;
  seq: number;
  from: string;
  event: string;
  to: string;
  userId?: unknown;
}

interface ConnectionTrack {
  userId: string | undefined;
  state: string;
  seq: number;
  line: number;
  reachedClosed: boolean;
}

/** Options of an {@link AuditVerifier}. */
export interface AuditVerifierOptions {
  /**
   * The machine's audited states and their transitions, from
   * `lifecycleChart(readChart(machine))`. Default: the connection machine's.
   */
  lifecycle?: readonly ChartState[];
  /** The `msg` of the records to check. Default `transition` (connections); sessions write `session transition`. */
  msg?: string;
  /** The field that names the actor. Default `connectionId`; sessions: `sessionId`. */
  idField?: string;
  /** Record lines that are not JSON as errors. Default `true`; a second verifier over the same lines turns it off. */
  parseErrors?: boolean;
  /** Errors kept in the report at most; the rest are counted. Default 10,000, so a huge broken file is read in bounded memory. */
  maxErrors?: number;
}

/** Errors a report keeps unless `maxErrors` says otherwise. */
export const MAX_KEPT_ERRORS = 10_000;

/**
 * Checks an audit trail one record at a time, so a log of any size can be
 * streamed through it. {@link verifyAudit} is the one-call form.
 */
export class AuditVerifier {
  readonly #allowed: ReadonlySet<string>;
  readonly #states: ReadonlySet<string>;
  readonly #final: ReadonlySet<string>;
  readonly #initial: string;
  readonly #msg: string;
  readonly #idField: string;
  readonly #parseErrors: boolean;
  readonly #tracks = new Map<string, ConnectionTrack>();
  readonly #errors: AuditError[] = [];
  readonly #maxErrors: number;
  readonly #errorsByKind: Partial<Record<AuditErrorKind, number>> = {};
  #errorCount = 0;
  #transitions = 0;
  #line = 0;

  /**
   * @param {AuditVerifierOptions} [options] Which machine the trail comes from
   * @throws {Error} If that machine has no audited initial state
   */
  constructor(options: AuditVerifierOptions = {}) {
    const lifecycle = options.lifecycle ?? lifecycleChart();
    const initial = lifecycle.find((state) => state.initial);
    if (!initial) throw new Error('The machine has no audited initial state');
    this.#initial = initial.name;
    this.#allowed = allowedTransitions(lifecycle);
    this.#states = new Set(lifecycle.map((state) => state.name));
    this.#final = new Set(lifecycle.filter((state) => state.final).map((state) => state.name));
    this.#msg = options.msg ?? 'transition';
    this.#idField = options.idField ?? 'connectionId';
    this.#parseErrors = options.parseErrors ?? true;
    this.#maxErrors = options.maxErrors ?? MAX_KEPT_ERRORS;
  }

  /**
   * Read the next line of JSON-lines text. Blank lines are skipped but
   * counted, so line numbers match the file.
   *
   * @param {string} text One line, without its newline
   */
  pushLine(text: string): void {
    const line = ++this.#line;
    if (text.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      if (this.#parseErrors) this.#error(line, null, 'parse', `not valid JSON (${(error as Error).message}): ${preview(text)}`);
      return;
    }
    this.#check(line, value, text);
  }

  /**
   * Read the next record, already parsed.
   *
   * @param {unknown} record A log record; skipped unless `msg` is `"transition"`
   */
  pushRecord(record: unknown): void {
    this.#check(++this.#line, record, undefined);
  }

  /** The report on everything pushed so far. */
  report(): AuditReport {
    const open: OpenConnection[] = [];
    for (const [connectionId, track] of this.#tracks) {
      if (!track.reachedClosed) {
        open.push({ connectionId, userId: track.userId, state: track.state, lastSeq: track.seq, lastLine: track.line });
      }
    }
    return {
      ok: this.#errorCount === 0,
      connections: this.#tracks.size,
      transitions: this.#transitions,
      errors: this.#errors.slice(),
      errorCount: this.#errorCount,
      errorsByKind: { ...this.#errorsByKind },
      open
    };
  }

  #check(line: number, value: unknown, text: string | undefined): void {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      if (this.#parseErrors) this.#error(line, null, 'parse', `not a JSON object: ${preview(text ?? String(JSON.stringify(value)))}`);
      return;
    }
    const record = value as AuditInputRecord;
    if (record.msg !== this.#msg) return;
    const raw = record as Record<string, unknown>;
    const problem = recordProblem({ ...record, connectionId: raw[this.#idField] }, this.#states, this.#idField);
    if (problem !== undefined) {
      const candidate = raw[this.#idField];
      const id = typeof candidate === 'string' && candidate !== '' ? candidate : null;
      this.#error(line, id, 'invalid_record', `transition record: ${problem}`);
      return;
    }
    this.#transitions++;
    this.#replay(line, { ...(record as unknown as TransitionFields), connectionId: raw[this.#idField] as string });
  }

  #replay(line: number, { connectionId: id, seq, from, event, to, userId }: TransitionFields): void {
    let track = this.#tracks.get(id);
    // After a gap the records in between are unknown, so the chain from the last one is not checked.
    let chained = true;
    if (track === undefined) {
      track = { userId: undefined, state: this.#initial, seq: 0, line, reachedClosed: false };
      this.#tracks.set(id, track);
    }
    if (seq <= track.seq) {
      this.#error(line, id, 'seq_repeat', `seq ${seq} repeated or out of order (the previous record, line ${track.line}, has seq ${track.seq})`);
      return;
    }
    if (seq > track.seq + 1) {
      const missing = seq - track.seq - 1;
      const records = `${missing} record${missing === 1 ? '' : 's'} missing`;
      const message =
        track.seq === 0
          ? `first record has seq ${seq}, not 1: ${records}`
          : `seq ${seq} follows seq ${track.seq} (line ${track.line}): ${records}`;
      this.#error(line, id, 'seq_gap', message);
      chained = false;
    }
    if (chained && from !== track.state) {
      if (track.seq === 0) {
        this.#error(line, id, 'bad_start', `first transition starts from ${from}, not the initial state ${this.#initial}`);
      } else {
        this.#error(line, id, 'broken_chain', `transition starts from ${from}, but line ${track.line} left it in ${track.state}`);
      }
    }
    if (!this.#allowed.has(transitionKey(from, event, to))) {
      this.#error(line, id, 'disallowed', `the machine has no transition ${from} --${event}--> ${to}`);
    }
    track.state = to;
    track.seq = seq;
    track.line = line;
    if (typeof userId === 'string') track.userId = userId;
    if (this.#final.has(to)) track.reachedClosed = true;
  }

  #error(line: number, connectionId: string | null, kind: AuditErrorKind, message: string): void {
    this.#errorCount++;
    this.#errorsByKind[kind] = (this.#errorsByKind[kind] ?? 0) + 1;
    if (this.#errors.length < this.#maxErrors) this.#errors.push({ line, connectionId, kind, message });
  }
}

/** Why a `transition` record cannot be replayed, or `undefined` if it can. */
function recordProblem(record: AuditInputRecord, states: ReadonlySet<string>, idField: string): string | undefined {
  const { connectionId, seq, from, to, event } = record;
  if (typeof connectionId !== 'string' || connectionId === '') {
    return `${idField} ${JSON.stringify(connectionId)} is not a non-empty string`;
  }
  if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 1) return `seq ${JSON.stringify(seq)} is not a positive integer`;
  if (typeof from !== 'string' || !states.has(from)) return `from ${JSON.stringify(from)} is not a state`;
  if (typeof to !== 'string' || !states.has(to)) return `to ${JSON.stringify(to)} is not a state`;
  if (typeof event !== 'string' || event === '') return `event ${JSON.stringify(event)} is not a non-empty string`;
  return undefined;
}

/** At most 80 characters of a bad line, for error messages. */
function preview(text: string): string {
  const trimmed = text.trim();
  return JSON.stringify(trimmed.length > 80 ? `${trimmed.slice(0, 77)}...` : trimmed);
}

/**
 * Verify an audit trail: replay each connection's transition records
 * through the connection machine. The first record of a connection must
 * leave `connecting`, each `from` must be the previous `to`, each
 * (from, event, to) must be a transition of the machine, and `seq` must
 * count up by one from 1. Connections that never reach `closed` are listed
 * in `open`, which is not an error.
 *
 * @param {AuditInput} input JSON-lines text, an iterable of lines, or an
 *   iterable of parsed records (line numbers are then 1-based indices)
 * @param {AuditVerifierOptions} [options] Which machine the trail comes from
 * @returns {AuditReport} `ok` with counts, errors (each with its line) and open connections
 */
export function verifyAudit(input: AuditInput, options?: AuditVerifierOptions): AuditReport {
  const verifier = new AuditVerifier(options);
  const items: Iterable<string | AuditInputRecord> = typeof input === 'string' ? input.split(/\r?\n/) : input;
  for (const item of items) {
    if (typeof item === 'string') verifier.pushLine(item);
    else verifier.pushRecord(item);
  }
  return verifier.report();
}
