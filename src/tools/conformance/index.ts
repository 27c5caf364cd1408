/**
 * `ws-lifecycle/conformance` (#24): what a server under test mounts so the
 * conformance server suite can drive it (the control endpoint, the store
 * it can break, the identify the suite's URLs speak to), and both suites,
 * to run from code as `ws-lifecycle conformance` runs them. The runtime
 * never loads it. See docs/conformance.md.
 */
export { ConformanceStore, StoreUnavailableError } from './conformance-store.js';
export { CONNECTION_QUERY, USER_QUERY, conformanceControl, conformanceIdentify } from './control.js';
export type { ConformanceControl, ConformanceControlOptions } from './control.js';
export { runServerSuite, SERVER_SUITE, ServerUnreachableError } from './server-suite.js';
export type { ServerSuiteOptions } from './server-suite.js';
export { runClientSuite, CLIENT_SUITE, ClientCommandError } from './client-suite.js';
export type { ClientSuiteOptions } from './client-suite.js';
export { ControlError } from './control-client.js';
export type { CaseResult, CaseStatus, SuiteReport } from './suite.js';
