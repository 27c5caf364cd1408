/**
 * CI's soak: 20 seconds of churn against a real server, run exactly as
 * `npm run soak` runs it, in its own process (it must exit by itself).
 * SOAK_SEED replays the random choices of a printed run.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CHECK_NAMES } from '../../scripts/soak/checks.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SECONDS = 20;
/** The run takes its 20 s plus a warm-up cycle and teardown; past this it is killed and fails. */
const DEADLINE_MS = 60_000;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  killed: boolean;
}

function runSoak(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    // Started without --expose-gc, so the script's own restart with the flag is exercised too.
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/soak.ts', ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    let killed = false;
    const deadline = setTimeout(() => {
      killed = true;
      // The run is a small process group (restarted server, client); end all of it.
      process.kill(-child.pid!, 'SIGKILL');
    }, DEADLINE_MS);
    child.once('close', (code, signal) => {
      clearTimeout(deadline);
      resolve({ code, signal, output, killed });
    });
  });
}

describe('soak', () => {
  it(
    `runs ${SECONDS} s of churn, passes every check and exits by itself with code 0`,
    async () => {
      const seed = process.env.SOAK_SEED ? ['--seed', process.env.SOAK_SEED] : [];
      const run = await runSoak(['--seconds', String(SECONDS), ...seed]);
      console.log(run.output);
      expect(run.killed, `still running after ${DEADLINE_MS} ms`).toBe(false);
      expect({ code: run.code, signal: run.signal }).toEqual({ code: 0, signal: null });
      for (const name of CHECK_NAMES) expect(run.output).toMatch(new RegExp(`^PASS ${name}: `, 'm'));
      expect(run.output).not.toMatch(/^FAIL /m);
      expect(run.output).toMatch(new RegExp(`^all ${CHECK_NAMES.length} checks passed$`, 'm'));
    },
    DEADLINE_MS + 10_000
  );

  it('rejects a bad --seconds with exit code 2 before starting anything', async () => {
    const run = await runSoak(['--seconds', 'soon']);
    expect(run.code).toBe(2);
    expect(run.output).toContain('Invalid --seconds: soon');
  });
});
