/**
 * A node of the cluster demos (examples/cluster/node.ts) as a child
 * process, and its IPC calls (#12, #23): a call to a node that dies first,
 * or that was killed but not yet reported exited, answers undefined.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { NodeReply, NodeRequest } from './node.js';

const NODE_SCRIPT = fileURLToPath(new URL('./node.ts', import.meta.url));

/** A node process and its IPC calls. */
export class NodeProcess {
  readonly nodeId: string;
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, (value: unknown) => void>();
  readonly exited: Promise<number | null>;
  #nextId = 1;
  #alive = true;
  port = 0;

  /**
   * `args`: node.ts's own, `--prefix` and where Redis is (`--redis URL`, or
   * `--sentinels` and `--master-name`); `logLevel` its pino level (default
   * `LOG_LEVEL`, else warn).
   */
  constructor(nodeId: string, args: readonly string[], logLevel?: string) {
    this.nodeId = nodeId;
    this.#child = fork(NODE_SCRIPT, ['--node-id', nodeId, ...args], {
      execArgv: ['--import', 'tsx'],
      env: logLevel === undefined ? process.env : { ...process.env, LOG_LEVEL: logLevel },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc']
    });
    this.exited = new Promise((resolve) =>
      this.#child.once('exit', (code) => {
        this.#alive = false;
        // Calls in flight die with the node: they answer undefined.
        for (const settle of this.#pending.values()) settle(undefined);
        this.#pending.clear();
        resolve(code);
      })
    );
    this.#child.on('message', (message: NodeReply) => {
      if (message.type !== 'reply') return;
      this.#pending.get(message.id)?.(message.value);
      this.#pending.delete(message.id);
    });
  }

  get alive(): boolean {
    return this.#alive;
  }

  /** Resolves once the node listens (its port is then known). */
  listening(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#child.on('message', (message: NodeReply) => {
        if (message.type !== 'listening') return;
        this.port = message.port;
        resolve();
      });
      void this.exited.then((code) => reject(new Error(`${this.nodeId} exited with ${code} before listening`)));
    });
  }

  /** Ask the node; resolves undefined if it dies first. */
  call<T>(request: NodeRequest extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never): Promise<T | undefined> {
    if (!this.#alive) return Promise.resolve(undefined);
    const id = this.#nextId++;
    return new Promise((resolve) => {
      this.#pending.set(id, resolve as (value: unknown) => void);
      // Killed but not yet reported exited: the write fails (EPIPE) and the call is answered as if it had died first.
      this.#child.send({ ...request, id }, (error) => {
        if (!error) return;
        this.#pending.delete(id);
        resolve(undefined);
      });
    });
  }

  kill(signal: NodeJS.Signals): void {
    if (this.#alive) this.#child.kill(signal);
  }
}

