/**
 * The inspector on the same HTTP server as each adapter, in a child process
 * that must stay alive (#25): its socket is upgraded once (an adapter
 * without a path used to take it too: "handleUpgrade() was called more than
 * once"), its page is answered once (beside Express's 404:
 * ERR_HTTP_HEADERS_SENT), it needs its token, and everything else still
 * reaches the adapter and the framework.
 */
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { INSPECTOR_TOKEN, childPerSuite, type ChildScenario } from './support/child-server.js';
import { rawExchange, upgradeRequestTo } from './support/raw-client.js';

const SCENARIOS: Array<ChildScenario & { name: string }> = [
  { name: 'http, no path', framework: 'http', path: null, inspector: true },
  { name: 'http, path /ws', framework: 'http', inspector: true },
  { name: 'express, no path', framework: 'express', path: null, inspector: true },
  { name: 'express, path /ws', framework: 'express', inspector: true },
  { name: 'fastify', framework: 'fastify', inspector: true },
  { name: 'hono', framework: 'hono', inspector: true },
  { name: 'nest', framework: 'nest', inspector: true }
];

/** The first snapshot the inspector's socket pushes, or the HTTP status it was refused with. */
function firstSnapshot(port: number, query: string): Promise<{ counts: Record<string, number> } | number> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/inspect/ws${query}`);
  ws.on('error', () => {});
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no snapshot and no refusal within 10 s')), 10_000);
    ws.once('message', (data) => {
      clearTimeout(timer);
      resolve(JSON.parse(data.toString()) as { counts: Record<string, number> });
      ws.close();
    });
    ws.once('unexpected-response', (_request, response) => {
      clearTimeout(timer);
      resolve(response.statusCode ?? 0);
      ws.terminate();
    });
  });
}

describe.each(SCENARIOS)('the inspector beside the $name adapter, in a child process', (scenario) => {
  const child = childPerSuite(scenario);
  const expectServing = (): Promise<void> => child.expectServing();

  it('upgrades its own socket once, and the adapter keeps its own', async () => {
    for (let i = 0; i < 3; i++) {
      const snapshot = await firstSnapshot(child.port, `?token=${INSPECTOR_TOKEN}`);
      expect(snapshot).toMatchObject({ counts: expect.any(Object) });
    }
    await expectServing();
  });

  it('refuses its socket without the token (401) or from another origin (403)', async () => {
    expect(await firstSnapshot(child.port, '')).toBe(401);
    const foreign = await rawExchange(
      child.port,
      upgradeRequestTo(child.port, `/inspect/ws?token=${INSPECTOR_TOKEN}`).replace('\r\n\r\n', '\r\nOrigin: https://evil.example\r\n\r\n')
    );
    expect(foreign).toEqual({ status: 'HTTP/1.1 403 Forbidden', closed: true });
    await expectServing();
  });

  it('answers its page once, with the token, and 401 without', async () => {
    const page = await fetch(`http://127.0.0.1:${child.port}/inspect?token=${INSPECTOR_TOKEN}`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('data-count="connected"');
    expect((await fetch(`http://127.0.0.1:${child.port}/inspect`)).status).toBe(401);
    // The framework still answers its own requests.
    expect((await fetch(`http://127.0.0.1:${child.port}/`)).status).toBeLessThan(500);
    await expectServing();
  });

  it('leaves every other path to the adapter: upgraded by one without a path, answered and closed otherwise', async () => {
    const answer = await rawExchange(child.port, upgradeRequestTo(child.port, '/elsewhere'), 2_000);
    if (scenario.path === null) expect(answer.status).toBe('HTTP/1.1 101 Switching Protocols');
    else expect(answer.closed).toBe(true);
    await expectServing();
  });
});
