/**
 * The upgrade checks of #21 through `manager.attach(wss)`, `ws` used
 * directly: `allowedOrigins` (the default, a list, a function, a throwing
 * function, the `Sec-WebSocket-Origin` of protocol version 8) and
 * `maxConnectionsPerIp` (slow handshakes hold their place, a refused one
 * gives it back, a proxy's header, IPv6 counted by /64); what is logged;
 * and the helpers' edges.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { ConnectionManager, type AttachOptions } from '../../src/index.js';
import { addressKey } from '../../src/manager/address-limit.js';
import { isSameOrigin, originTest } from '../../src/manager/origins.js';
import { rawExchange, upgradeRequestTo } from '../hardening/support/raw-client.js';
import { serverPerTest } from '../support/per-test-server.js';
import { LOG_LEVELS, captureLogger, silentLogger, waitFor } from '../support/server.js';
import { closeCode, upgradeOutcome, within } from './support.js';

const { start, cleanup } = serverPerTest();

/** A server whose manager is attached with `options`; `seen` lists the Origin of every upgrade identify was asked about. */
async function attached(options: AttachOptions, logger = captureLogger('info')) {
  const server = await start({ logger: logger.logger });
  server.detach();
  const seen: string[] = [];
  const identify = options.identify ?? ((request: IncomingMessage) => void seen.push(request.headers.origin ?? 'none'));
  cleanup(server.manager.attach(server.wss, { ...options, identify }));
  const url = `ws://127.0.0.1:${server.port}/`;
  const open = async (headers: Record<string, string> = {}): Promise<number> => {
    const outcome = await upgradeOutcome(url, headers);
    if (outcome.ws) cleanup(() => outcome.ws!.terminate());
    return outcome.status;
  };
  return { server, seen, url, open, records: logger.records };
}

