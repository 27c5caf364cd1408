#!/usr/bin/env node
/**
 * The `ws-lifecycle` command: verify an audit trail against the machine,
 * generate or check the state charts, and run the conformance suites of
 * the session protocol (src/tools/conformance/command.ts).
 *
 * Exit codes: 0 success (consistent trail, current charts, every case
 * passed), 1 the check failed (inconsistent trail, stale charts, a case
 * failed), 2 usage error or input that cannot be read (a missing file,
 * lines that are not JSON, a peer that cannot be reached or started).
 * Failures print one line, never a stack trace.
 */
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { sessionMachine } from '../../machines/session.machine.js';
import { AuditVerifier, MAX_KEPT_ERRORS, type AuditReport } from './audit/verify.js';
import { lifecycleChart, readChart } from '../core/machine-graph.js';
import { CHART_FORMATS, isChartFormat, renderChart, staleCharts, writeCharts, type ChartFormat } from './chart/index.js';
import { printable } from './conformance/report.js';

const USAGE = `Usage:
  ws-lifecycle audit verify FILE.jsonl [--json]   replay an audit trail (pino JSON lines; - for stdin)
  ws-lifecycle chart [--format F]... [--out DIR] [--check]
      F: ${CHART_FORMATS.join('|')} (default: all); without --out, one format is printed
      --check compares with the files in DIR and names the stale ones
  ws-lifecycle conformance server WS_URL --control HTTP_URL [--token T] [options]
      drive a session server through its control endpoint (token also from $WSL_CONFORMANCE_TOKEN)
  ws-lifecycle conformance client [options] -- COMMAND [ARG]...
      run a client once per case against a scripted server
      options of both: --case NAME (repeatable), --parallel N (default 4), --json
      (docs/conformance.md says what each case checks and how a peer takes part)
Exit: 0 ok, 1 inconsistent trail, stale charts or a failed case, 2 usage error or unreadable
input (a missing file, a line that is not JSON, a peer that cannot be reached or started).`;

/** Most errors printed for one trail; `--json` prints the first MAX_KEPT_ERRORS. */
const MAX_PRINTED_ERRORS = 100;

function help(): number {
  process.stdout.write(`${USAGE}\n`);
  return 0;
}

/** A mistake in the command line: exit 2 with the usage. */
class UsageError extends Error {}

/** Input that cannot be read: exit 2 with the message alone. */
class InputError extends Error {}

async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  const before = args.includes('--') ? args.slice(0, args.indexOf('--')) : args;
  if (command === 'help' || before.includes('--help') || before.includes('-h')) return help();
  if (command === 'audit') {
    const [sub, ...options] = rest;
    if (sub !== 'verify') throw new UsageError(`unknown audit command: ${sub === undefined ? '(none)' : JSON.stringify(sub)} (expected verify)`);
    return auditVerify(options);
  }
  if (command === 'chart') return chart(rest);
  if (command === 'conformance') {
    // Loaded only for this command: the others need no WebSocket.
    const { conformanceCommand } = await import('./conformance/command.js');
    return conformanceCommand(rest, (text) => process.stdout.write(text));
  }
  throw new UsageError(command === undefined ? 'no command given' : `unknown command: ${JSON.stringify(command)}`);
}

/** `parseArgs`, with its errors turned into usage errors. */
function parse<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

async function auditVerify(args: string[]): Promise<number> {
  const { values, positionals } = parse({ args, options: { json: { type: 'boolean' } }, allowPositionals: true, strict: true });
  if (positionals.length !== 1) {
    throw new UsageError(`audit verify takes one FILE, got ${positionals.length === 0 ? 'none' : positionals.map((p) => JSON.stringify(p)).join(' ')}`);
  }
  const file = positionals[0]!;
  const { report, sessions } = await verifyFile(file);
  if (values.json) process.stdout.write(`${JSON.stringify(sessions.transitions > 0 ? { ...report, sessions } : report, null, 2)}\n`);
  else {
    process.stdout.write(describe(file, report));
    if (sessions.transitions > 0 || sessions.errors.length > 0) process.stdout.write(describe(file, sessions, 'session'));
  }
  if (report.ok && sessions.ok) return 0;
  // Lines that are not JSON make the input unreadable, whatever else it holds.
  return unreadableLines(report) > 0 ? 2 : 1;
}

function unreadableLines(report: AuditReport): number {
  return report.errorsByKind.parse ?? 0;
}

