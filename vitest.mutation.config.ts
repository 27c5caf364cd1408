/**
 * The vitest config `npm run mutation` (Stryker, see stryker.config.mjs and
 * docs/testing.md) runs against. `npm test` does not use it.
 *
 * Left out, with why:
 * - test/cli, test/examples: spawn processes (seconds per run) and mutate nothing here.
 * - test/inspector: drives a browser page; the inspector is not mutated.
 * - test/audit, test/hardening/bad-input.test.ts: they open connections in
 *   beforeAll/afterAll, outside any test. Stryker counts code run there as
 *   "static" and then runs the whole suite for every mutant it reaches
 *   (about 400 of them), which doubled the run. What only they caught is
 *   pinned by test/core/ and test/manager/ cases.
 */
import { relative } from 'node:path';
import type { RunnerTestCase, RunnerTestFile } from 'vitest';
import { BaseSequencer, type Reporter, type TestSpecification, type Vitest } from 'vitest/node';
import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

/** Cheapest and most decisive first: Stryker stops a mutant's run at its first failing test. */
const FOLDERS = ['test/machines/', 'test/core/', 'test/manager/', 'test/sessions/', 'test/tools/chart/', 'test/races/', 'test/hardening/', 'test/property/'];

/** Runs the folders in {@link FOLDERS} order, files by name within one; never by last duration or failure. */
class CheapFirstSequencer extends BaseSequencer {
  override sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const key = (spec: TestSpecification): [number, string] => {
      const path = relative(process.cwd(), spec.moduleId).replaceAll('\\', '/');
      const folder = FOLDERS.findIndex((prefix) => path.startsWith(prefix));
      return [folder === -1 ? FOLDERS.length : folder, path];
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
 * Makes a test file that failed to load count as one failed test.
 *
 * Stryker's vitest runner (9.6.1, vitest 4) builds a mutant's result from the
 * tests vitest collected. A mutant that makes a module throw on import (for
 * example `initial: ''` in the machine) leaves its test files with no tests,
 * so no test failed and the mutant was reported as survived
 * (stryker-js#6150). Here such a file gets a failed test carrying the load error.
 */
class LoadFailureAsFailedTest implements Reporter {
  #vitest: Vitest | undefined;

  onInit(vitest: Vitest): void {
    this.#vitest = vitest;
  }

  onTestRunEnd(): void {
    for (const file of this.#vitest?.state.getFiles() ?? []) {
      if (file.result?.state !== 'fail' || file.tasks.length > 0) continue;
      file.tasks.push(loadFailure(file));
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
    result: { state: 'fail', errors: file.result?.errors ?? [], duration: 0 },
    context: undefined as unknown as RunnerTestCase['context']
  };
}

export default defineConfig({
  test: {
    ...base.test,
    include: FOLDERS.map((folder) => `${folder}**/*.test.ts`),
    exclude: ['**/node_modules/**', 'test/hardening/bad-input.test.ts'],
    sequence: { sequencer: CheapFirstSequencer },
    reporters: ['default', new LoadFailureAsFailedTest()],
    // One fixed fast-check seed, so a mutant's fate does not depend on the run.
    env: { FC_SEED: '20250601' },
    // A mutant that keeps a close from completing fails in seconds, not at the 30 s default;
    // no test here takes more than one second unmutated (the property test sets its own limit).
    testTimeout: 5_000,
    hookTimeout: 5_000
  }
});
