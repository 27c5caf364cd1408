/**
 * The `ws-lifecycle` command, spawned as a process (through tsx, so it runs
 * the source under test): exit codes 0, 1 and 2, one-line errors, no
 * stack traces.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { WebSocketServer } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHART_FORMATS, chartFile } from '../../src/tools/chart/index.js';
import { verifyAudit } from '../../src/tools/audit/verify.js';
import { recordAuditRun, type AuditRun } from './audit/scenario.js';
import { startServer, waitFor } from '../support/server.js';
import { isWelcome, openSessionClient } from '../support/session-client.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'src', 'tools', 'cli.ts');

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Debian's Python, which has python3-websockets (the first python3 on PATH may not). */
const PYTHON = '/usr/bin/python3';

/** Run the CLI to completion (bounded by a timeout); never rejects. */
function cli(args: string[], stdin = '', env: Record<string, string> = {}): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: ROOT, timeout: 20_000, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

/** A failure is one line on stderr naming the problem, with no stack trace. */
function expectOneLineError(outcome: Outcome, pattern: RegExp): void {
  expect(outcome.code).toBe(2);
  expect(outcome.stdout).toBe('');
  expect(outcome.stderr).toMatch(/^ws-lifecycle: [^\n]+\n$/);
  expect(outcome.stderr).toMatch(pattern);
}

let run: AuditRun;
let clean: string;
let broken: string;
let garbage: string;
let lines: string[];

beforeAll(async () => {
  run = await recordAuditRun(false);
  clean = run.auditFile;
  lines = (await readFile(clean, 'utf8')).split('\n').filter((line) => line !== '');
  broken = join(run.dir, 'broken.jsonl');
  // Drop the second record: the third then jumps from seq 1 to seq 3.
  const second = lines.findIndex((line) => line.includes('"seq":2,'));
  await writeFile(broken, lines.filter((_, i) => i !== second).join('\n') + '\n');
  garbage = join(run.dir, 'garbage.jsonl');
  await writeFile(garbage, [lines[0], '<html>not a log</html>', lines[1]!.slice(0, 30)].join('\n'));
});
afterAll(() => run.cleanup());

describe.concurrent('ws-lifecycle audit verify', () => {
  it('exits 0 on a consistent trail', async () => {
    const outcome = await cli(['audit', 'verify', clean]);
    expect(outcome).toEqual({ code: 0, stderr: '', stdout: `${clean}: consistent: ${run.emitted.length} transitions of 7 connections\n` });
  });

  it('exits 1 on a trail with a record missing, naming the line', async () => {
    const outcome = await cli(['audit', 'verify', broken]);
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toBe('');
    expect(outcome.stdout).toMatch(new RegExp(`^${broken}:\\d+: seq_gap \\[conn-\\d\\]: seq 3 follows seq 1 \\(line \\d+\\): 1 record missing\n`));
    expect(outcome.stdout).toContain(`${broken}: INCONSISTENT: 1 error in `);
  });

  it('exits 2 on garbage and truncated JSON, naming each line', async () => {
    const outcome = await cli(['audit', 'verify', garbage]);
    expect(outcome.code).toBe(2);
    expect(outcome.stdout).toContain(`${garbage}: UNREADABLE: 2 lines are not JSON; `);
    expect(outcome.stderr).toBe('');
    expect(outcome.stdout).toMatch(new RegExp(`^${garbage}:2: parse: not valid JSON .*"<html>not a log</html>"\n${garbage}:3: parse: not valid JSON`));
  });

  it('prints the whole report as JSON with --json', async () => {
    const outcome = await cli(['audit', 'verify', '--json', broken]);
    expect(outcome.code).toBe(1);
    expect(JSON.parse(outcome.stdout)).toEqual(verifyAudit(await readFile(broken, 'utf8')));
  });

  it('reads standard input for -', async () => {
    const outcome = await cli(['audit', 'verify', '-'], lines.join('\n'));
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).toMatch(/^-: consistent: /);
  });

  it('exits 2 with one line when the file cannot be read', async () => {
    expectOneLineError(await cli(['audit', 'verify', join(run.dir, 'missing.jsonl')]), /cannot read .*missing\.jsonl: no such file/);
    expectOneLineError(await cli(['audit', 'verify', run.dir]), /cannot read .*: it is a directory/);
  });

  it.each([
    [[], /no command given/],
    [['frobnicate'], /unknown command: "frobnicate"/],
    [['audit', 'verify'], /takes one FILE, got none/],
    [['audit', 'verify', '--bogus', 'a.jsonl'], /Unknown option '--bogus'/],
    [['chart', '--format', 'png'], /unknown chart format: "png"/],
    [['chart', '--check'], /--check needs --out DIR/],
    [['chart'], /give --out DIR to write several charts/]
  ])('exits 2 with one line for the usage error %j', async (args, pattern) => {
    expectOneLineError(await cli(args), pattern);
  });
});

