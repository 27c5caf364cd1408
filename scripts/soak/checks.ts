/**
 * The soak's verdicts. Each check is a pure function of numbers the run
 * collected, so the checks themselves can be tested on fabricated states.
 */
import type { StateCounts } from '../../src/index.js';
import type { LedgerSummary } from './ledger.js';

/** Every check a soak run makes, in the order it prints them. */
export const CHECK_NAMES = [
  'no send after close',
  'sends settled once',
  'fan-out reports complete',
  'refusals as expected',
  'registry empty',
  'heap returned',
  'client exited',
  'no handles left',
  'workload exercised'
] as const;

export type CheckName = (typeof CHECK_NAMES)[number];

/** One verdict, with the numbers behind it. */
export interface CheckResult {
  name: CheckName;
  ok: boolean;
  detail: string;
}

/** A count of bad events plus a few examples. */
export interface Violations {
  /** Operations inspected. */
  checked: number;
  /** How many were wrong. */
  wrong: number;
  /** The first few, described. */
  samples: readonly string[];
}

/** What the registry and the close events looked like once the run was over. */
export interface RegistryState {
  size: number;
  counts: StateCounts;
  /** `connection` events the manager emitted. */
  accepted: number;
  /** `close` events the manager emitted. */
  closeEvents: number;
  /** `close` events for a connection already closed. */
  closedTwice: number;
  /** Connections the workload still holds as live. */
  tracked: number;
  /** Sockets the `WebSocketServer` still tracks. */
  serverClients: number;
}

/** How the client process ended. */
export interface ClientExit {
  code: number | null;
  signal: string | null;
  /** False when it had to be killed after the stop deadline. */
  exitedBySelf: boolean;
}

/** Collects {@link Violations}: every check counted, the first few failures kept. */
export class ViolationLog implements Violations {
  checked = 0;
  wrong = 0;
  readonly samples: string[] = [];

  /**
   * @param {boolean} ok Whether this one was right
   * @param {() => string} describe Called only for the first few failures
   */
  record(ok: boolean, describe: () => string): void {
    this.checked++;
    if (ok) return;
    this.wrong++;
    if (this.samples.length < 10) this.samples.push(describe());
  }
}

function result(name: CheckName, ok: boolean, detail: string): CheckResult {
  return { name, ok, detail };
}

function describeViolations(v: Violations, what: string): string {
  const head = `${v.wrong} ${what} in ${v.checked} checked`;
  return v.samples.length === 0 ? head : `${head}; e.g. ${v.samples.slice(0, 3).join(' | ')}`;
}

/**
 * No write or ping reached a socket that was not OPEN, or a connection that
 * was not `connected`, and ws never answered "not open".
 *
 * @param {Violations} writes What the socket probe saw
 * @returns {CheckResult} The verdict
 */
export function checkNoSendAfterClose(writes: Violations): CheckResult {
  return result('no send after close', writes.wrong === 0, describeViolations(writes, 'writes on a non-open socket'));
}

/**
 * Every tracked operation settled, and none settled twice.
 *
 * @param {Record<string, LedgerSummary>} ledgers One ledger per kind of operation
 * @returns {CheckResult} The verdict
 */
export function checkSendsSettled(ledgers: Readonly<Record<string, LedgerSummary>>): CheckResult {
  const bad: string[] = [];
  let created = 0;
  for (const [kind, l] of Object.entries(ledgers)) {
    created += l.created;
    if (l.pending !== 0 || l.extraSettles !== 0 || l.settled !== l.created) {
      bad.push(`${kind}: created ${l.created}, settled ${l.settled}, pending ${l.pending}, settled again ${l.extraSettles}`);
    }
  }
  const detail = bad.length === 0 ? `${created} operations in ${Object.keys(ledgers).length} kinds, each settled once` : bad.join('; ');
  return result('sends settled once', bad.length === 0 && created > 0, created > 0 ? detail : 'no operation was tracked');
}

/**
 * Each broadcast and sendToUser reported every target once: sent + rejected
 * equals the number of targets it had when called.
 *
 * @param {Violations} reports Reports checked and those that did not add up
 * @returns {CheckResult} The verdict
 */
export function checkFanOutReports(reports: Violations): CheckResult {
  return result('fan-out reports complete', reports.wrong === 0, describeViolations(reports, 'reports not adding up'));
}

/**
 * Sends whose refusal is known in advance got exactly that refusal: right
 * after a close (`closing`), after a terminate or from the transition
 * listener (`closing` / `closed`), to an unknown id (`not_found`), of an
 * unserializable value (`serialization_failed`).
 *
 * @param {Violations} refusals Sends with a known expected refusal
 * @returns {CheckResult} The verdict
 */
export function checkRefusals(refusals: Violations): CheckResult {
  return result(
    'refusals as expected',
    refusals.wrong === 0 && refusals.checked > 0,
    describeViolations(refusals, 'sends refused otherwise or not at all')
  );
}

