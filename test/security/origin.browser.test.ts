/**
 * Cross-site WebSocket hijacking, in headless Chromium (Debian's, through
 * playwright-core) (#21). An application on 127.0.0.1:A identifies its
 * users by a cookie, as the adapters' README suggests; a page served from
 * another origin (127.0.0.1:B, and localhost:A) opens
 * `new WebSocket('ws://127.0.0.1:A/ws', ['ws-lifecycle.v1'])`. Chromium
 * sends the visitor's cookie with it (cookies do not care about ports), so
 * without the Origin check that page would be the visitor. With the
 * default it is refused with 403 before `identify` runs; the
 * application's own page is accepted as the visitor; a server-side client
 * without `Origin` is accepted (the documented rule); and an application
 * that lists B in `allowedOrigins` accepts B's page and no longer its own.
 *
 * A node reached from another site's page by DNS rebinding: the other
 * site's name (`rebound.test`) now resolves to the node, so its page is
 * "same origin" with it. The visitor's cookie is not sent to that name, so
 * identifying by cookie refuses it (401); a node that lists its real
 * origin refuses it with 403 before `identify` runs.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser as PlaywrightBrowser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_PATH, hasChromium, launchChromium, type Browser } from '../../examples/browser.js';
import { attachToServer, type HttpLifecycle } from '../../src/adapters/http.js';
import type { AllowedOrigins } from '../../src/adapters/upgrade.js';
import { ConnectionManager } from '../../src/index.js';
import { captureLogger, type LogRecord } from '../support/server.js';
import { upgradeOutcome } from './support.js';

const available = hasChromium();
if (!available) console.warn(`\n!!! ${CHROMIUM_PATH} not found: SKIPPING the Origin browser test (apt-get install -y chromium)\n`);

/** Opens `?target=` with the session subprotocol; `window.outcome` resolves to what the page saw. */
const PAGE = `<!doctype html><meta charset="utf-8"><title>page</title><script>
  window.outcome = new Promise((resolve) => {
    const events = [];
    const ws = new WebSocket(new URLSearchParams(location.search).get('target'), ['ws-lifecycle.v1']);
    ws.onopen = () => { events.push('open:' + ws.protocol); ws.close(1000, 'done'); };
    ws.onerror = () => events.push('error');
    ws.onclose = (event) => resolve({ events, code: event.code });
  });
</script>`;

function servePage(request: IncomingMessage, response: ServerResponse): void {
  // The application's login: a cookie as any site sets one (SameSite=Lax, the browsers' default).
  if (request.url === '/login') {
    return void response.writeHead(200, { 'content-type': 'text/plain', 'set-cookie': 'user=alice; Path=/; SameSite=Lax; HttpOnly' }).end('signed in\n');
  }
  response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
}

interface App {
  http: Server;
  lifecycle: HttpLifecycle;
  port: number;
  /** Every upgrade that reached the server: its Origin and Cookie. */
  upgrades: Array<{ origin?: string; cookie?: string }>;
  /** Users of the connections made, in order. */
  users: Array<string | undefined>;
  records: LogRecord[];
}

/** An application on 127.0.0.1; `allowedOrigins` is given its port. */
async function startApp(allowedOrigins?: (port: number) => AllowedOrigins): Promise<App> {
  const http = createServer(servePage);
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const port = (http.address() as AddressInfo).port;
  const { logger, records } = captureLogger('info');
  const manager = new ConnectionManager({ logger, heartbeatIntervalMs: 0, sessions: { ttlMs: 1_000 } });
  const lifecycle = attachToServer(http, {
    manager,
    path: '/ws',
    allowedOrigins: allowedOrigins?.(port),
    // Who you are is your cookie, as the README suggests.
    identify: (request) => {
      const user = /(?:^|;\s*)user=([^;]+)/.exec(request.headers.cookie ?? '')?.[1];
      return user === undefined ? false : { userId: user };
    },
    shutdown: { timeoutMs: 1_000 }
  });
  const upgrades: App['upgrades'] = [];
  // Seen before the routes: what the browser sent.
  const emit = http.emit.bind(http) as (event: string, ...args: unknown[]) => boolean;
  http.emit = ((event: string, ...args: unknown[]) => {
    if (event === 'upgrade') {
      const { origin, cookie } = (args[0] as IncomingMessage).headers;
      upgrades.push({ origin, cookie });
    }
    return emit(event, ...args);
  }) as Server['emit'];
  const users: App['users'] = [];
  manager.on('connection', (connection) => users.push(connection.userId));
  return { http, lifecycle, port, upgrades, users, records };
}

async function stopApp(app: App): Promise<void> {
  await app.lifecycle.close();
  app.http.closeAllConnections();
  await new Promise((resolve) => app.http.close(resolve));
}

/** What a page's WebSocket saw: its events, and the close code. */
interface Visit {
  events: string[];
  code: number;
}

/** Load a page from `pageOrigin` that opens a WebSocket to `target`; what it saw. */
async function visitFrom(page: Page, pageOrigin: string, target: string): Promise<Visit> {
  await page.goto(`${pageOrigin}/?target=${encodeURIComponent(target)}`);
  return page.evaluate(() => (globalThis as unknown as { outcome: Promise<Visit> }).outcome);
}