/** Stream a JSON-lines file (or stdin for `-`) through the verifiers of both machines, one line at a time. */
async function verifyFile(file: string): Promise<{ report: AuditReport; sessions: AuditReport }> {
  const connections = new AuditVerifier();
  const sessionVerifier = new AuditVerifier({
    lifecycle: lifecycleChart(readChart(sessionMachine)),
    msg: 'session transition',
    idField: 'sessionId',
    parseErrors: false
  });
  const verifier = {
    pushLine(line: string) {
      connections.pushLine(line);
      sessionVerifier.pushLine(line);
    }
  };
  try {
    if (file === '-') {
      for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) verifier.pushLine(line);
    } else {
      const handle = await open(file);
      try {
        if ((await handle.stat()).isDirectory()) throw new InputError(`cannot read ${file}: it is a directory`);
        for await (const line of handle.readLines({ encoding: 'utf8' })) verifier.pushLine(line);
      } finally {
        await handle.close().catch(() => {});
      }
    }
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError(`cannot read ${file}: ${describeIoError(error)}`);
  }
  return { report: connections.report(), sessions: sessionVerifier.report() };
}

function describeIoError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES') return 'permission denied';
  if (code === 'EISDIR') return 'it is a directory';
  return (error as Error).message;
}

/** The human-readable report: one line per error, then a summary. */
function describe(file: string, report: AuditReport, kind: 'connection' | 'session' = 'connection'): string {
  const lines = report.errors
    .slice(0, MAX_PRINTED_ERRORS)
    .map((e) => `${file}:${e.line}: ${e.kind}${e.connectionId === null ? '' : ` [${e.connectionId}]`}: ${e.message}`);
  if (report.errorCount > MAX_PRINTED_ERRORS) {
    lines.push(`... ${report.errorCount - MAX_PRINTED_ERRORS} more errors (--json lists the first ${MAX_KEPT_ERRORS.toLocaleString('en-US')})`);
  }
  const counts = `${report.transitions} ${kind === 'session' ? 'session ' : ''}transition${report.transitions === 1 ? '' : 's'} of ${report.connections} ${kind}${report.connections === 1 ? '' : 's'}`;
  const open =
    report.open.length === 0
      ? ''
      : `; ${report.open.length} still open: ${report.open
        .slice(0, 10)
        .map((o) => `${o.connectionId} (${o.state}, line ${o.lastLine})`)
        .join(', ')}${report.open.length > 10 ? ', ...' : ''}`;
  const unreadable = unreadableLines(report);
  const verdict = report.ok
    ? `${file}: consistent: ${counts}${open}`
    : unreadable > 0
      ? `${file}: UNREADABLE: ${unreadable} line${unreadable === 1 ? ' is' : 's are'} not JSON; ${report.errorCount} error${report.errorCount === 1 ? '' : 's'} in ${counts}${open}`
      : `${file}: INCONSISTENT: ${report.errorCount} error${report.errorCount === 1 ? '' : 's'} in ${counts}${open}`;
  lines.push(verdict);
  if (kind === 'connection' && report.transitions === 0 && report.errorCount === 0) lines.push(`${file}: no transition records found (is the audit logged at info?)`);
  return `${lines.map(printable).join('\n')}\n`;
}

async function chart(args: string[]): Promise<number> {
  const { values, positionals } = parse({
    args,
    options: { format: { type: 'string', multiple: true }, out: { type: 'string' }, check: { type: 'boolean' } },
    allowPositionals: true,
    strict: true
  });
  if (positionals.length > 0) throw new UsageError(`chart takes no arguments, got ${JSON.stringify(positionals[0])}`);
  const formats = chartFormats(values.format ?? []);
  const out = values.out;
  if (values.check) {
    if (out === undefined) throw new UsageError('--check needs --out DIR (the directory holding the charts)');
    const stale = await staleCharts(out, formats);
    if (stale.length === 0) {
      process.stdout.write(`charts in ${out} are current\n`);
      return 0;
    }
    process.stdout.write(`stale charts (run \`npm run charts\` or ws-lifecycle chart --out ${out}): ${stale.join(', ')}\n`);
    return 1;
  }
  if (out === undefined) {
    if (formats.length !== 1) throw new UsageError('give --out DIR to write several charts, or one --format to print it');
    process.stdout.write(await renderChart(formats[0]!));
    return 0;
  }
  for (const path of await writeCharts(out, formats)) process.stdout.write(`wrote ${path}\n`);
  return 0;
}

/** `--format` values (repeatable, or comma-separated); none means all. */
function chartFormats(values: string[]): ChartFormat[] {
  const names = values.flatMap((value) => value.split(','));
  if (names.length === 0) return [...CHART_FORMATS];
  const formats: ChartFormat[] = [];
  for (const name of names) {
    if (!isChartFormat(name)) throw new UsageError(`unknown chart format: ${JSON.stringify(name)} (expected ${CHART_FORMATS.join(', ')})`);
    if (!formats.includes(name)) formats.push(name);
  }
  return formats;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    const hint = error instanceof UsageError || (error instanceof Error && error.name === 'ConformanceUsageError') ? ' (ws-lifecycle --help shows the usage)' : '';
    process.stderr.write(`ws-lifecycle: ${printable(message)}${hint}\n`);
    process.exitCode = 2;
  }
);