/**
 * The manager holds no connection, its counts are back to zero but `closed`,
 * every accepted connection closed exactly once, and nothing else holds one.
 *
 * @param {RegistryState} r The state after the run
 * @returns {CheckResult} The verdict
 */
export function checkRegistryEmpty(r: RegistryState): CheckResult {
  const problems: string[] = [];
  if (r.size !== 0) problems.push(`manager.size ${r.size}`);
  for (const state of ['connecting', 'connected', 'closing'] as const) {
    if (r.counts[state] !== 0) problems.push(`counts.${state} ${r.counts[state]}`);
  }
  if (r.counts.closed !== r.accepted) problems.push(`counts.closed ${r.counts.closed} != accepted ${r.accepted}`);
  if (r.closeEvents !== r.accepted) problems.push(`close events ${r.closeEvents} != accepted ${r.accepted}`);
  if (r.closedTwice !== 0) problems.push(`${r.closedTwice} connections closed twice`);
  if (r.tracked !== 0) problems.push(`${r.tracked} connections still tracked by the workload`);
  if (r.serverClients !== 0) problems.push(`${r.serverClients} sockets still in wss.clients`);
  const ok = problems.length === 0;
  return result('registry empty', ok, ok ? `size 0, ${r.accepted} accepted = ${r.counts.closed} closed` : problems.join(', '));
}

/**
 * After GC the heap is at most `tolerance` above the baseline.
 *
 * @param {number} startBytes heapUsed at the baseline (after warm-up, drained, GC)
 * @param {number} endBytes heapUsed after the run (drained, GC)
 * @param {number} [tolerance=0.1] Allowed growth, as a fraction of the start
 * @returns {CheckResult} The verdict
 */
export function checkHeap(startBytes: number, endBytes: number, tolerance = 0.1): CheckResult {
  const growth = (endBytes - startBytes) / startBytes;
  const ok = Number.isFinite(growth) && growth <= tolerance;
  return result(
    'heap returned',
    ok,
    `${mib(startBytes)} -> ${mib(endBytes)} (${(growth * 100).toFixed(1)}%, limit +${(tolerance * 100).toFixed(0)}%)`
  );
}

/**
 * The client process stopped on its own with exit code 0.
 *
 * @param {ClientExit} exit How it ended
 * @returns {CheckResult} The verdict
 */
export function checkClientExit(exit: ClientExit): CheckResult {
  const ok = exit.exitedBySelf && exit.code === 0;
  const how = exit.exitedBySelf ? `exited with code ${exit.code}${exit.signal ? ` (${exit.signal})` : ''}` : 'did not exit; killed';
  return result('client exited', ok, how);
}

/**
 * Nothing keeps the event loop alive but the expected stdio handles.
 *
 * @param {readonly string[]} resources `process.getActiveResourcesInfo()`
 * @param {readonly string[]} allowed Resources that may remain (each at most as often as listed)
 * @returns {CheckResult} The verdict
 */
export function checkNoHandlesLeft(resources: readonly string[], allowed: readonly string[]): CheckResult {
  const budget = new Map<string, number>();
  for (const name of allowed) budget.set(name, (budget.get(name) ?? 0) + 1);
  const extra: string[] = [];
  for (const name of resources) {
    const left = budget.get(name) ?? 0;
    if (left > 0) budget.set(name, left - 1);
    else extra.push(name);
  }
  const listed = `[${resources.join(', ')}]`;
  return result('no handles left', extra.length === 0, extra.length === 0 ? `active: ${listed}` : `unexpected: [${extra.join(', ')}] in ${listed}`);
}

/**
 * Every kind of operation the soak is about happened at least once, so a
 * run that did nothing cannot pass.
 *
 * @param {Record<string, number>} counts How often each kind happened
 * @returns {CheckResult} The verdict
 */
export function checkWorkload(counts: Readonly<Record<string, number>>): CheckResult {
  const missing = Object.entries(counts)
    .filter(([, n]) => !(n > 0))
    .map(([kind]) => kind);
  const ok = missing.length === 0 && Object.keys(counts).length > 0;
  return result('workload exercised', ok, ok ? `${Object.keys(counts).length} kinds of operation seen` : `never happened: ${missing.join(', ') || 'anything'}`);
}

/**
 * One line per check, `PASS` or `FAIL`, then the verdict line.
 *
 * @param {readonly CheckResult[]} checks The results
 * @returns {string[]} Lines to print
 */
export function formatChecks(checks: readonly CheckResult[]): string[] {
  const lines = checks.map((c) => `${c.ok ? 'PASS' : 'FAIL'} ${c.name}: ${c.detail}`);
  const failed = checks.filter((c) => !c.ok).length;
  lines.push(failed === 0 ? `all ${checks.length} checks passed` : `${failed} of ${checks.length} checks failed`);
  return lines;
}

/** Bytes as MiB with one decimal. */
export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
