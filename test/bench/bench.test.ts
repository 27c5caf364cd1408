/**
 * Keeps `npm run bench` runnable: every scenario on tiny sizes, one round,
 * checked for a well-formed results file (never for timings).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { XMLValidator } from 'fast-xml-parser';
import { afterAll, describe, expect, it } from 'vitest';
import { renderSvg } from '../../bench/plot.js';
import { validateResults } from '../../bench/results.js';

const execFileAsync = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));

describe('npm run bench', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ws-lifecycle-bench-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs every scenario on tiny sizes and writes a valid results file', async () => {
    const out = join(dir, 'results.json');
    const args = ['--quick', '--connections', '20', '--rounds', '1', '--messages', '2000', '--churn-ms', '300', '--out', out];
    const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args], {
      cwd: root,
      timeout: 120_000
    });
    const results = validateResults(JSON.parse(readFileSync(out, 'utf8')));
    expect([...new Set(results.rows.map((row) => row.scenario))].sort()).toEqual([
      'audit-broadcast-20',
      'audit-churn',
      'broadcast-20',
      'churn',
      'cluster-3-nodes',
      'cluster-kill',
      'detached-20',
      'memory-20',
      'resume-1000',
      'send-100B',
      'send-100B-paced',
      'send-16KiB',
      'sessions-10-tabs',
      'storm-20'
    ]);
    for (const row of results.rows) {
      expect(row.rounds).toBe(1);
      if (row.baseline_median !== 0) expect(row.ratio).toBeCloseTo(row.median / row.baseline_median, 9);
    }
    // The printed table: header, separator and one line per row.
    expect(stdout.split('\n').filter((line) => line.startsWith('| '))).toHaveLength(results.rows.length + 2);
    expect(XMLValidator.validate(renderSvg(results))).toBe(true);
  }, 120_000);
});