describe('allowedOrigins through manager.attach (ws used directly)', () => {
  it('by default refuses a foreign page with 403 before identify, logs its origin, and lets on same-origin pages and clients without Origin', async () => {
    const { server, seen, open, records } = await attached({});
    const own = `127.0.0.1:${server.port}`;
    let made = 0;
    server.manager.on('connection', () => made++);
    expect(await open({ Origin: 'https://evil.example' })).toBe(403);
    expect(await open({ Origin: `http://localhost:${server.port}` })).toBe(403);
    expect(await open({ Origin: '' })).toBe(403);
    expect(await open({ Origin: 'file://' })).toBe(403);
    expect(made).toBe(0);
    expect(seen).toEqual([]);
    expect(await open({ Origin: `http://${own}` })).toBe(101);
    expect(await open({ Origin: `https://${own}` })).toBe(101);
    expect(await open({ Origin: `http://${own}`, Host: own.toUpperCase() })).toBe(101);
    expect(await open()).toBe(101);
    expect(seen).toEqual([`http://${own}`, `https://${own}`, `http://${own}`, 'none']);
    expect(records.filter((r) => r.msg !== 'transition')).toEqual([
      expect.objectContaining({ msg: 'upgrade from an origin not allowed; refused with 403', origin: 'https://evil.example', host: own }),
      expect.objectContaining({ origin: `http://localhost:${server.port}` }),
      expect.objectContaining({ origin: '' }),
      expect.objectContaining({ origin: 'file://' })
    ]);
  });

  it('reads Sec-WebSocket-Origin, the Origin of protocol version 8, which ws still accepts', async () => {
    const { server, seen } = await attached({});
    const v8 = (origin: string): string =>
      upgradeRequestTo(server.port, '/', { 'Sec-WebSocket-Version': '8', 'Sec-WebSocket-Origin': origin });
    expect((await rawExchange(server.port, v8('https://evil.example'))).status).toBe('HTTP/1.1 403 Forbidden');
    expect(seen).toEqual([]);
    expect((await rawExchange(server.port, v8(`http://127.0.0.1:${server.port}`), 500)).status).toBe('HTTP/1.1 101 Switching Protocols');
  });

  it('with a list lets on exactly those origins and clients without Origin; the server\'s own host is not implied', async () => {
    const { server, seen, open } = await attached({ allowedOrigins: ['https://app.example', 'http://127.0.0.1:9'] });
    expect(await open({ Origin: 'https://app.example' })).toBe(101);
    expect(await open({ Origin: 'http://127.0.0.1:9' })).toBe(101);
    expect(await open({ Origin: `http://127.0.0.1:${server.port}` })).toBe(403);
    expect(await open({ Origin: 'https://APP.example' })).toBe(403);
    expect(await open({ Origin: 'https://app.example, https://evil.example' })).toBe(403);
    expect(await open()).toBe(101);
    expect(seen).toEqual(['https://app.example', 'http://127.0.0.1:9', 'none']);
  });

  it('with an empty list lets on only clients without Origin', async () => {
    const { server, open } = await attached({ allowedOrigins: [] });
    expect(await open({ Origin: `http://127.0.0.1:${server.port}` })).toBe(403);
    expect(await open()).toBe(101);
  });

  it('with a function lets it decide every upgrade, with and without Origin; only true lets one on', async () => {
    const asked: string[] = [];
    const { open } = await attached({
      allowedOrigins: (request) => {
        const origin = request.headers.origin ?? 'none';
        asked.push(origin);
        return origin.endsWith('.trusted.example') ? true : (origin === 'https://truthy.example' ? (1 as unknown as boolean) : false);
      }
    });
    expect(await open({ Origin: 'https://a.trusted.example' })).toBe(101);
    expect(await open({ Origin: 'https://truthy.example' })).toBe(403);
    expect(await open()).toBe(403);
    expect(asked).toEqual(['https://a.trusted.example', 'https://truthy.example', 'none']);
  });

  it('answers 500 and logs when the function throws (fail closed)', async () => {
    const { open, records } = await attached(
      {
        allowedOrigins: () => {
          throw new Error('origin service down');
        }
      },
      captureLogger('warn')
    );
    expect(await open({ Origin: 'https://app.example' })).toBe(500);
    expect(records).toEqual([expect.objectContaining({ level: LOG_LEVELS.error, err: expect.objectContaining({ message: 'origin service down' }) })]);
  });

  it('closes with 1008 a socket handed to the server without handleUpgrade, so without the checks', async () => {
    const attachedServer = new WebSocketServer({ noServer: true });
    const bypass = new WebSocketServer({ noServer: true });
    const http = createServer();
    const manager = new ConnectionManager({ logger: silentLogger(), heartbeatIntervalMs: 0 });
    const detach = manager.attach(attachedServer);
    // Upgraded by another server, then given to the attached one as if it had upgraded it.
    http.on('upgrade', (request, socket, head) => bypass.handleUpgrade(request, socket, head, (ws) => attachedServer.emit('connection', ws, request)));
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    cleanup(async () => {
      detach();
      await manager.shutdown({ timeoutMs: 500 });
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    });
    const outcome = await upgradeOutcome(`ws://127.0.0.1:${(http.address() as AddressInfo).port}/`, { Origin: 'https://evil.example' });
    expect(outcome.status).toBe(101);
    expect(await within(closeCode(outcome.ws!), 5_000, 'close of the unchecked socket')).toBe(1008);
    expect(manager.counts.connected).toBe(0);
  });

  it('logs no credential a URL carries: refusals name the path and the origin, never the query', async () => {
    const secret = 'tok-9f8e7d6c5b4a39281706';
    const { logger, records } = captureLogger('debug');
    const { url } = await attached({ identify: () => new Promise(() => {}), identifyTimeoutMs: 100 }, { logger, records });
    expect((await upgradeOutcome(`${url}ws?token=${secret}`, { Origin: 'https://evil.example' })).status).toBe(403);
    expect((await upgradeOutcome(`${url}ws?token=${secret}`)).status).toBe(503);
    expect(records.map((r) => r.msg)).toEqual(['upgrade from an origin not allowed; refused with 403', 'identify did not answer in time; upgrade refused with 503']);
    expect(records[1]).toMatchObject({ path: '/ws' });
    expect(records.filter((r) => JSON.stringify(r).includes(secret))).toEqual([]);
  });

  it('refuses bad options at attach, naming them', async () => {
    const server = await start();
    const attach = (options: AttachOptions) => () => server.manager.attach(server.wss, options);
    expect(attach({ allowedOrigins: ['https://App.example'] })).toThrow(/Invalid option allowedOrigins\[0\]: "https:\/\/App.example".*did you mean https:\/\/app.example\?/);
    expect(attach({ allowedOrigins: ['https://a.example', 'null'] })).toThrow(/Invalid option allowedOrigins\[1\]: "null"/);
    expect(attach({ allowedOrigins: ['app.example'] })).toThrow(RangeError);
    expect(attach({ allowedOrigins: [7 as unknown as string] })).toThrow(/Invalid option allowedOrigins\[0\]: number/);
    expect(attach({ allowedOrigins: 'https://app.example' as unknown as string[] })).toThrow(/Invalid option allowedOrigins: string/);
    expect(attach({ maxConnectionsPerIp: -1 })).toThrow(/Invalid option maxConnectionsPerIp: -1/);
    expect(attach({ clientAddress: 'x-real-ip' as never })).toThrow(/Invalid option clientAddress: string/);
  });
});

