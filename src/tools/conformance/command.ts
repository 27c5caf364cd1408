/**
 * `ws-lifecycle conformance server|client` (#24): reads the command line,
 * runs a suite, prints a line per case as it ends and a summary (or one
 * JSON object with `--json`). Exit codes: 0 every case passed (warnings
 * and skips allowed), 1 a case failed, 2 a usage error or a peer that
 * cannot be reached or started (thrown as {@link ConformanceUsageError} or
 * {@link ConformanceInputError}, for cli.ts to print).
 */
import { parseArgs } from 'node:util';
import { ClientCommandError, CLIENT_SUITE, runClientSuite } from './client-suite.js';
import { ControlError } from './control-client.js';
import { caseLines, heading, jsonReport, summaryLine } from './report.js';
import { runServerSuite, SERVER_SUITE, ServerUnreachableError } from './server-suite.js';
import type { CaseResult, RunOptions, SuiteReport } from './suite.js';

/** A mistake in the command line (cli.ts adds where the usage is). */
export class ConformanceUsageError extends Error {
  override readonly name = 'ConformanceUsageError';
}
/** A peer that cannot be reached or started: nothing was tested. */
export class ConformanceInputError extends Error {
  override readonly name = 'ConformanceInputError';
}

/**
 * @param {string[]} args The words after `conformance`
 * @param {(text: string) => void} write Where the report goes (stdout)
 * @returns {Promise<number>} The exit code
 */
export async function conformanceCommand(args: readonly string[], write: (text: string) => void): Promise<number> {
  const [suite, ...rest] = args;
  if (suite !== 'server' && suite !== 'client') {
    throw new ConformanceUsageError(`unknown conformance suite: ${suite === undefined ? '(none)' : JSON.stringify(suite)} (expected server or client)`);
  }
  const split = rest.indexOf('--');
  const optionWords = suite === 'client' && split >= 0 ? rest.slice(0, split) : rest;
  let parsed;
  try {
    parsed = parseArgs({
      args: [...optionWords],
      options: {
        control: { type: 'string' },
        token: { type: 'string' },
        case: { type: 'string', multiple: true },
        parallel: { type: 'string' },
        json: { type: 'boolean' }
      },
      allowPositionals: true,
      strict: true
    });
  } catch (error) {
    throw new ConformanceUsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  const parallel = Number(values.parallel ?? 4);
  if (!Number.isInteger(parallel) || parallel < 1 || parallel > 32) throw new ConformanceUsageError(`--parallel must be an integer from 1 to 32, got ${JSON.stringify(values.parallel)}`);
  const only = values.case ?? [];
  const known = (suite === 'server' ? SERVER_SUITE : CLIENT_SUITE).map((c) => c.name);
  const unknown = only.filter((name) => !known.includes(name));
  if (unknown.length > 0) throw new ConformanceUsageError(`unknown case ${unknown.map((name) => JSON.stringify(name)).join(', ')} (the ${suite} suite has ${known.join(', ')})`);
  const json = values.json === true;
  const printing = (target: string): RunOptions => json ? {} : {
    onStart: (cases) => write(heading({ suite, target }, cases)),
    onResult: (result: CaseResult) => write(caseLines(result))
  };
  let report: SuiteReport;
  if (suite === 'server') {
    if (positionals.length !== 1) throw new ConformanceUsageError(`conformance server takes one WS_URL, got ${positionals.length === 0 ? 'none' : positionals.map((p) => JSON.stringify(p)).join(' ')}`);
    const control = values.control;
    const token = values.token ?? process.env.WSL_CONFORMANCE_TOKEN;
    for (const [name, url, schemes] of [['WS_URL', positionals[0]!, ['ws:', 'wss:']], ['--control', control, ['http:', 'https:']]] as const) {
      if (url === undefined) continue;
      let scheme: string;
      try {
        scheme = new URL(url).protocol;
      } catch {
        throw new ConformanceUsageError(`${name} is not a URL: ${JSON.stringify(url)}`);
      }
      if (!(schemes as readonly string[]).includes(scheme)) throw new ConformanceUsageError(`${name} must be ${schemes.join(' or ')}, got ${JSON.stringify(url)}`);
    }
    if (control === undefined) throw new ConformanceUsageError('conformance server needs --control HTTP_URL (the control endpoint, docs/conformance.md)');
    if (token === undefined) throw new ConformanceUsageError('conformance server needs --token T or $WSL_CONFORMANCE_TOKEN (the control endpoint\'s token)');
    try {
      report = await runServerSuite({ url: positionals[0]!, control, token, only, parallel, ...printing(positionals[0]!) });
    } catch (error) {
      if (error instanceof ControlError || error instanceof ServerUnreachableError) throw new ConformanceInputError(error.message);
      throw error;
    }
  } else {
    const command = split >= 0 ? rest.slice(split + 1) : [];
    if (command.length === 0) throw new ConformanceUsageError('conformance client needs the client\'s command after --, e.g. -- python3 examples/python/session_client.py');
    if (positionals.length > 0) throw new ConformanceUsageError(`conformance client takes its command after --, got ${positionals.map((p) => JSON.stringify(p)).join(' ')} before it`);
    try {
      report = await runClientSuite({ command, only, parallel, ...printing(command.join(' ')) });
    } catch (error) {
      if (error instanceof ClientCommandError) throw new ConformanceInputError(error.message);
      throw error;
    }
  }
  write(json ? jsonReport(report) : summaryLine(report));
  return report.results.some((result) => result.status === 'fail') ? 1 : 0;
}
