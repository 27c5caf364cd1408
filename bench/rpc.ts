/**
 * Request/response over the child-process IPC channel: the orchestrator
 * drives a server process and a client process, each an "agent" that
 * answers named commands.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

interface Request {
  id: number;
  cmd: string;
  args: unknown;
}

type Reply = { id: number; value: unknown } | { id: number; error: string };

/** A command handler: takes the request's args, returns (or resolves to) the reply. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Handler = (args: any) => unknown;

/** How to start an agent process. */
export interface AgentOptions {
  /** Name used in error messages. */
  name: string;
  /** Extra node flags, e.g. `--expose-gc`. */
  nodeFlags?: string[];
}

/** The orchestrator's handle on one agent process. */
export class Agent {
  readonly name: string;
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  #nextId = 1;
  #exited: Error | undefined;

  private constructor(name: string, child: ChildProcess) {
    this.name = name;
    this.#child = child;
    child.on('message', (reply: Reply) => {
      const waiter = this.#pending.get(reply.id);
      if (!waiter) return;
      this.#pending.delete(reply.id);
      if ('error' in reply) waiter.reject(new Error(`${name}: ${reply.error}`));
      else waiter.resolve(reply.value);
    });
    child.on('exit', (code, signal) => {
      this.#exited = new Error(`${name} process exited (code ${code}, signal ${signal})`);
      for (const waiter of this.#pending.values()) waiter.reject(this.#exited);
      this.#pending.clear();
    });
  }

  /**
   * Fork `script` under tsx and wait until it answers.
   *
   * @param {URL} script The agent module (it calls {@link serveAgent})
   * @param {AgentOptions} options Name and node flags
   * @returns {Promise<Agent>} The ready agent
   */
  static async start(script: URL, options: AgentOptions): Promise<Agent> {
    const child = fork(fileURLToPath(script), [], {
      execArgv: ['--import', 'tsx', ...(options.nodeFlags ?? [])],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc']
    });
    const agent = new Agent(options.name, child);
    await agent.call('ping');
    return agent;
  }

  /** The agent's process id. */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  /**
   * Run a command in the agent.
   *
   * @param {string} cmd Command name
   * @param {unknown} [args] Its arguments (JSON-serializable)
   * @returns {Promise<T>} The command's result
   * @throws {Error} If the command throws or the process exits
   */
  call<T = unknown>(cmd: string, args?: unknown): Promise<T> {
    if (this.#exited) return Promise.reject(this.#exited);
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      // A process killed but not yet reported exited fails the write (EPIPE): the call fails, nothing throws.
      this.#child.send({ id, cmd, args } satisfies Request, (error) => {
        if (!error) return;
        this.#pending.delete(id);
        reject(error);
      });
    });
  }

  /** Kill the process with `signal` (a node dying, in the cluster scenario); resolves once it exited. */
  async kill(signal: NodeJS.Signals): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    this.#child.kill(signal);
    await exited;
  }

  /** Ask the agent to exit; kill it if it has not within `timeoutMs`. */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    if (this.#child.connected) this.#child.disconnect();
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
  }
}

/**
 * Answer the orchestrator's commands in this (child) process; exit when
 * the orchestrator disconnects.
 *
 * @param {Record<string, Handler>} handlers Commands by name (`ping` is built in)
 */
export function serveAgent(handlers: Record<string, Handler>): void {
  const send = process.send?.bind(process);
  if (!send) throw new Error('serveAgent() must run in a forked child process');
  const answer = async (request: Request): Promise<void> => {
    let reply: Reply;
    try {
      if (request.cmd === 'ping') {
        reply = { id: request.id, value: true };
      } else {
        const handler = handlers[request.cmd];
        if (!handler) throw new Error(`unknown command ${JSON.stringify(request.cmd)}`);
        reply = { id: request.id, value: (await handler(request.args)) ?? null };
      }
    } catch (error) {
      reply = { id: request.id, error: (error as Error).stack ?? String(error) };
    }
    if (process.connected) send(reply);
  };
  process.on('message', (request: Request) => void answer(request));
  process.on('disconnect', () => process.exit(0));
}
