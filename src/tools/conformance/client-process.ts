/**
 * A client under test, run as a process once per case of the client suite
 * (#24): it gets the scripted server's URL in `WSL_CONFORMANCE_URL` and
 * speaks a line protocol (docs/conformance.md): one JSON object per line
 * on its stdout for what it handed to its application (`message`,
 * `recovery`, `unsubscribed`, `closed`), one per line on its stdin for
 * what its application asks of it (`send`, `close`). Its output is
 * untrusted: bounded, parsed without throwing, and kept only as data.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { until } from './suite.js';

/** One line the client printed, as an event, with when it came. */
export interface ClientEvent {
  at: number;
  event: string;
  [key: string]: unknown;
}

/** Longest line read from a client; longer ones are cut and count as noise. */
const MAX_LINE = 1024 * 1024;
/** Events kept at most. */
const MAX_EVENTS = 10_000;
/** What is kept of the client's stderr, for the report. */
const MAX_STDERR = 4_000;

export interface ClientProcessOptions {
  /** The command and its arguments (no shell). */
  command: readonly string[];
  url: string;
  /** The case, in `WSL_CONFORMANCE_CASE`. */
  caseName: string;
  /** The interval a client may use for its own heartbeat in this run, in `WSL_CONFORMANCE_HEARTBEAT_MS`. */
  heartbeatMs: number;
}

export class ClientProcess {
  readonly events: ClientEvent[] = [];
  /** Lines that were not JSON objects with a string `event`. */
  noise = 0;
  stderr = '';
  exit: { code: number | null; signal: string | null } | undefined;
  /** Why the command could not be started, if it could not. */
  failure: string | undefined;
  readonly #child: ChildProcess;
  #partial = '';

  constructor(options: ClientProcessOptions) {
    const [file, ...args] = options.command;
    this.#child = spawn(file!, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: {
        ...process.env,
        WSL_CONFORMANCE_URL: options.url,
        WSL_CONFORMANCE_CASE: options.caseName,
        WSL_CONFORMANCE_HEARTBEAT_MS: String(options.heartbeatMs)
      }
    });
    this.#child.on('error', (error) => void (this.failure = error.message));
    this.#child.on('exit', (code, signal) => void (this.exit = { code, signal }));
    this.#child.stdin!.on('error', () => {});
    this.#child.stdout!.on('data', (chunk: Buffer) => this.#read(chunk.toString('utf8')));
    this.#child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString('utf8')).slice(-MAX_STDERR);
    });
  }

  /** The events of one kind (and topic), in the order printed. */
  of(event: string, topic?: string): ClientEvent[] {
    return this.events.filter((e) => e.event === event && (topic === undefined || e.topic === topic));
  }

  /** Wait until an event satisfies `predicate`; it, or an error naming `what`. */
  async waitFor(what: string, predicate: (event: ClientEvent) => boolean, timeoutMs = 5_000): Promise<ClientEvent> {
    await until(() => this.events.some(predicate) || this.exit !== undefined || this.failure !== undefined, timeoutMs, () => `the client to report ${what}`);
    const found = this.events.find(predicate);
    if (found === undefined) throw new Error(`the client ${this.describeEnd()} before it reported ${what}`);
    return found;
  }

  /** An instruction to the client's application. */
  tell(instruction: Record<string, unknown>): void {
    if (this.#child.stdin!.writable) this.#child.stdin!.write(`${JSON.stringify(instruction)}\n`);
  }

  /** How the process ended, for a report. */
  describeEnd(): string {
    if (this.failure !== undefined) return `could not be started (${this.failure})`;
    if (this.exit === undefined) return 'is still running';
    const tail = this.stderr.trim().split('\n').slice(-3).join(' | ');
    return `exited (${this.exit.signal ?? `code ${this.exit.code}`})${tail === '' ? '' : `; its stderr ends: ${tail}`}`;
  }

  /** Ask the client to close, end its stdin, and kill it if it has not exited within `graceMs`. */
  async stop(graceMs = 1_000): Promise<void> {
    if (this.exit !== undefined || this.failure !== undefined) return;
    this.tell({ do: 'close' });
    this.#child.stdin!.end();
    try {
      await until(() => this.exit !== undefined, graceMs, 'the client to exit');
    } catch {
      this.#child.kill('SIGKILL');
      await until(() => this.exit !== undefined, 2_000, 'the client to die').catch(() => {});
    }
  }

  #read(text: string): void {
    const lines = (this.#partial + text).split('\n');
    this.#partial = lines.pop()!;
    if (this.#partial.length > MAX_LINE) {
      this.#partial = '';
      this.noise++;
    }
    for (const line of lines) this.#line(line.trim());
  }

  #line(line: string): void {
    if (line === '') return;
    let value: unknown;
    try {
      value = line.length > MAX_LINE ? undefined : JSON.parse(line);
    } catch {
      value = undefined;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value) || typeof (value as { event?: unknown }).event !== 'string') {
      this.noise++;
      return;
    }
    const fields = value as Record<string, unknown> & { event: string };
    if (this.events.length < MAX_EVENTS) this.events.push({ ...fields, event: fields.event, at: Date.now() });
  }
}
