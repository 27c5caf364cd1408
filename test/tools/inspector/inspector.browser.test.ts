import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInspector, type Inspector, type InspectorCluster } from '../../../src/tools/inspector/inspector.js';
import { COUNT_WIDTH } from '../../../src/tools/inspector/live-chart.js';
import { CHROMIUM_PATH, hasChromium, launchChromium, type Browser } from '../../../examples/browser.js';
import { isWelcome, openSessionClient, type SessionTestClient } from '../../support/session-client.js';
import { startServer, type TestServer } from '../../support/server.js';
import { chartLayout, type LayoutQuery } from './chart-layout.js';

const available = hasChromium();
if (!available) {
  console.warn(
    `\n!!! ${CHROMIUM_PATH} not found: SKIPPING the inspector browser test.\n` +
      '!!! Install it with: apt-get update && apt-get install -y chromium\n'
  );
}

const TOKEN = 'the-browser-test-token-0123456789';
const GRAPHVIZ: LayoutQuery = { charts: 'svg.chart', boxes: 'g.node', panel: 'figure' };
/** The widest number the page writes (`formatCount`): in a monospace font every digit is as wide. */
const WIDEST = '9'.repeat(COUNT_WIDTH);

describe.skipIf(!available)('inspector page in Chromium', () => {
  let server: TestServer;
  let http: Server;
  let inspector: Inspector;
  let clusterInspector: Inspector;
  let browser: Browser;
  let page: Page;
  let origin: string;
  const tabs: SessionTestClient[] = [];
  const foreignRequests: string[] = [];
  const pageErrors: string[] = [];
  const cluster: InspectorCluster = {
    nodeId: 'node-a',
    state: 'ready',
    nodes: () => Promise.resolve([{ nodeId: 'node-a', state: 'ready' }, { nodeId: 'node-b', state: 'ready' }, { nodeId: 'node-c', state: 'draining' }])
  };

  beforeAll(async () => {
    server = await startServer({ heartbeatIntervalMs: 0 });
    http = createServer();
    inspector = createInspector(server.manager, { server: http, intervalMs: 50, token: TOKEN });
    clusterInspector = createInspector(server.manager, { server: http, intervalMs: 50, token: TOKEN, path: '/cluster', cluster });
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
    for (const tab of tabs) tab.ws.terminate();
    await browser?.close();
    await inspector?.close();
    await clusterInspector?.close();
    http?.closeAllConnections();
    await new Promise((resolve) => (http ? http.close(resolve) : resolve(undefined)));
    await server?.stop();
  });

  const open = async (path: string): Promise<void> => {
    await page.goto(`http://${origin}${path}?token=${TOKEN}`);
    await page.waitForSelector('#status[data-status="live"]', { timeout: 10_000 });
    await page.locator('#updated').filter({ hasNotText: /^-$/ }).waitFor({ timeout: 10_000 });
  };
  const count = (chart: string, state: string): string => `figure[data-chart="${chart}"] [data-count="${state}"]`;
  const shown = (chart: string, state: string): Promise<number> => page.locator(count(chart, state)).textContent().then(Number);
  const waitShown = (chart: string, state: string, value: number): Promise<void> =>
    page.locator(count(chart, state)).filter({ hasText: new RegExp(`^${value}$`) }).waitFor({ timeout: 10_000 });

  it('shows connections opening and closing as they happen', async () => {
    await open(inspector.path);
    expect(await page.locator('figure[data-chart="connection"] g.node.state').count()).toBe(4);
    expect(await shown('connection', 'connected')).toBe(0);
    const closedBefore = await shown('connection', 'closed');

    const opened = [];
    for (const user of ['ann', 'bob', 'cy']) opened.push(await server.connect(user));
    await waitShown('connection', 'connected', 3);
    expect(await page.locator('#live').textContent()).toBe('3');
    expect(await page.locator('[data-key="connecting|OPENED|connected"]').textContent()).toBe('3');
    expect(await page.locator('figure[data-chart="connection"] g.node.busy').count()).toBeGreaterThanOrEqual(1);

    // Two tabs leave, one is closed by the server.
    opened[0]!.client.ws.close(1000, 'tab closed');
    opened[1]!.client.ws.terminate();
    await server.manager.close(opened[2]!.connection.id, 4000, 'session expired');
    await waitShown('connection', 'connected', 0);
    await waitShown('connection', 'closed', closedBefore + 3);
    expect(await page.locator('#recent tr').count()).toBeGreaterThanOrEqual(6);
    expect(await page.locator('#recent').textContent()).toContain('session expired');

    expect(foreignRequests).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  it('shows sessions on their chart and the busiest topics with epoch, newest offset and connections', async () => {
    await open(inspector.path);
    for (const user of ['dee', 'dee', 'eve']) tabs.push(await openSessionClient(server.port, user));
    for (const tab of tabs) tab.hello();
    await Promise.all(tabs.map((tab) => tab.next(isWelcome, 'welcome')));
    for (let i = 0; i < 4; i++) await server.manager.publish('user:dee', { i });
    await waitShown('session', 'attached', 3);
    const row = page.locator('#topics tr').filter({ hasText: 'user:dee' });
    // Publishes announce nothing: the page has the offset within the once-a-second refresh.
    await row.filter({ has: page.locator('td:nth-child(3)', { hasText: /^4$/ }) }).waitFor({ timeout: 10_000 });
    expect(await row.locator('td').allTextContents()).toEqual(['user:dee', expect.stringMatching(/.+/), '4', '2']);

    tabs.pop()!.ws.close();
    await waitShown('session', 'detached', 1);
    expect(await page.locator('[data-key="attached|DETACH|detached"]').textContent()).toBe('1');
    expect(pageErrors).toEqual([]);
  });

  it('shows, with a cluster, the nodes in each state and this node highlighted', async () => {
    await open(clusterInspector.path);
    await waitShown('node', 'ready', 2);
    expect(await shown('node', 'draining')).toBe(1);
    expect(await page.locator('figure[data-chart="node"] g.node.here').getAttribute('id')).toBe('node-state-1');
    expect(await page.locator('#node-list').textContent()).toContain('node-a (this node)');
    expect(pageErrors).toEqual([]);
  });

  // The check itself: a label moved onto a box, and one moved out of the chart, are found.
  it('finds a label that meets a box or leaves its panel', async () => {
    await open(inspector.path);
    const moved = await page.evaluate<[string, string]>(`(() => {
      const box = document.querySelector('figure[data-chart="connection"] g.node.state text');
      const label = document.querySelector('figure[data-chart="connection"] g.edge text');
      label.setAttribute('x', box.getAttribute('x'));
      label.setAttribute('y', box.getAttribute('y'));
      const other = document.querySelector('figure[data-chart="session"] g.edge text');
      other.setAttribute('y', '5000');
      return [label.textContent, other.textContent];
    })()`);
    const { problems } = await chartLayout(page, GRAPHVIZ);
    expect(problems).toEqual(expect.arrayContaining([
      expect.stringMatching(new RegExp(`^Connection state chart: "${escapeRegExp(moved[0])}" overlaps the box connecting$`)),
      expect.stringMatching(new RegExp(`^Session state chart: "${escapeRegExp(moved[1])}" leaves the panel at the bottom$`))
    ]));
  });

  it.each([
    [1200, 'the page', '/inspect'],
    [1200, 'the cluster page', '/cluster'],
    [720, 'a narrow window', '/inspect'],
    [720, 'a narrow window with a cluster', '/cluster']
  ])('at %ipx (%s) no label meets a box or another label, or leaves its panel, with the widest numbers too', async (width, _what, path) => {
    await page.setViewportSize({ width, height: 900 });
    await open(path);
    const now = await chartLayout(page, GRAPHVIZ);
    expect(now.problems).toEqual([]);
    // Every state box, the start points, and a label per state and per line of each arrow.
    expect(now.boxes).toBeGreaterThanOrEqual(path === '/cluster' ? 15 : 9);
    expect(now.labels).toBeGreaterThan(3 * now.boxes);
    expect((await chartLayout(page, { ...GRAPHVIZ, fill: WIDEST })).problems).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
