/**
 * The conformance client suite (#24) against our `SessionClient` (through
 * examples/conformance/session-client.ts) and the Python example written
 * from docs/protocol.md alone (Debian's python3-websockets): every case
 * passes. Two naive variants of the Python client
 * (test/tools/conformance/naive_client.py) fail the case about their one
 * mistake, and only it.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLIENT_SUITE, runClientSuite } from '../../../src/tools/conformance/client-suite.js';
import type { SuiteReport } from '../../../src/tools/conformance/suite.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
/** Debian's Python, which has python3-websockets (the first python3 on PATH may not). */
export const PYTHON = '/usr/bin/python3';
const SESSION_CLIENT = [process.execPath, '--import', 'tsx', join(ROOT, 'examples', 'conformance', 'session-client.ts')];
const PYTHON_CLIENT = [PYTHON, join(ROOT, 'examples', 'python', 'session_client.py')];
const NAIVE_CLIENT = [PYTHON, join(ROOT, 'test', 'tools', 'conformance', 'naive_client.py')];

function outcome(report: SuiteReport): string[] {
  return report.results.map((result) => `${result.status} ${result.name}${result.status === 'pass' ? '' : `: ${result.notes.join(' | ')}`}`);
}

describe('the conformance client suite', () => {
  it.each([
    ['our SessionClient', SESSION_CLIENT],
    ['the Python example', PYTHON_CLIENT]
  ])('passes %s, every case', async (_, command) => {
    const report = await runClientSuite({ command, parallel: 4 });
    expect(outcome(report)).toEqual(CLIENT_SUITE.map((c) => `pass ${c.name}`));
  });

  it.each([
    ['keeps its cursor after future_offset', 'keep-cursor', 'cursor-reset', /after future_offset at 2 and messages 3, 4 the resume names epoch-1:5; epoch-1:4 was due/],
    ['retries after 4403', 'retry-4403', 'close-final', /after 4403 the client connected again \d+ times/]
  ])('fails a client that %s, in that case only', async (_, mistake, failing, why) => {
    const report = await runClientSuite({ command: [...NAIVE_CLIENT, mistake], parallel: 4 });
    const failed = report.results.filter((result) => result.status === 'fail');
    expect(failed.map((result) => result.name)).toEqual([failing]);
    expect(failed[0]!.notes.join('\n')).toMatch(why);
  });
});
