// @ts-check
/**
 * Mutation testing: `npm run mutation` (the core files took about 30 minutes
 * on 2 cores; the session files add the session layer's slow suite to the
 * initial run; not part of `npm test` or CI). One file against its own tests:
 * WSL_MUTATION_TESTS=<test files> npx stryker run --concurrency 1 --timeoutMS 3000 --mutate <file>
 * (vitest.mutation.config.ts). How to read the result: docs/testing.md.
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
    'src/core/send-batch.ts',
    // The session layer (#20 item 6). Each is also measured alone against its own unit tests
    // (WSL_MUTATION_TESTS, vitest.mutation.config.ts); docs/testing.md gives both ways.
    'src/sessions/topic-feed.ts',
    'src/sessions/topic-store.ts',
    'src/sessions/subscription.ts',
    'src/protocol/session-protocol.ts',
    'src/cluster/redis-store.ts',
    'src/client/client-frames.ts',
    'src/client/client-options.ts'
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
