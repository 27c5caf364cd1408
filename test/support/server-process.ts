/**
 * The parent's side of test/support/session-server-process.ts: start the
 * session server in a child process, ask it things, read what its
 * application was handed, and tell whether it is still alive (and if not,
 * what it said on its way out).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Delivery, Membership, Position } from '../../src/tools/conformance/checker.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCRIPT = join(ROOT, 'test', 'support', 'session-server-process.ts');

/** The room every user of the server process is in from its start. */
export const PROCESS_ROOM = 'room:fuzz-ü';
export const PROCESS_USERS = ['alice', 'bob'] as const;

/**
 * Data the server process was handed but could not write back (nested
 * deeper than JSON.stringify goes): written as JSON it fails the same way,
 * so it compares equal to the deep value that was sent.
 */
function tooDeep(message: string): unknown {
  return {
    toJSON(): never {
      throw new RangeError(message);
    }
  };
}

export class ServerProcess {
  readonly port: number;
  readonly deliveries: Delivery[] = [];
  readonly memberships: Membership[] = [];
  readonly #child: ChildProcess;
  readonly #replies = new Map<number, (reply: Record<string, unknown>) => void>();
  readonly #output: { stderr: string };
  #next = 0;

  private constructor(child: ChildProcess, port: number, output: { stderr: string }) {
    this.#child = child;
    this.port = port;
    this.#output = output;
  }

  /**
   * @param {readonly string[]} args Options of the server process (`--stall-records-ms`, `--max-payload`, `--max-frames-per-second`)
   * @returns {Promise<ServerProcess>} Once it listens
   * @throws {Error} If it exits first, with what it wrote to stderr
   */
  static async start(args: readonly string[] = []): Promise<ServerProcess> {
    const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    const output = { stderr: '' };
    child.stderr.on('data', (chunk: Buffer) => (output.stderr += chunk.toString()));
    // Lines before the server object exists wait here; after, they go straight to it.
    const early: Array<Record<string, unknown>> = [];
    let take = (message: Record<string, unknown>): void => void early.push(message);
    const port = await new Promise<number>((resolvePort, reject) => {
      child.once('exit', (code) => reject(new Error(`the server process exited (${code}) before listening: ${output.stderr.slice(-2_000)}`)));
      createInterface({ input: child.stdout }).on('line', (line) => {
        const message = JSON.parse(line) as Record<string, unknown>;
        if (message.event === 'listening') resolvePort(message.port as number);
        else take(message);
      });
    });
    const server = new ServerProcess(child, port, output);
    take = (message) => server.#line(message);
    for (const message of early) server.#line(message);
    return server;
  }

  /** Why the process is not alive, or `undefined` while it is. */
  get death(): string | undefined {
    const { exitCode, signalCode } = this.#child;
    if (exitCode === null && signalCode === null) return undefined;
    return `the server process exited (code ${exitCode}, signal ${signalCode}): ${this.#output.stderr.slice(-3_000)}`;
  }

  /** Publish `count` messages to `topic`; resolves once delivered there. */
  async publish(topic: string, count: number): Promise<void> {
    await this.#ask({ cmd: 'publish', topic, count });
  }

  /** Where each topic stands in the server's store. */
  async positions(topics: readonly string[]): Promise<Record<string, Position>> {
    return (await this.#ask({ cmd: 'positions', topics })).positions as Record<string, Position>;
  }

  /** The server process's resident set size, in bytes. */
  async rss(): Promise<number> {
    return (await this.#ask({ cmd: 'memory' })).rss as number;
  }

  /** End the process (its stdin closes: it shuts down; killed if it does not within 3 s). */
  async stop(): Promise<void> {
    if (this.death !== undefined) return;
    const exited = new Promise<void>((done) => this.#child.once('exit', () => done()));
    this.#child.stdin!.end();
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 3_000);
    await exited;
    clearTimeout(timer);
  }

  #ask(command: Record<string, unknown>): Promise<Record<string, unknown>> {
    const death = this.death;
    if (death !== undefined) return Promise.reject(new Error(death));
    const id = ++this.#next;
    return new Promise((resolveReply, reject) => {
      const timer = setTimeout(() => reject(new Error(this.death ?? `the server process did not answer ${JSON.stringify(command)}`)), 10_000);
      this.#replies.set(id, (reply) => {
        clearTimeout(timer);
        resolveReply(reply);
      });
      this.#child.stdin!.write(`${JSON.stringify({ ...command, id })}\n`);
    });
  }

  #line(message: Record<string, unknown>): void {
    if (message.event === 'delivery') {
      const data = typeof message.unwritable === 'string' ? tooDeep(message.unwritable) : message.data;
      this.deliveries.push({ connection: message.connection as string, data });
    }
    else if (message.event === 'joined') this.memberships.push({ user: message.user as string, topic: message.topic as string, from: message.from as Position });
    else if (typeof message.reply === 'number') {
      this.#replies.get(message.reply)?.(message);
      this.#replies.delete(message.reply);
    }
  }
}
