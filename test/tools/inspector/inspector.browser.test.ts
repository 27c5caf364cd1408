import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInspector, type Inspector } from '../../../src/tools/inspector/inspector.js';
import { CHROMIUM_PATH, hasChromium, launchChromium, type Browser } from '../../../examples/browser.js';
import { startServer, type TestServer } from '../../support/server.js';

const available = hasChromium();
if (!available) {
  console.warn(
    `\n!!! ${CHROMIUM_PATH} not found: SKIPPING the inspector browser test.\n` +
      '!!! Install it with: apt-get update && apt-get install -y chromium\n'
  );
}

const TOKEN = 'the-browser-test-token-0123456789';

describe.skipIf(!available)('inspector page in Chromium', () => {
  let server: TestServer;
  let http: Server;
  let inspector: Inspector;
  let browser: Browser;
  let page: Page;
  let origin: string;
  const foreignRequests: string[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    server = await startServer({ heartbeatIntervalMs: 0 });
    http = createServer();
    inspector = createInspector(server.manager, { server: http, intervalMs: 50, token: TOKEN });
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    origin = `127.0.0.1:${(http.address() as AddressInfo).port}`;
    browser = await launchChromium();
    page = await browser.context.newPage();
    page.on('request', (request) => {
      const url = new URL(request.url());
      if (url.host !== origin) foreignRequests.push(request.url());
    });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(message.text());
    });
  });

  afterAll(async () => {
    await browser?.close();
    await inspector?.close();
    http?.closeAllConnections();
    await new Promise((resolve) => (http ? http.close(resolve) : resolve(undefined)));
    await server?.stop();
  });

  const shown = (state: string): Promise<number> => page.locator(`[data-count="${state}"]`).textContent().then(Number);
  const waitShown = (state: string, value: number): Promise<void> =>
    page
      .locator(`[data-count="${state}"]`)
      .filter({ hasText: new RegExp(`^${value}$`) })
      .waitFor({ timeout: 10_000 });

  it('shows connections opening and closing as they happen', async () => {
    await page.goto(`http://${origin}${inspector.path}?token=${TOKEN}`);
    await page.waitForSelector('#status[data-status="live"]', { timeout: 10_000 });
    expect(await page.locator('svg.chart [data-state]').count()).toBe(4);
    expect(await shown('connected')).toBe(0);
    const closedBefore = await shown('closed');

    const opened = [];
    for (const user of ['ann', 'bob', 'cy']) opened.push(await server.connect(user));
    await waitShown('connected', 3);
    expect(await page.locator('#live').textContent()).toBe('3');
    expect(await page.locator('[data-key="connecting|OPENED|connected"]').textContent()).toBe('3');

    // Two tabs leave, one is closed by the server.
    opened[0]!.client.ws.close(1000, 'tab closed');
    opened[1]!.client.ws.terminate();
    await server.manager.close(opened[2]!.connection.id, 4000, 'session expired');
    await waitShown('connected', 0);
    await waitShown('closed', closedBefore + 3);
    expect(await page.locator('#recent tr').count()).toBeGreaterThanOrEqual(6);
    expect(await page.locator('#recent').textContent()).toContain('session expired');

    expect(foreignRequests).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
