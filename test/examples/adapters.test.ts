/**
 * The framework examples run as written (#13): each starts on a free
 * port, welcomes an identified client, refuses an anonymous one with 401,
 * and on SIGTERM closes every client with 1001 and exits by itself.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { WebSocket } from 'ws';
import { describe, expect, it } from 'vitest';

const EXAMPLES = ['http', 'express', 'fastify', 'hono', 'nest'];

describe.each(EXAMPLES)('examples/%s.ts', (name) => {
  it('welcomes alice, refuses an anonymous client with 401, and drains with 1001 on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', `examples/${name}.ts`], {
      env: { ...process.env, PORT: '0' },
      stdio: ['ignore', 'pipe', 'inherit']
    });
    const exited = once(child, 'exit');
    try {
      const lines = createInterface({ input: child.stdout });
      const url = await new Promise<string>((resolve, reject) => {
        lines.on('line', (line) => {
          const match = /listening on (ws:\/\/\S+)/.exec(line);
          if (match) resolve(match[1]!);
        });
        child.once('exit', (code) => reject(new Error(`exited with ${code} before listening`)));
      });
      const anonymous = new WebSocket(url);
      anonymous.on('error', () => {});
      const [, response] = (await once(anonymous, 'unexpected-response')) as [unknown, { statusCode: number }];
      expect(response.statusCode).toBe(401);

      const alice = new WebSocket(`${url}?user=alice`);
      const [welcome] = (await once(alice, 'message')) as [Buffer];
      expect(welcome.toString()).toBe('welcome alice');
      const closed = once(alice, 'close');
      child.kill('SIGTERM');
      const [code] = (await closed) as [number];
      expect(code).toBe(1001);
      const [exitCode] = (await exited) as [number | null];
      expect(exitCode).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
