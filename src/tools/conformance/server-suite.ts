/**
 * The server suite (#24): `ws-lifecycle conformance server URL --control
 * URL --token T` drives a session server with scripted raw clients
 * (raw-client.ts), breaks and mends its store through its control
 * endpoint (control.ts), and puts every frame of every connection of each
 * case through the conformance checker (checker.ts), besides what each
 * case checks of its own (server-cases.ts, server-cases-faults.ts).
 */
import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import { SESSION_PROTOCOL } from '../../protocol/session-protocol.js';
import { ControlClient } from './control-client.js';
import { FAULT_CASES } from './server-cases-faults.js';
import { SERVER_CASES } from './server-cases.js';
import { ServerContext } from './server-context.js';
import { runCases, type RunOptions, type SuiteCase, type SuiteReport } from './suite.js';

export interface ServerSuiteOptions extends RunOptions {
  /** The session server's WebSocket URL, e.g. `ws://127.0.0.1:8080/`. */
  url: string;
  /** Its control endpoint, e.g. `http://127.0.0.1:8080/conformance`, and the endpoint's token. */
  control: string;
  token: string;
}

/** The server's URL answers no WebSocket upgrade: nothing was tested. */
export class ServerUnreachableError extends Error {
  override readonly name = 'ServerUnreachableError';
}

/** Open and close one connection: the server is there and upgrades. */
function reachable(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, [SESSION_PROTOCOL], { handshakeTimeout: 5_000 });
    socket.on('open', () => {
      socket.close(1000);
      resolve();
    });
    socket.on('error', (error) => reject(new ServerUnreachableError(`the server ${url} cannot be reached: ${error.message}`)));
  });
}

/** Every case of the server suite, in the order the report lists them. */
export const SERVER_SUITE: ReadonlyArray<SuiteCase<ServerContext>> = [...SERVER_CASES, ...FAULT_CASES];

/**
 * @param {ServerSuiteOptions} options The server, its control endpoint, which cases
 * @returns {Promise<SuiteReport>} A result per case
 * @throws {ServerUnreachableError} When the server upgrades no connection (nothing was run)
 * @throws {ControlError} When the control endpoint cannot be reached or refuses `info` (nothing was run)
 */
export async function runServerSuite(options: ServerSuiteOptions): Promise<SuiteReport> {
  const started = performance.now();
  await reachable(options.url);
  const control = new ControlClient(options.control, options.token);
  const { helloTimeoutMs } = await control.info();
  // Names of this run: the suite can run again against the same server.
  const run = randomBytes(3).toString('hex');
  const results = await runCases(SERVER_SUITE, (name, verdict) => new ServerContext({ url: options.url, control, helloTimeoutMs, prefix: `c${run}-${name}`, verdict }), options);
  return { suite: 'server', target: options.url, results, ms: Math.round(performance.now() - started) };
}
