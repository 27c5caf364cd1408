/**
 * The vitest config `npm run mutation` (Stryker, see stryker.config.mjs and
 * docs/testing.md) runs against. `npm test` does not use it.
 *
 * Two projects, because their tests differ by an order of magnitude:
 * - `core`: the connection, the machine and the manager, sub-second tests;
 *   a mutant that keeps a close from completing fails them at 5 s.
 * - `sessions`: the session layer, its protocol, the client and the Redis
 *   store over real sockets, raw frames and a real Redis (the suite's global
 *   setup starts it, as in `npm test`). Several tests there take seconds
 *   unmutated (secrets.test.ts waits out a 5 s close timeout, the
 *   properties run for tens of seconds), more under Stryker's
 *   instrumentation with two runners on two cores: they get the limits of
 *   `npm test`, and a mutant that hangs one is stopped by Stryker's own
 *   timeout (stryker.config.mjs) and counted as detected.
 *
 * Left out, with why:
 * - test/cli, test/examples: spawn processes (seconds per run) and mutate nothing here.
 * - test/inspector, test/client/client.browser.test.ts: drive a browser page;
 *   what the browser test proves of the client, client.test.ts and the
 *   properties prove over ws.
 * - test/audit, test/hardening/bad-input.test.ts: they open connections in
 *   beforeAll/afterAll, outside any test. Stryker counts code run there as
 *   "static" and then runs the whole suite for every mutant it reaches
 *   (about 400 of them), which doubled the run. What only they caught is
 *   pinned by test/core/ and test/manager/ cases.
 * - test/core/timer-lists.test.ts: it loads no mutated file, so it can kill
 *   nothing, and its fake-timer case failed two initial runs out of three:
 *   `TimerLists` schedules `Math.ceil((now + ms) - now)`, which is ms + 1 for
 *   about one `performance.now()` in eight between 10 and 20 s (a
 *   long-lived runner's clock), and the test advances exactly ms.
 * - test/metrics/example.test.ts, test/soak, test/bench: spawn processes
 *   in beforeAll or for seconds, whose code Stryker neither sees nor mutates.
 * - test/adapters, test/api, test/security (but its sessions.test.ts): they
 *   test what is not mutated (the adapters, the API report, the upgrade gate).
 *
 * One file at a time: `WSL_MUTATION_TESTS` (comma-separated test files or
 * folders, each within the projects' lists) runs only those, e.g.
 *   WSL_MUTATION_TESTS=test/sessions/topic-feed.test.ts npx stryker run --concurrency 1 --mutate src/sessions/topic-feed.ts
 * The whole session project's initial run takes tens of minutes (real
 * sockets, Redis, the properties); a file whose mutants its own unit tests
 * kill is measured against those in minutes. docs/testing.md names the
 * tests each recorded result was measured with: a score measured so is a
 * lower bound of the whole run's (a mutant a left-out test would kill is
 * counted survived).
 */
import { relative } from 'node:path';
import type { RunnerTestCase, RunnerTestFile } from 'vitest';
import { BaseSequencer, type Reporter, type TestSpecification, type Vitest } from 'vitest/node';
import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

const CORE = ['test/machines/', 'test/core/', 'test/manager/', 'test/tools/chart/', 'test/races/', 'test/hardening/'];
const SESSIONS = [
  'test/protocol/',
  'test/sessions/',
  'test/client/',
  'test/cluster/',
  'test/tools/conformance/',
  'test/property/',
  // What the sessions tell a metrics probe (recoveries, publishes, delivery lag), and the frame rate and token checks of #21.
  'test/metrics/',
  'test/security/sessions.test.ts'
];

/**
 * Cheapest and most decisive first: Stryker stops a mutant's run at its
 * first failing test. A longer prefix goes before the folder it is in: the
 * unit files of the session layer before its real-socket ones, the
 * processes and properties last.
 */
const ORDER = [
  'test/machines/',
  'test/core/',
  'test/manager/',
  'test/protocol/',
  'test/sessions/topic-',
  'test/sessions/resume',
  'test/client/',
  'test/cluster/redis-store',
  'test/cluster/redis-session-records',
  'test/cluster/redis-health',
  'test/cluster/nodes',
  'test/tools/conformance/checker',
  'test/tools/conformance/raw-client',
  'test/metrics/probe',
  'test/sessions/',
  'test/security/',
  'test/metrics/',
  'test/tools/chart/',
  'test/races/',
  'test/hardening/',
  'test/cluster/',
  'test/tools/conformance/',
  'test/property/'
];

/** Runs the files in {@link ORDER}, by name within one prefix; never by last duration or failure. */
class CheapFirstSequencer extends BaseSequencer {
  override sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const key = (spec: TestSpecification): [number, string] => {
      const path = relative(process.cwd(), spec.moduleId).replaceAll('\\', '/');
      const rank = ORDER.findIndex((prefix) => path.startsWith(prefix));
      return [rank === -1 ? ORDER.length : rank, path];
    };
    const sorted = [...files].sort((a, b) => {
      const [fa, pa] = key(a);
      const [fb, pb] = key(b);
      return fa - fb || (pa < pb ? -1 : pa > pb ? 1 : 0);
    });
    return Promise.resolve(sorted);
  }
}

