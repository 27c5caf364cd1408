/**
 * `npm run soak -- --seconds N`: churn thousands of real connections
 * against a ConnectionManager for N seconds, then check that no send hit a
 * closed socket, every send settled once, the registry and the heap came
 * back, and nothing is left to keep the process alive. Exits 1 if a check
 * fails; on success it ends by itself (no process.exit).
 *
 * The clients run in a child process, so the server's event loop is
 * measured on its own. The heap check needs `--expose-gc`: without it the
 * script starts itself again with the flag.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { formatChecks } from './soak/checks.js';
import { parseSoakArgs, USAGE, type SoakOptions } from './soak/options.js';
import { formatSummary } from './soak/report.js';
import { runSoak } from './soak/run.js';

/** Once the checks are printed, the process must be gone within this. */
const EXIT_WATCHDOG_MS = 10_000;

/** Run this script again under `--expose-gc`, passing its exit code on. */
function respawnWithGc(): void {
  const args = ['--expose-gc', '--import', import.meta.resolve('tsx'), fileURLToPath(import.meta.url), ...process.argv.slice(2)];
  const child = spawn(process.execPath, args, { stdio: 'inherit' });
  child.once('close', (code) => {
    process.exitCode = code ?? 1;
  });
}

async function soak(options: SoakOptions): Promise<void> {
  const { checks, summary } = await runSoak(options);
  for (const line of [...formatSummary(summary), ...formatChecks(checks)]) console.log(line);
  if (checks.some((check) => !check.ok)) process.exitCode = 1;
  // Everything is closed, so the process should end now. If something still
  // holds it, say what and fail; the unref'd timer itself holds nothing.
  setTimeout(() => {
    console.error(`FAIL process did not exit within ${EXIT_WATCHDOG_MS} ms: [${process.getActiveResourcesInfo().join(', ')}]`);
    process.exit(1);
  }, EXIT_WATCHDOG_MS).unref();
}

let options: SoakOptions | undefined;
try {
  options = parseSoakArgs(process.argv.slice(2));
} catch (error) {
  console.error((error as Error).message);
  console.error(USAGE);
  process.exitCode = 2;
}
if (options && typeof globalThis.gc !== 'function') respawnWithGc();
else if (options) {
  soak(options).catch((error: unknown) => {
    console.error('soak failed to run:', error);
    process.exitCode = 1;
  });
}