describe('ws-lifecycle help', () => {
  it('prints the usage on stdout and exits 0', async () => {
    const outcome = await cli(['chart', '--help']);
    expect(outcome.code).toBe(0);
    expect(outcome.stderr).toBe('');
    expect(outcome.stdout).toMatch(/^Usage:\n {2}ws-lifecycle audit verify FILE\.jsonl/);
  });
});

describe.concurrent('ws-lifecycle chart', () => {
  it('prints one format to stdout', async () => {
    const outcome = await cli(['chart', '--format', 'mermaid']);
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).toBe(await readFile(join(ROOT, 'docs', chartFile('connection', 'mermaid')), 'utf8'));
  });

  it('finds docs/ current with --check', async () => {
    const outcome = await cli(['chart', '--out', 'docs', '--check']);
    expect(outcome).toEqual({ code: 0, stdout: 'charts in docs are current\n', stderr: '' });
  });

  it('writes every format, then --check names the files that went stale', async () => {
    const out = join(run.dir, 'charts');
    await mkdir(out);
    const written = await cli(['chart', '--out', out]);
    expect(written.code).toBe(0);
    for (const format of CHART_FORMATS) {
      expect(await readFile(join(out, chartFile('connection', format)), 'utf8')).toBe(await readFile(join(ROOT, 'docs', chartFile('connection', format)), 'utf8'));
    }
    await writeFile(join(out, chartFile('connection', 'dot')), 'digraph edited {}\n');
    await rm(join(out, chartFile('connection', 'scxml')));
    const checked = await cli(['chart', '--out', out, '--check']);
    expect(checked.code).toBe(1);
    expect(checked.stdout).toContain(`${join(out, chartFile('connection', 'scxml'))}, ${join(out, chartFile('connection', 'dot'))}`);
    expect(checked.stdout).not.toContain(chartFile('connection', 'mermaid'));
    // --format limits the check to the files named.
    expect((await cli(['chart', '--out', out, '--check', '--format', 'mermaid,svg'])).code).toBe(0);
  });
});

