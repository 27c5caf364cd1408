/**
 * The client suite (#24): `ws-lifecycle conformance client -- <command>`
 * starts a scripted server (scripted-server.ts) and runs the command once
 * per case (client-process.ts): each case's script plays a server, right
 * or wrong on purpose, and checks what the client does on the wire (its
 * hellos, cursors, send ids, closes, reconnect delays, pings) and what it
 * reports it handed to its application (client-cases.ts).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { CLIENT_CASES } from './client-cases.js';
import { ClientProcess } from './client-process.js';
import { protocolSchema } from '../../protocol/session-protocol.js';
import { ScriptedServer, type Heard, type ScriptedRoute } from './scripted-server.js';
import { show } from './sent.js';
import { runCases, type RunOptions, type SuiteCase, type SuiteReport, type Verdict } from './suite.js';

const CLIENT_TYPES: ReadonlySet<unknown> = new Set(['hello', 'send', 'ping']);

/** The heartbeat interval a client is asked to use in this suite (`WSL_CONFORMANCE_HEARTBEAT_MS`), so a silent server is found in a second, not 25. */
export const SUITE_HEARTBEAT_MS = 300;

/** The client's command could not be started in any case: nothing was tested. */
export class ClientCommandError extends Error {
  override readonly name = 'ClientCommandError';
}

export interface ClientSuiteOptions extends RunOptions {
  /** The client under test: a command and its arguments, run without a shell. */
  command: readonly string[];
}

/** What a case of the client suite uses: client processes of its own, each on a path of the scripted server. */
export class ClientContext {
  readonly #server: ScriptedServer;
  readonly #command: readonly string[];
  readonly #path: string;
  readonly #name: string;
  readonly #verdict: Verdict;

  constructor(server: ScriptedServer, command: readonly string[], path: string, name: string, verdict: Verdict) {
    this.#server = server;
    this.#command = command;
    this.#path = path;
    this.#name = name;
    this.#verdict = verdict;
  }

  /** Run the client under test against a path of its own (a server that does not speak the protocol with `subprotocol` false); stopped when the case ends. */
  start(label = 'client', subprotocol = true): { client: ClientProcess; route: ScriptedRoute } {
    const { url, route } = this.#server.route(`${this.#path}/${label}`, subprotocol);
    const client = new ClientProcess({ command: this.#command, url, caseName: this.#name, heartbeatMs: SUITE_HEARTBEAT_MS });
    // A wait for the client's next connection ends as soon as its process has ended.
    route.ended = () => (client.exit !== undefined || client.failure !== undefined ? client.describeEnd() : undefined);
    this.#verdict.defer(async () => {
      await client.stop();
      for (const [index, connection] of route.connections.entries()) checkClientFrames(this.#verdict, index, connection.heard);
      if (client.noise > 0) this.#verdict.note(`${client.noise} lines of the client's stdout were not events (docs/conformance.md)`);
    });
    return { client, route };
  }
}

/** Every frame a client sent on one connection: text, a JSON object, a client frame type, valid by the schema (2.1, 2.3, 3). */
function checkClientFrames(v: Verdict, index: number, heard: readonly Heard[]): void {
  for (const { text, frame } of heard) {
    const type = frame?.type;
    const invalid = typeof type === 'string' && CLIENT_TYPES.has(type) ? protocolSchema.check(frame, `#/$defs/${type}`) : undefined;
    let what: string | undefined;
    if (frame === undefined) what = 'that is not a JSON object';
    else if (!CLIENT_TYPES.has(type)) what = `of type ${show(type)}, which a v1 server does not know`;
    else if (invalid !== undefined) what = `with ${invalid.path} ${invalid.message}`;
    if (what !== undefined) v.must(false, `connection ${index + 1}: the client sent a frame ${what}: ${show(text)} (2.1, 2.3, 3)`);
  }
}

/** Whether the command starts at all (a missing file, no permission): started, and killed at once. */
function startable(command: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = spawn(command[0]!, command.slice(1), { stdio: 'ignore' });
    probe.once('spawn', () => {
      probe.kill('SIGKILL');
      resolve();
    });
    probe.once('error', (error) => reject(new ClientCommandError(`cannot run ${JSON.stringify(command.join(' '))}: ${error.message}`)));
  });
}

/** Every case of the client suite, in the order the report lists them. */
export const CLIENT_SUITE: ReadonlyArray<SuiteCase<ClientContext>> = CLIENT_CASES;

/**
 * @param {ClientSuiteOptions} options The client's command, which cases, how many at once
 * @returns {Promise<SuiteReport>} A result per case
 * @throws {ClientCommandError} When the command could not be started at all
 */
export async function runClientSuite(options: ClientSuiteOptions): Promise<SuiteReport> {
  if (options.command.length === 0) throw new RangeError('the client suite needs the command that runs the client under test');
  await startable(options.command);
  const started = performance.now();
  const server = await ScriptedServer.start();
  const run = randomBytes(3).toString('hex');
  try {
    const results = await runCases(CLIENT_SUITE, (name, verdict) => new ClientContext(server, options.command, `/${run}/${name}`, name, verdict), options);
    return { suite: 'client', target: options.command.join(' '), results, ms: Math.round(performance.now() - started) };
  } finally {
    await server.close();
  }
}
