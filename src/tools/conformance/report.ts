/**
 * The conformance report (#24): a line per case (PASS, FAIL, WARN, SKIP,
 * its name, its time, what it checks), what was seen under each case that
 * did not pass, and a summary; or the same as JSON for machines. What a
 * peer under test sent is untrusted: nothing of it reaches the terminal
 * unescaped.
 */
import type { CaseResult, CaseStatus, SuiteReport } from './suite.js';

/**
 * Characters a terminal acts on instead of showing (C0 and C1 controls,
 * DEL, line and paragraph separators, bidirectional overrides): an escape
 * sequence in a peer's frame or a trail's id would otherwise rewrite the
 * terminal that shows the report.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNPRINTABLE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
// eslint-disable-next-line no-control-regex -- the same, with tab and newline: a note is one line
const UNPRINTABLE_IN_LINE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * @param {string} text Text that may come from a peer or a file
 * @returns {string} The same, each unprintable character shown as `\u{...}`
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
}

/** Like {@link printable}, and a newline or tab too: the result is one line. */
function oneLine(text: string): string {
  return text.replace(UNPRINTABLE_IN_LINE, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
}

const LABEL: Readonly<Record<CaseStatus, string>> = { pass: 'PASS', fail: 'FAIL', warn: 'WARN', skip: 'SKIP' };
/** A note longer than this is cut: a peer may send megabytes in one frame. */
const MAX_NOTE = 400;

export function summary(results: readonly CaseResult[]): Record<CaseStatus, number> {
  const counts: Record<CaseStatus, number> = { pass: 0, fail: 0, warn: 0, skip: 0 };
  for (const result of results) counts[result.status]++;
  return counts;
}

/**
 * @param {CaseResult} result One case
 * @returns {string} Its line, and its notes under it when it did not pass
 */
export function caseLines(result: CaseResult): string {
  const seconds = `${(result.ms / 1000).toFixed(1)} s`.padStart(7);
  const lines = [`${LABEL[result.status]}  ${oneLine(result.name).padEnd(22)}${seconds}  ${oneLine(result.title)}`];
  if (result.status !== 'pass') {
    for (const note of result.notes) lines.push(`      ${oneLine(note.length > MAX_NOTE ? `${note.slice(0, MAX_NOTE)}...` : note)}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * @param {SuiteReport} report A suite's run
 * @returns {string} The heading and the summary line (the case lines are printed as each case ends)
 */
export function heading(report: Pick<SuiteReport, 'suite' | 'target'>, cases: number): string {
  return `ws-lifecycle conformance ${report.suite} ${oneLine(report.target)} (${cases} case${cases === 1 ? '' : 's'})\n`;
}

export function summaryLine(report: SuiteReport): string {
  const counts = summary(report.results);
  const verdict = counts.fail > 0 ? 'FAILED' : 'PASSED';
  return `${verdict}: ${counts.pass} passed, ${counts.fail} failed, ${counts.warn} with warnings, ${counts.skip} skipped in ${(report.ms / 1000).toFixed(1)} s\n`;
}

/** The whole report as one line of JSON, with every unprintable character escaped (still valid JSON). */
export function jsonReport(report: SuiteReport): string {
  const text = JSON.stringify({ ...report, summary: summary(report.results) });
  return `${text.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}\n`;
}
