/**
 * The framework examples run as written (#13): each starts on a free
 * port, welcomes an identified client, refuses an anonymous one with 401,
 * and on SIGTERM closes every client with 1001 and exits by itself. A
 * session client of each gets the protocol's `welcome` first, never the
 * examples' greeting.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { WebSocket } from 'ws';
import { describe, expect, it } from 'vitest';
import { SESSION_PROTOCOL } from '../../src/protocol/session-protocol.js';

const EXAMPLES = ['http', 'express', 'fastify', 'hono', 'nest'];

describe.each(EXAMPLES)('examples/%s.ts', (name) => {
  it('welcomes alice, gives a session client the protocol welcome first, refuses an anonymous client with 401, and drains with 1001 on SIGTERM', async () => {
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

      // A session client's first frame is the protocol's welcome, not the greeting (docs/protocol.md 1.4, 6.1).
      const tab = new WebSocket(`${url}?user=alice`, [SESSION_PROTOCOL]);
      await once(tab, 'open');
      tab.send(JSON.stringify({ type: 'hello', client: 'example-tab' }));
      const [first] = (await once(tab, 'message')) as [Buffer];
      expect(JSON.parse(first.toString())).toMatchObject({ type: 'welcome', resumed: false, topics: ['broadcast', 'user:alice'] });
      tab.close();
      await once(tab, 'close');

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
