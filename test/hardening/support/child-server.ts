/**
 * Start adapter-server.ts in a child process and talk to it from outside
 * (#25): the test fails if anything it sends ends that process. Every child
 * is stopped by `stop()` (SIGTERM, then SIGKILL after 5 s).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect } from 'vitest';
import { WebSocket } from 'ws';

/** What the child runs. */
export interface ChildScenario {
  framework: string;
  /** The adapter's path; `null` for none (http, Express); default `/ws`. */
  path?: string | null;
  identifyTimeoutMs?: number;
  /** Serve the inspector (token {@link INSPECTOR_TOKEN}) on the same server. */
  inspector?: boolean;
}

export const INSPECTOR_TOKEN = 'child-inspector-token-0123456789';

const SCRIPT = fileURLToPath(new URL('./adapter-server.ts', import.meta.url));

export interface ChildServer {
  port: number;
  /** Whether the process is still running. */
  alive(): boolean;
  /** What it wrote to stderr so far (its error log, or the fault that ended it). */
  stderr(): string;
  stop(): Promise<void>;
}

/**
 * @param {ChildScenario} scenario What to run
 * @returns {Promise<ChildServer>} Once it listens
 * @throws {Error} If it exits or stays silent for 30 s first
 */
export async function startChild(scenario: ChildScenario): Promise<ChildServer> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', SCRIPT, JSON.stringify(scenario)], {
    stdio: ['ignore', 'pipe', 'pipe']
  });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${scenario.framework} child not ready after 30 s: ${stderr}`)), 30_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const ready = /READY (\d+)/.exec(stdout);
      if (ready) {
        clearTimeout(timer);
        resolve(Number(ready[1]));
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${scenario.framework} child exited (${code ?? signal}) before it listened: ${stderr}`));
    });
  });
  return {
    port,
    alive: () => child.exitCode === null && child.signalCode === null,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
  };
}

/**
 * The child answers the next request: a WebSocket to `path` as `user`
 * opens and is welcomed.
 *
 * @returns {Promise<string>} The welcome
 * @throws {Error} If the upgrade is refused or nothing comes within 10 s
 */
export function welcomed(port: number, path = '/ws', user = 'next'): Promise<string> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}?user=${user}`);
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no welcome within 10 s')), 10_000);
    ws.once('message', (data) => {
      clearTimeout(timer);
      resolve(data.toString());
      ws.close();
    });
    ws.once('unexpected-response', (_request, response) => {
      clearTimeout(timer);
      reject(new Error(`upgrade refused with ${response.statusCode}`));
      ws.terminate();
    });
    ws.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** A child for the tests of one describe block. */
export interface SuiteChild {
  /** Its port (once started). */
  readonly port: number;
  /** The process is alive, and the next client is upgraded and welcomed. */
  expectServing(): Promise<void>;
}

/**
 * Call inside a `describe`: starts `scenario` before its tests, stops it after.
 *
 * @param {ChildScenario} scenario What to run
 * @returns {SuiteChild} The running child
 */
export function childPerSuite(scenario: ChildScenario): SuiteChild {
  let child: ChildServer | undefined;
  beforeAll(async () => {
    child = await startChild(scenario);
  }, 60_000);
  afterAll(async () => {
    await child?.stop();
  });
  return {
    get port() {
      return child!.port;
    },
    async expectServing() {
      expect(child!.alive(), child!.stderr()).toBe(true);
      await expect(welcomed(child!.port, '/ws', 'next')).resolves.toBe('welcome next');
    }
  };
}