/**
 * Makes a test file that failed to load, or whose beforeAll/afterAll hook
 * threw, count as one failed test, and puts what caused a failure into the
 * message Stryker shows.
 *
 * Stryker's vitest runner (9.6.1, vitest 4) builds a mutant's result from the
 * tests vitest collected. A mutant that makes a module throw on import (for
 * example `initial: ''` in the machine) leaves its test files with no tests,
 * so no test failed and the mutant was reported as survived
 * (stryker-js#6150). Here such a file gets a failed test carrying the load error.
 * Likewise a mutant that makes a beforeAll throw (test/cluster/redis-store.test.ts
 * makes its store there: `prefix` refused, `topicTtlMs` lost): vitest skips the
 * file's tests, none fails, and 10 such mutants of redis-store.ts were
 * reported survived.
 *
 * The runner shows only the first error's message. fast-check's says which
 * run failed and attaches the failure itself as its `cause`: a failed
 * initial run printed "Property failed after 1 tests" and nothing of why.
 */
class LoadFailureAsFailedTest implements Reporter {
  #vitest: Vitest | undefined;

  onInit(vitest: Vitest): void {
    this.#vitest = vitest;
  }

  onTestRunEnd(): void {
    for (const file of this.#vitest?.state.getFiles() ?? []) {
      if (file.result?.state !== 'fail') continue;
      withCauses(file.tasks);
      // A file that failed to load, or whose beforeAll/afterAll hook threw (its tests then skipped, none failed).
      if (!file.tasks.some(failedTest)) file.tasks.push(loadFailure(file));
    }
  }
}

/** Whether the task is, or holds, a test that failed. */
function failedTest(task: Task): boolean {
  return task.type === 'suite' ? task.tasks.some(failedTest) : task.result?.state === 'fail';
}

/** The errors of a file or suite that failed outside any test (loading, a hook), first found first. */
function ownErrors(task: RunnerTestFile | Task): NonNullable<NonNullable<Task['result']>['errors']> {
  const errors = [...(task.result?.errors ?? [])];
  if (task.type === 'suite') for (const child of task.tasks) if (child.type === 'suite') errors.push(...ownErrors(child));
  return errors;
}

type Task = RunnerTestFile['tasks'][number];

/** The message of each failed test's first error, followed by its causes' (at most three deep). */
function withCauses(tasks: readonly Task[]): void {
  for (const task of tasks) {
    if (task.type === 'suite') withCauses(task.tasks);
    const error = task.result?.errors?.[0];
    if (error === undefined) continue;
    let cause: unknown = error.cause;
    for (let depth = 0; depth < 3 && typeof cause === 'object' && cause !== null; depth++) {
      const { message, cause: next } = cause as { message?: unknown; cause?: unknown };
      if (typeof message === 'string' && !error.message.includes(message)) error.message += `\nCaused by: ${message}`;
      cause = next;
    }
  }
}

function loadFailure(file: RunnerTestFile): RunnerTestCase {
  // Only the fields Stryker reads; vitest has finished with the file by now.
  return {
    type: 'test',
    id: `${file.id}_load`,
    name: 'loads',
    fullName: `${file.name} loads`,
    fullTestName: 'loads',
    mode: 'run',
    file,
    suite: file,
    meta: {},
    annotations: [],
    artifacts: [],
    timeout: 0,
    result: { state: 'fail', errors: ownErrors(file), duration: 0 },
    context: undefined as unknown as RunnerTestCase['context']
  };
}

const tests = (paths: string[]): string[] => paths.map((path) => (path.endsWith('.test.ts') ? path : `${path}**/*.test.ts`));

/** The test files or folders of WSL_MUTATION_TESTS, undefined when unset (then every project runs its whole list). */
const CHOSEN = process.env.WSL_MUTATION_TESTS?.split(',')
  .map((path) => path.trim())
  .filter((path) => path !== '');

/** A project's include: its list, or the chosen paths within it (none: the project is left out). */
function include(paths: string[]): string[] {
  if (CHOSEN === undefined) return tests(paths);
  return tests(CHOSEN.filter((chosen) => paths.some((path) => chosen.startsWith(path))));
}

// Projects extend the root by merging: arrays are joined, so the root keeps no include and no global setup.
const { include: _include, globalSetup, ...shared } = base.test ?? {};

export default defineConfig({
  test: {
    ...shared,
    sequence: { sequencer: CheapFirstSequencer },
    reporters: ['default', new LoadFailureAsFailedTest()],
    // One fixed fast-check seed, so a mutant's fate does not depend on the run.
    env: { FC_SEED: '20250601' },
    projects: [
      {
        extends: true,
        test: {
          name: 'core',
          include: include(CORE),
          exclude: ['**/node_modules/**', 'test/hardening/bad-input.test.ts', 'test/core/timer-lists.test.ts'],
          // A mutant that keeps a close from completing fails in seconds, not at the 30 s default;
          // no test here takes more than one second unmutated (the property test sets its own limit).
          testTimeout: 5_000,
          hookTimeout: 5_000
        }
      },
      {
        extends: true,
        test: {
          name: 'sessions',
          include: include(SESSIONS),
          exclude: ['**/node_modules/**', 'test/client/client.browser.test.ts', 'test/metrics/example.test.ts'],
          // The Redis of `npm test` (WSL_TEST_REDIS_URL), started once per Stryker runner.
          globalSetup
        }
      }
    ].filter((project) => project.test.include.length > 0)
  }
});
