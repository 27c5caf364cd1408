/**
 * The conformance server suite (#24) against our server with its control
 * endpoint (examples/conformance/server.ts, in this process): every case
 * passes, with a warning only where docs/protocol.md and the server
 * disagree; and against each naive session hub of the sessions issue
 * (test/property/naive-hubs.ts): each fails the cases about what it
 * breaks, naming the rule, and passes the others run beside them.
 */
import { describe, expect, it } from 'vitest';
import { startConformanceServer } from '../../../examples/conformance/server.js';
import type { SessionHub } from '../../../src/sessions/session-hub.js';
import { runServerSuite, SERVER_SUITE } from '../../../src/tools/conformance/server-suite.js';
import type { SuiteReport } from '../../../src/tools/conformance/suite.js';
import { NaiveResumeHub, NoHighWaterMarkHub, SkipUnderBackpressureHub } from '../../property/naive-hubs.js';

async function runAgainst(Hub: typeof SessionHub | undefined, only: readonly string[] = []): Promise<SuiteReport> {
  const server = await startConformanceServer(Hub === undefined ? {} : { manager: { sessionHub: (host, options) => new Hub(host, options) } });
  try {
    return await runServerSuite({ url: server.url, control: server.control, token: server.token, only, parallel: 4 });
  } finally {
    await server.close();
  }
}

function notPassed(report: SuiteReport): string[] {
  return report.results.filter((result) => result.status !== 'pass').map((result) => `${result.status} ${result.name}: ${result.notes.join(' | ')}`);
}

describe('the conformance server suite', () => {
  it('passes our server, every case, with no warning', async () => {
    const report = await runAgainst(undefined);
    expect(report.results.map((result) => result.name)).toEqual(SERVER_SUITE.map((c) => c.name));
    expect(notPassed(report)).toEqual([]);
    // Seconds, not minutes: the longest case waits for a session to expire (2 s).
    expect(report.ms).toBeLessThan(15_000);
  });

  it.each([
    ['goes live before it replays', NaiveResumeHub, ['greeting', 'resume-race'], /\[welcome\] message before the welcome/],
    ['keeps no high-water mark per connection', NoHighWaterMarkHub, ['resume-race'], /\[duplicate\] message .* again/],
    ['skips a message under backpressure', SkipUnderBackpressureHub, ['slow-reader'], /\[order\] message .* skips offset/]
  ] as const)('fails a server that %s, in the cases about it, naming the rule', async (_, Hub, cases, rule) => {
    const report = await runAgainst(Hub, [...cases, 'handshake', 'sends', 'malformed']);
    expect(report.results.filter((result) => result.status === 'fail').map((result) => result.name)).toEqual(cases);
    for (const result of report.results.filter((r) => r.status === 'fail')) expect(result.notes.join('\n')).toMatch(rule);
  });
});
