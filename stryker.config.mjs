// @ts-check
/**
 * Mutation testing: `npm run mutation` (about 20 minutes on 2 cores; not part
 * of `npm test` or CI). How to read the result: docs/testing.md.
 *
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  testRunner: 'vitest',
  // Tests that can kill a mutant here, cheapest first; see the file for what it leaves out and why.
  vitest: { configFile: 'vitest.mutation.config.ts', related: false },
  // The lifecycle, the send/close/broadcast paths and what they return, whole files.
  mutate: [
    'machines/connection.machine.ts',
    'src/core/connection.ts',
    'src/manager/connection-manager.ts',
    'src/core/serialization.ts',
    'src/core/send-result.ts',
    'src/core/send-batch.ts'
  ],
  ignorePatterns: ['dist', 'coverage', 'reports'],
  coverageAnalysis: 'perTest',
  concurrency: 2,
  // A mutant's tests may take timeoutFactor x their unmutated time + timeoutMS
  // before it counts as a timeout: real sockets on a loaded machine vary.
  timeoutMS: 15_000,
  timeoutFactor: 2,
  // The initial run takes minutes with the session layer's real-socket and Redis tests (default limit: 5).
  dryRunTimeoutMinutes: 30,
  reporters: ['clear-text', 'progress', 'json', 'html'],
  clearTextReporter: { reportTests: false, logTests: false, allowEmojis: false },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  tempDirName: '.stryker-tmp',
  cleanTempDir: true
};
