/**
 * The server process's handle on the client process: fork it, steer it
 * over IPC, and see that it ends by itself.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ClientExit } from './checks.js';
import { within } from './deadline.js';
import type { ClientConfig, ClientStats, FromClient, ToClient } from './protocol.js';

const CLIENT_SCRIPT = fileURLToPath(new URL('./client.ts', import.meta.url));
/** The client gets this long to drain, report and exit before it is killed. */
const STOP_DEADLINE_MS = 20_000;

/** A running client process. */
export class ClientProcess {
  readonly #child: ChildProcess;
  readonly #exited: Promise<{ code: number | null; signal: string | null }>;
  #hasExited = false;

  private constructor(child: ChildProcess) {
    this.#child = child;
    this.#exited = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        this.#hasExited = true;
        resolve({ code, signal });
      });
    });
  }

  /**
   * Fork the client process and wait until it is ready.
   *
   * @param {ClientConfig} config Where to connect and how hard
   * @returns {Promise<ClientProcess>} The handle
   * @throws {Error} If the process exits before it is ready
   */
  static async start(config: ClientConfig): Promise<ClientProcess> {
    const child = fork(CLIENT_SCRIPT, [JSON.stringify(config)], {
      execArgv: ['--import', import.meta.resolve('tsx')],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc']
    });
    const client = new ClientProcess(child);
    const ready = await client.#next('ready', STOP_DEADLINE_MS);
    if (!ready) throw new Error(`Client process ${child.pid} exited or hung before it was ready`);
    return client;
  }

  /** Start (or resume) churning connections. */
  run(): void {
    this.#send({ type: 'run' });
  }

  /**
   * Close every client socket and idle.
   *
   * @param {number} timeoutMs How long to wait for the client to report drained
   * @returns {Promise<boolean>} Whether it did
   */
  async drain(timeoutMs: number): Promise<boolean> {
    this.#send({ type: 'drain' });
    return (await this.#next('drained', timeoutMs)) !== undefined;
  }

  /**
   * Close every socket, collect the client's stats and wait for the process
   * to end by itself; kill it only past the deadline.
   *
   * @returns {Promise<{ stats: ClientStats | undefined; exit: ClientExit }>} What it did and how it ended
   */
  async stop(): Promise<{ stats: ClientStats | undefined; exit: ClientExit }> {
    const deadline = Date.now() + STOP_DEADLINE_MS;
    this.#send({ type: 'stop' });
    const message = await this.#next('stats', STOP_DEADLINE_MS);
    let ended = await within(this.#exited, Math.max(0, deadline - Date.now()));
    const exitedBySelf = ended !== undefined;
    if (!ended) {
      this.#child.kill('SIGKILL');
      ended = await this.#exited;
    }
    return { stats: message?.type === 'stats' ? message.stats : undefined, exit: { ...ended, exitedBySelf } };
  }

  #send(message: ToClient): void {
    if (this.#child.connected) this.#child.send(message);
  }

  /** The next message of a type, or `undefined` on timeout or exit. */
  #next<T extends FromClient['type']>(type: T, timeoutMs: number): Promise<Extract<FromClient, { type: T }> | undefined> {
    if (this.#hasExited) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const finish = (message: Extract<FromClient, { type: T }> | undefined): void => {
        clearTimeout(timer);
        this.#child.off('message', onMessage);
        this.#child.off('close', onClose);
        resolve(message);
      };
      const onMessage = (message: FromClient): void => {
        if (message.type === type) finish(message as Extract<FromClient, { type: T }>);
      };
      const onClose = (): void => finish(undefined);
      const timer = setTimeout(() => finish(undefined), timeoutMs);
      this.#child.on('message', onMessage);
      this.#child.once('close', onClose);
    });
  }
}
