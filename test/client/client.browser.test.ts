/**
 * ws-lifecycle/client in headless Chromium (Debian's, through
 * playwright-core) against a real server (#11): the page's network is cut
 * and restored while an agent keeps publishing, then the server restarts
 * (its sessions gone). The page receives everything, in order, once, or
 * is told `recovered: false`.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { build } from 'esbuild';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_PATH, hasChromium, launchChromium, type Browser } from '../../examples/browser.js';
import { attachToServer, type HttpLifecycle } from '../../src/adapters/http.js';
import { ConnectionManager } from '../../src/index.js';
import { userTopic } from '../../src/sessions/session-hub.js';
import { silentLogger, waitFor } from '../support/server.js';

const available = hasChromium();
if (!available) console.warn(`\n!!! ${CHROMIUM_PATH} not found: SKIPPING the client browser test (apt-get install -y chromium)\n`);

const PAGE = `<!doctype html><meta charset="utf-8"><script src="/client.js"></script><script>
  window.received = []; window.recoveries = []; window.states = [];
  const client = new WsLifecycleClient.SessionClient({ url: 'ws://' + location.host + '/ws?user=alice', minDelayMs: 20, maxDelayMs: 200 });
  client.on('message', (m) => window.received.push(m.offset + ':' + m.data.n));
  client.on('recovery', (r) => window.recoveries.push({ topic: r.topic, recovered: r.recovered, reason: r.reason ?? null, offset: r.offset }));
  client.on('state', (s) => window.states.push(s));
  window.client = client.start();
</script>`;

interface App {
  http: Server;
  lifecycle: HttpLifecycle;
}

async function startApp(bundle: string, port = 0): Promise<App> {
  const http = createServer((request, response) => {
    if (request.url === '/client.js') response.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
    else response.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
  });
  const manager = new ConnectionManager({ logger: silentLogger(), heartbeatIntervalMs: 0, sessions: { ttlMs: 10_000 } });
  const lifecycle = attachToServer(http, {
    manager,
    path: '/ws',
    identify: (request) => ({ userId: new URL(request.url ?? '/', 'http://x').searchParams.get('user') ?? undefined }),
    shutdown: { timeoutMs: 1_000 }
  });
  http.listen(port, '127.0.0.1');
  await once(http, 'listening');
  return { http, lifecycle };
}

async function stopApp(app: App): Promise<void> {
  await app.lifecycle.close();
  // The page's keep-alive HTTP connection would hold the close open.
  app.http.closeAllConnections();
  await new Promise((resolve) => app.http.close(resolve));
}

describe.skipIf(!available)('SessionClient in Chromium', () => {
  let bundle: string;
  let app: App;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    const result = await build({ entryPoints: ['src/client/session-client.ts'], bundle: true, format: 'iife', globalName: 'WsLifecycleClient', platform: 'browser', write: false });
    bundle = result.outputFiles[0]!.text;
    app = await startApp(bundle);
    browser = await launchChromium();
    page = await browser.context.newPage();
  });

  afterAll(async () => {
    await browser?.close();
    if (app) await stopApp(app);
  });

  const received = (): Promise<string[]> => page.evaluate(() => (globalThis as unknown as { received: string[] }).received);
  const state = (): Promise<string> => page.evaluate(() => (globalThis as unknown as { client: { state: string } }).client.state);
  const until = async (predicate: () => Promise<boolean>, what: string): Promise<void> => {
    const deadline = Date.now() + 8_000;
    while (!(await predicate())) {
      if (Date.now() > deadline) {
        const seen = await page.evaluate(() => JSON.stringify(globalThis as unknown as Record<string, unknown>, ['received', 'recoveries', 'states']));
        throw new Error(`timed out waiting for ${what}; the page saw ${seen}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  it('gets every message across a network cut, in order and once, and is told when the restarted server lost its session', async () => {
    const { port } = app.http.address() as AddressInfo;
    await page.goto(`http://127.0.0.1:${port}/`);
    await until(async () => (await state()) === 'open', 'the page to connect');
    const publish = (n: number) => app.lifecycle.manager.sendToUser('alice', { n });
    for (let n = 1; n <= 5; n++) await publish(n);
    await until(async () => (await received()).length === 5, 'five messages');

    // The network goes away under the page; the agent keeps publishing.
    await browser.context.setOffline(true);
    for (const connection of app.lifecycle.manager.connectionsOf('alice')) connection.socket.terminate();
    for (let n = 6; n <= 10; n++) await publish(n);
    await browser.context.setOffline(false);
    await until(async () => (await received()).length === 10, 'the missed five after the network came back');
    await publish(11);
    await until(async () => (await received()).length === 11, 'a live one');
    expect(await received()).toEqual(Array.from({ length: 11 }, (_, i) => `${i + 1}:${i + 1}`));

    // The server restarts empty: the page is told, per topic, and then gets what comes next.
    await stopApp(app);
    app = await startApp(bundle, port);
    await until(
      async () => (await page.evaluate(() => (globalThis as unknown as { recoveries: Array<{ reason: string | null }> }).recoveries)).some((r) => r.reason === 'unknown_session'),
      'the page to be told'
    );
    await waitFor(() => app.lifecycle.manager.connectionsOf('alice').length === 1, 10_000, 'the page back');
    await publish(12);
    await until(async () => (await received()).length === 12, 'the first message of the new server');
    type Recovery = { topic: string; recovered: boolean; reason: string | null };
    const recoveries = await page.evaluate(() => (globalThis as unknown as { recoveries: Recovery[] }).recoveries);
    expect(recoveries.filter((r) => r.topic === userTopic('alice')).map((r) => [r.recovered, r.reason])).toEqual([
      [false, 'unknown_session'],
      [true, null],
      [false, 'unknown_session']
    ]);
    expect((await received()).at(-1)).toBe('1:12');
  });
});
