/**
 * What both conformance suites share (#24): a case is a named script with
 * a time limit; what it checks is a MUST (its breach fails the case) or a
 * SHOULD (its breach is a warning); the runner runs the cases, a few at a
 * time, never lets one outlive its limit or leave anything open, and
 * gathers a report. A case that throws fails with what it threw: nothing a
 * peer sends can crash the run.
 */

export type CaseStatus = 'pass' | 'fail' | 'warn' | 'skip';

export interface CaseResult {
  name: string;
  /** What the case checks, with the sections of docs/protocol.md. */
  title: string;
  status: CaseStatus;
  /** What was seen: every breach, and notes (untrusted text: the report escapes it). */
  notes: string[];
  ms: number;
}

export interface SuiteReport {
  suite: 'server' | 'client';
  /** The server's URL, or the client's command. */
  target: string;
  results: CaseResult[];
  ms: number;
}

/** Breaches kept per case: one broken rule should not bury the report. */
const MAX_NOTES = 30;

/** What a case records as it runs. */
export class Verdict {
  readonly notes: string[] = [];
  #failed = false;
  #warned = false;
  #skipped: string | undefined;
  #dropped = 0;
  readonly #cleanups: Array<() => unknown> = [];

  /** A MUST: false fails the case, with the message. */
  must(holds: boolean, message: string): boolean {
    if (!holds) {
      this.#failed = true;
      this.#note(`FAIL: ${message}`);
    }
    return holds;
  }

  /** A SHOULD: false makes the case a warning, with the message. */
  should(holds: boolean, message: string): boolean {
    if (!holds) {
      this.#warned = true;
      this.#note(`WARN: ${message}`);
    }
    return holds;
  }

  /** Something seen, for the report. */
  note(message: string): void {
    this.#note(message);
  }

  /** The case does not apply to this peer (say why); what it checked so far still counts. */
  skip(reason: string): void {
    this.#skipped = reason;
  }

  /** Run this when the case ends, however it ends (close a socket, end a process). */
  defer(cleanup: () => unknown): void {
    this.#cleanups.push(cleanup);
  }

  get status(): CaseStatus {
    if (this.#failed) return 'fail';
    if (this.#skipped !== undefined) return 'skip';
    return this.#warned ? 'warn' : 'pass';
  }

  /** The notes, with the skip reason and how many were left out. */
  finalNotes(): string[] {
    const notes = [...this.notes];
    if (this.#skipped !== undefined && !this.#failed) notes.unshift(`skipped: ${this.#skipped}`);
    if (this.#dropped > 0) notes.push(`... and ${this.#dropped} more`);
    return notes;
  }

  async cleanUp(): Promise<void> {
    for (const cleanup of this.#cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch {
        // A cleanup that fails leaves nothing a later case depends on: each case has its own sockets and names.
      }
    }
  }

  #note(message: string): void {
    if (this.notes.length < MAX_NOTES) this.notes.push(message);
    else this.#dropped++;
  }
}

/** One case of a suite, run against a context the suite makes per case. */
export interface SuiteCase<C> {
  name: string;
  title: string;
  /** Longest the case may take, in milliseconds. */
  timeoutMs: number;
  /** The case changes what every other case depends on (it makes the store unreachable): it runs last, alone. */
  exclusive?: boolean;
  run(context: C, verdict: Verdict): Promise<void>;
}

export interface RunOptions {
  /** Only the cases of these names (all when empty). */
  only?: readonly string[];
  /** Cases run at once. Default 1. */
  parallel?: number;
  /** Called once the peer was found and the cases start, with how many there are. */
  onStart?: (cases: number) => void;
  /** Called with each result as it comes. */
  onResult?: (result: CaseResult) => void;
}

/**
 * @param {readonly SuiteCase<C>[]} cases The suite
 * @param {(name: string, verdict: Verdict) => C} contextFor Makes a case's context
 * @param {RunOptions} options Which cases, how many at once
 * @returns {Promise<CaseResult[]>} One result per case run, in the suite's order
 * @throws {RangeError} Naming a case in `only` that the suite does not have
 */
export async function runCases<C>(
  cases: readonly SuiteCase<C>[],
  contextFor: (name: string, verdict: Verdict) => C,
  options: RunOptions = {}
): Promise<CaseResult[]> {
  const only = options.only ?? [];
  const unknown = only.filter((name) => !cases.some((c) => c.name === name));
  if (unknown.length > 0) throw new RangeError(`unknown case ${unknown.map((name) => JSON.stringify(name)).join(', ')} (cases: ${cases.map((c) => c.name).join(', ')})`);
  const chosen = only.length === 0 ? cases : cases.filter((c) => only.includes(c.name));
  options.onStart?.(chosen.length);
  const results = new Map<SuiteCase<C>, CaseResult>();
  const queue = chosen.filter((c) => c.exclusive !== true);
  const worker = async (): Promise<void> => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const result = await runCase(next, contextFor);
      results.set(next, result);
      options.onResult?.(result);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.parallel ?? 1, queue.length)) }, worker));
  for (const alone of chosen.filter((c) => c.exclusive === true)) {
    const result = await runCase(alone, contextFor);
    results.set(alone, result);
    options.onResult?.(result);
  }
  return chosen.map((c) => results.get(c)!);
}

async function runCase<C>(suiteCase: SuiteCase<C>, contextFor: (name: string, verdict: Verdict) => C): Promise<CaseResult> {
  const verdict = new Verdict();
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const context = contextFor(suiteCase.name, verdict);
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the case did not finish within ${suiteCase.timeoutMs} ms`)), suiteCase.timeoutMs);
    });
    await Promise.race([suiteCase.run(context, verdict), timedOut]);
  } catch (error) {
    verdict.must(false, error instanceof Error ? error.message : String(error));
  } finally {
    clearTimeout(timer);
    await verdict.cleanUp();
  }
  const ms = Math.round(performance.now() - started);
  return { name: suiteCase.name, title: suiteCase.title, status: verdict.status, notes: verdict.finalNotes(), ms };
}

/**
 * Poll until `predicate` holds, every 5 ms.
 *
 * @throws {Error} Naming `what` (a function: what it says then) after `timeoutMs`
 */
export async function until(predicate: () => boolean, timeoutMs: number, what: string | (() => string)): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${typeof what === 'string' ? what : what()}`);
    await sleep(5);
  }
}

/** Whether `predicate` came to hold within `ms` (polled every 5 ms): for what must not happen. */
export async function within(predicate: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() <= deadline) {
    if (predicate()) return true;
    await sleep(5);
  }
  return predicate();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