describe('audit verify checks session trails too', () => {
  it('passes a real session trail and names the line of a forged session transition', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ws-lifecycle-sessions-'));
    try {
      const file = join(dir, 'audit.jsonl');
      const audit = pino.destination({ dest: file, sync: true });
      const server = await startServer({ heartbeatIntervalMs: 0, audit, sessions: { ttlMs: 50 } });
      const client = await openSessionClient(server.port, 'alice');
      client.hello();
      await client.next(isWelcome, 'welcome');
      client.ws.close();
      await client.closed;
      await waitFor(() => server.manager.sessions === 0, 5_000, 'the session to expire');
      await server.stop();
      audit.flushSync();

      const ok = await cli(['audit', 'verify', file]);
      expect(ok.code).toBe(0);
      expect(ok.stdout).toContain('consistent: 2 session transitions of 1 session');
      const trail = (await readFile(file, 'utf8')).split('\n').filter((line) => line !== '');
      const detached = trail.findIndex((line) => line.includes('"msg":"session transition"') && line.includes('"to":"detached"'));
      expect(detached).toBeGreaterThanOrEqual(0);
      const forged = trail.map((line, i) => (i === detached ? line.replace('"to":"detached"', '"to":"expired"') : line));
      const tampered = join(dir, 'tampered.jsonl');
      await writeFile(tampered, forged.join('\n') + '\n');
      const bad = await cli(['audit', 'verify', tampered]);
      expect(bad.code).toBe(1);
      expect(bad.stdout).toContain(`${tampered}:${detached + 1}: disallowed`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('audit verify on hostile input (#25)', () => {
  it('prints escape sequences from the trail escaped, never as they are', async () => {
    const file = join(run.dir, 'hostile.jsonl');
    const hostile = (id: string) => JSON.stringify({ msg: 'transition', connectionId: id, seq: 1, from: 'connecting', to: 'connected', event: '\u001b[2J\u001b]0;pwned\u0007OPENED\u202e' });
    await writeFile(file, `${hostile('\u001b[31mred\u001b[0m')}\n${hostile('\u009b6n')}\n`);
    const outcome = await cli(['audit', 'verify', file]);
    expect(outcome.code).toBe(1);
    // eslint-disable-next-line no-control-regex -- no control character may reach the terminal
    expect(outcome.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/);
    expect(outcome.stdout).toContain('[\\u{1b}[31mred\\u{1b}[0m]');
    expect(outcome.stdout).toContain('\\u{1b}[2J\\u{1b}]0;pwned\\u{7}OPENED\\u{202e}');
    expect(outcome.stdout).toContain('[\\u{9b}6n]');
  });

  it('keeps at most the first 10,000 errors of a huge broken trail and counts the rest', async () => {
    const file = join(run.dir, 'huge.jsonl');
    await writeFile(file, 'not json\n'.repeat(12_000));
    const outcome = await cli(['audit', 'verify', file, '--json']);
    expect(outcome.code).toBe(2);
    const report = JSON.parse(outcome.stdout) as { errors: unknown[]; errorCount: number; errorsByKind: Record<string, number> };
    expect(report.errors).toHaveLength(10_000);
    expect(report.errorCount).toBe(12_000);
    expect(report.errorsByKind).toEqual({ parse: 12_000 });
    const text = await cli(['audit', 'verify', file]);
    expect(text.code).toBe(2);
    expect(text.stdout).toContain('... 11900 more errors (--json lists the first 10,000)');
    expect(text.stdout).toContain('UNREADABLE: 12000 lines are not JSON; 12000 errors');
  });
});

describe.concurrent('ws-lifecycle conformance: usage', () => {
  it.each([
    [['conformance'], /unknown conformance suite: \(none\) \(expected server or client\)/],
    [['conformance', 'browser'], /unknown conformance suite: "browser"/],
    [['conformance', 'server'], /conformance server takes one WS_URL, got none/],
    [['conformance', 'server', 'ws://127.0.0.1:1/'], /needs --control HTTP_URL/],
    [['conformance', 'server', 'ws://127.0.0.1:1/', '--control', 'http://127.0.0.1:1/'], /needs --token T or \$WSL_CONFORMANCE_TOKEN/],
    [['conformance', 'server', 'http://127.0.0.1:1/', '--control', 'http://127.0.0.1:1/', '--token', 't'], /WS_URL must be ws: or wss:, got "http:/],
    [['conformance', 'server', 'ws://127.0.0.1:1/', '--control', 'nowhere', '--token', 't'], /--control is not a URL: "nowhere"/],
    [['conformance', 'server', 'ws://127.0.0.1:1/', '--case', 'nope'], /unknown case "nope" \(the server suite has handshake, /],
    [['conformance', 'client'], /needs the client's command after --/],
    [['conformance', 'client', 'python3'], /needs the client's command after --/],
    [['conformance', 'client', '--parallel', '0', '--', 'x'], /--parallel must be an integer from 1 to 32, got "0"/]
  ])('exits 2 with one line for %j', async (args, pattern) => {
    expectOneLineError(await cli(args), pattern);
  });

  it('exits 2 with one line when the server cannot be reached or the client cannot be started', async () => {
    expectOneLineError(await cli(['conformance', 'server', 'ws://127.0.0.1:1/', '--control', 'http://127.0.0.1:1/', '--token', 't']), /the server ws:\/\/127\.0\.0\.1:1\/ cannot be reached/);
    expectOneLineError(await cli(['conformance', 'client', '--case', 'handshake', '--', join(ROOT, 'no-such-client')]), /cannot run ".*no-such-client": spawn .*ENOENT/);
  });
});

describe('ws-lifecycle conformance: the suites', () => {
  it('runs the server suite against the example server, a process of its own: a line per case, a summary, exit 0; --json for machines', async () => {
    const server = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'examples', 'conformance', 'server.ts')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const first = await new Promise<string>((resolve, reject) => {
        createInterface({ input: server.stdout }).once('line', resolve);
        server.once('exit', (code) => reject(new Error(`the example server exited (${code})`)));
      });
      const { url, control, token } = JSON.parse(first) as { url: string; control: string; token: string };
      const outcome = await cli(['conformance', 'server', url, '--control', control, '--token', token]);
      expect(outcome.stderr).toBe('');
      const lines = outcome.stdout.trimEnd().split('\n').filter((line) => !line.startsWith('      '));
      expect(lines[0]).toBe(`ws-lifecycle conformance server ${url} (19 cases)`);
      expect(lines.slice(1, -1)).toHaveLength(19);
      for (const line of lines.slice(1, -1)) expect(line).toMatch(/^(PASS|WARN) {2}[a-z-]+ +\d+\.\d s {2}.+\(\d/);
      expect(lines.at(-1)).toMatch(/^PASSED: 1[89] passed, 0 failed, [01] with warnings, 0 skipped in \d+\.\d s$/);
      expect(outcome.code).toBe(0);
      // The token from the environment keeps it out of the process list.
      const json = await cli(['conformance', 'server', url, '--control', control, '--case', 'handshake', '--json'], '', { WSL_CONFORMANCE_TOKEN: token });
      expect(json.code).toBe(0);
      expect(JSON.parse(json.stdout)).toMatchObject({ suite: 'server', summary: { pass: 1, fail: 0 }, results: [{ name: 'handshake', status: 'pass' }] });
    } finally {
      server.kill('SIGTERM');
    }
  });

  it('runs the client suite: the Python example passes (exit 0); one that retries a final code fails the case, named (exit 1)', async () => {
    const python = await cli(['conformance', 'client', '--case', 'handshake', '--case', 'close-final', '--', PYTHON, join(ROOT, 'examples', 'python', 'session_client.py')]);
    expect(python.stdout).toMatch(/^ws-lifecycle conformance client \/usr\/bin\/python3 .*session_client\.py \(2 cases\)\n/);
    expect(python.stdout).toMatch(/\nPASSED: 2 passed, 0 failed, 0 with warnings, 0 skipped in/);
    expect(python.code).toBe(0);
    const naive = await cli(['conformance', 'client', '--case', 'close-final', '--', PYTHON, join(ROOT, 'test', 'tools', 'conformance', 'naive_client.py'), 'retry-4403']);
    expect(naive.stdout).toMatch(/\nFAIL {2}close-final .*\n {6}FAIL: after 4403 the client connected again \d+ times/);
    expect(naive.stdout).toMatch(/\nFAILED: 0 passed, 1 failed/);
    expect(naive.code).toBe(1);
  });

  it('prints what a hostile client sends escaped, and a hostile control endpoint\'s answer too', async () => {
    const hostile = [
      "const WebSocket = require('ws');",
      "const ws = new WebSocket(process.env.WSL_CONFORMANCE_URL, ['ws-lifecycle.v1']);",
      "ws.on('open', () => ws.send(JSON.stringify({ type: 'hello', client: 'c\\u001b[2Jx', session: '\\u001b]0;pwned\\u0007\\u202e' })));",
      "ws.on('error', () => {});",
      "process.stdout.write('\\u001b[2J not an event\\n');",
      'process.stdin.resume();',
      "process.stdin.on('end', () => process.exit(0));"
    ].join('\n');
    const outcome = await cli(['conformance', 'client', '--case', 'handshake', '--', process.execPath, '-e', hostile]);
    expect(outcome.code).toBe(1);
    // eslint-disable-next-line no-control-regex -- no control character may reach the terminal
    expect(outcome.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/);
    expect(outcome.stdout).toContain('the first hello names a session, "\\u001b]0;pwned\\u0007\\u{202e}", that no server gave');
    const server = createServer((_, response) => response.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: '\u001b[31mred\u001b[0m' })));
    const wss = new WebSocketServer({ server });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const refused = await cli(['conformance', 'server', `ws://127.0.0.1:${port}/`, '--control', `http://127.0.0.1:${port}/`, '--token', 't']);
      expectOneLineError(refused, /the control endpoint refused info \(HTTP 401\): \\u\{1b\}\[31mred\\u\{1b\}\[0m/);
    } finally {
      wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