describe.skipIf(!available)('the Origin check in Chromium (#21)', () => {
  let app: App;
  let listing: App;
  let foreign: Server;
  let foreignPort: number;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    app = await startApp();
    foreign = createServer(servePage);
    foreign.listen(0, '127.0.0.1');
    await once(foreign, 'listening');
    foreignPort = (foreign.address() as AddressInfo).port;
    listing = await startApp(() => [`http://127.0.0.1:${foreignPort}`]);
    browser = await launchChromium();
    page = await browser.context.newPage();
    // The visitor signs in to the application (and to the second one: cookies are per host, not per port).
    const login = await page.goto(`http://127.0.0.1:${app.port}/login`);
    expect(login?.status()).toBe(200);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    foreign?.closeAllConnections();
    await new Promise((resolve) => (foreign ? foreign.close(resolve) : resolve(undefined)));
    if (app) await stopApp(app);
    if (listing) await stopApp(listing);
  });

  const visit = (pageOrigin: string, target: string): Promise<Visit> => visitFrom(page, pageOrigin, target);

  it("refuses a page of another origin that carries the visitor's cookie: 403, identify never asked, no connection", async () => {
    const target = `ws://127.0.0.1:${app.port}/ws`;
    // Another port of the same host is the same site: SameSite=Lax sends the cookie, and without the check this page would be alice.
    // localhost is another site: Lax keeps the cookie back (SameSite=None would not), the Origin check refuses it all the same.
    for (const [pageOrigin, cookie] of [[`http://127.0.0.1:${foreignPort}`, 'user=alice'], [`http://localhost:${app.port}`, undefined]]) {
      const before = app.upgrades.length;
      expect(await visit(pageOrigin!, target)).toEqual({ events: ['error'], code: 1006 });
      expect(app.upgrades.slice(before)).toEqual([{ origin: pageOrigin, cookie }]);
    }
    expect(app.users).toEqual([]);
    expect(app.records.filter((r) => r.msg === 'upgrade from an origin not allowed; refused with 403').map((r) => r.origin)).toEqual([
      `http://127.0.0.1:${foreignPort}`,
      `http://localhost:${app.port}`
    ]);
  });

  it("accepts the application's own page, as the visitor, with the session subprotocol", async () => {
    expect(await visit(`http://127.0.0.1:${app.port}`, `ws://127.0.0.1:${app.port}/ws`)).toEqual({ events: ['open:ws-lifecycle.v1'], code: 1000 });
    expect(app.users).toEqual(['alice']);
  });

  it('accepts a server-side client that sends no Origin, as the documented rule says', async () => {
    const outcome = await upgradeOutcome(`ws://127.0.0.1:${app.port}/ws`, { Cookie: 'user=bob' });
    expect(outcome.status).toBe(101);
    outcome.ws!.close();
    expect(app.users).toEqual(['alice', 'bob']);
  });

  it('with allowedOrigins listing the other origin: its page is accepted, and the listing server\'s own page is not', async () => {
    const target = `ws://127.0.0.1:${listing.port}/ws`;
    expect(await visit(`http://127.0.0.1:${foreignPort}`, target)).toEqual({ events: ['open:ws-lifecycle.v1'], code: 1000 });
    expect(await visit(`http://127.0.0.1:${listing.port}`, target)).toEqual({ events: ['error'], code: 1006 });
    expect(listing.users).toEqual(['alice']);
  });
});

describe.skipIf(!available)('a node reached from another site\'s page by DNS rebinding, in Chromium (#21)', () => {
  let open: App;
  let listing: App;
  let browser: PlaywrightBrowser;
  let page: Page;

  beforeAll(async () => {
    open = await startApp();
    listing = await startApp((port) => [`http://127.0.0.1:${port}`]);
    // The other site's name now points at this machine, as a rebinding DNS server would answer.
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: ['--no-sandbox', '--disable-gpu', '--host-resolver-rules=MAP rebound.test 127.0.0.1'] });
    page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${open.port}/login`);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    if (open) await stopApp(open);
    if (listing) await stopApp(listing);
  });

  const visit = (pageOrigin: string, target: string): Promise<Visit> => visitFrom(page, pageOrigin, target);

  it('by default the rebound page is same-origin, carries no cookie of the real site, and identify refuses it', async () => {
    const rebound = `http://rebound.test:${open.port}`;
    expect(await visit(rebound, `ws://rebound.test:${open.port}/ws`)).toEqual({ events: ['error'], code: 1006 });
    expect(open.upgrades).toEqual([{ origin: rebound, cookie: undefined }]);
    expect(open.users).toEqual([]);
  });

  it('a node that lists its real origin refuses the rebound page with 403 before identify', async () => {
    const rebound = `http://rebound.test:${listing.port}`;
    expect(await visit(rebound, `ws://rebound.test:${listing.port}/ws`)).toEqual({ events: ['error'], code: 1006 });
    expect(listing.records.filter((r) => r.msg === 'upgrade from an origin not allowed; refused with 403').map((r) => r.origin)).toEqual([rebound]);
    expect(listing.users).toEqual([]);
  });
});