describe('maxConnectionsPerIp through manager.attach', () => {
  it('counts upgrades still in identify: slow handshakes from one address hold their places, and a refused one gives its place back', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let waiting = 0;
    const { server, url, open, records } = await attached({
      maxConnectionsPerIp: 3,
      identify: async (request) => {
        if (request.url?.includes('slow')) {
          waiting++;
          await released;
        }
        return request.url?.includes('no') ? false : { userId: 'u' };
      }
    });
    const slow = [1, 2, 3].map(() => upgradeOutcome(`${url}?slow`));
    await waitFor(() => waiting === 3, 5_000, 'the slow upgrades to reach identify');
    expect(await open()).toBe(429);
    expect(records.filter((r) => r.msg !== 'transition')).toEqual([
      expect.objectContaining({ msg: 'upgrade over maxConnectionsPerIp; refused with 429', address: '127.0.0.1', live: 3 })
    ]);
    release();
    const opened = await Promise.all(slow);
    expect(opened.map((o) => o.status)).toEqual([101, 101, 101]);
    const sockets: WebSocket[] = opened.map((o) => o.ws!);
    cleanup(() => sockets.forEach((ws) => ws.terminate()));
    expect(await open()).toBe(429);

    // One closes: its place is free once the server's socket closed; an upgrade identify refuses holds one only until it is answered.
    sockets[0]!.close();
    await waitFor(() => server.manager.counts.connected === 2, 5_000, 'one connection closed');
    const until = async (wanted: number, upgrade: () => Promise<number>): Promise<number> => {
      let status = await upgrade();
      for (let attempt = 0; attempt < 100 && status !== wanted; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        status = await upgrade();
      }
      return status;
    };
    expect(await until(401, () => upgradeOutcome(`${url}?no`).then((o) => o.status))).toBe(401);
    expect(await until(101, () => open())).toBe(101);
    expect(await open()).toBe(429);
  });

  it("counts by the address clientAddress reads (a proxy's header), falling back to the socket's", async () => {
    const { open } = await attached({ maxConnectionsPerIp: 1, clientAddress: (request) => request.headers['x-real-ip'] as string | undefined });
    expect(await open({ 'X-Real-IP': '203.0.113.7' })).toBe(101);
    expect(await open({ 'X-Real-IP': '203.0.113.7' })).toBe(429);
    expect(await open({ 'X-Real-IP': '203.0.113.8' })).toBe(101);
    // The same /64: one client.
    expect(await open({ 'X-Real-IP': '2001:db8:1:2::a' })).toBe(101);
    expect(await open({ 'X-Real-IP': '2001:db8:1:2:ffff::b' })).toBe(429);
    expect(await open({ 'X-Real-IP': '2001:db8:1:3::a' })).toBe(101);
    // No header: the socket's address.
    expect(await open()).toBe(101);
    expect(await open()).toBe(429);
  });
});

describe('the helpers', () => {
  it('isSameOrigin: the request\'s own host by http or https, default ports and case aside', () => {
    expect(isSameOrigin('https://app.example', 'app.example')).toBe(true);
    expect(isSameOrigin('https://app.example', 'app.example:443')).toBe(true);
    expect(isSameOrigin('http://app.example', 'APP.example:80')).toBe(true);
    expect(isSameOrigin('http://app.example:8080', 'app.example:8080')).toBe(true);
    expect(isSameOrigin('http://app.example', 'app.example:8080')).toBe(false);
    expect(isSameOrigin('https://app.example.evil.example', 'app.example')).toBe(false);
    expect(isSameOrigin('https://app.example/', 'app.example')).toBe(false);
    expect(isSameOrigin('ws://app.example', 'app.example')).toBe(false);
    expect(isSameOrigin('null', 'app.example')).toBe(false);
    expect(isSameOrigin('https://app.example', undefined)).toBe(false);
    expect(isSameOrigin('https://app.example', '[::1')).toBe(false);
  });

  it('originTest: a list of exact origins, and only `true` from a function', () => {
    const request = (origin?: string): IncomingMessage => ({ headers: origin === undefined ? {} : { origin } }) as IncomingMessage;
    const listed = originTest(['https://a.example']);
    expect([listed(request('https://a.example')), listed(request('https://b.example')), listed(request())]).toEqual([true, false, true]);
    const decided = originTest(() => 'yes' as unknown as boolean);
    expect(decided(request('https://a.example'))).toBe(false);
  });

  it('addressKey: IPv4 as it is, IPv4-mapped IPv6 as IPv4, IPv6 by its /64, anything else cut to 100 characters', () => {
    expect(addressKey('203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:0DB8:0001:0002::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('::1:2:3:4:5:6')).toBe('0:0:1:2::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressKey('64:ff9b::203.0.113.7')).toBe('64:ff9b:0:0::/64');
    expect(addressKey('x'.repeat(300))).toBe('x'.repeat(100));
  });
});
