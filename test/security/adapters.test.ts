/**
 * Who may connect to each adapter and what one client may cost it (#21),
 * against the real frameworks on 127.0.0.1, by one shared body:
 * `allowedOrigins` (the default and a list) refuses a foreign page with
 * 403 before `identify` runs; `maxPayload` is 1 MiB unless the `ws`
 * option says otherwise, and a deflate bomb is closed with 1009 while the
 * server serves the next client; `maxConnectionsPerIp` answers 429; bad
 * options throw when the adapter is made.
 */
import type { IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { ConnectionManager } from '../../src/index.js';
import { DEFAULT_MAX_PAYLOAD, type UpgradeDecision } from '../../src/adapters/upgrade.js';
import { FRAMEWORKS, type RunningApp, type StartOptions } from '../adapters/frameworks.js';
import { openRawWebSocket } from '../hardening/support/raw-client.js';
import { silentLogger, waitFor } from '../support/server.js';
import { closeCode, deflateBomb, nextMessage, upgradeOutcome, within } from './support.js';

let app: RunningApp | undefined;
const sockets: WebSocket[] = [];

afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  await app?.close().catch(() => {});
  app = undefined;
});

/** Every upgrade `identify` saw, by its Origin. */
const seen: string[] = [];

function identify(request: IncomingMessage): UpgradeDecision {
  seen.push(request.headers.origin ?? 'none');
  return { userId: 'u' };
}

/** Each connection answers a message with its size in bytes. */
function echoingManager(): ConnectionManager {
  const manager = new ConnectionManager({ logger: silentLogger(), heartbeatIntervalMs: 0 });
  manager.on('message', (connection, data) => void connection.send(`got ${Buffer.byteLength(data)}`));
  return manager;
}

describe.each(FRAMEWORKS)('$name adapter: who may connect and what one client may cost (#21)', (framework) => {
  const start = async (options: StartOptions = {}): Promise<{ manager: ConnectionManager; url: string }> => {
    seen.length = 0;
    const manager = echoingManager();
    app = await framework.start(manager, { identify, ...options });
    return { manager, url: `ws://127.0.0.1:${app.port}/ws` };
  };
  const open = async (url: string, headers: Record<string, string> = {}): Promise<number> => {
    const outcome = await upgradeOutcome(url, headers);
    if (outcome.ws) sockets.push(outcome.ws);
    return outcome.status;
  };

  it("refuses a page of another origin with 403 before identify runs, by default; lets on its own origin's pages and clients without Origin", async () => {
    const { manager, url } = await start();
    const port = app!.port;
    expect(await open(url, { Origin: 'https://evil.example' })).toBe(403);
    expect(await open(url, { Origin: `http://localhost:${port}` })).toBe(403);
    expect(await open(url, { Origin: `http://127.0.0.1:${port + 1}` })).toBe(403);
    expect(await open(url, { Origin: 'null' })).toBe(403);
    expect(seen).toEqual([]);
    expect(manager.counts).toEqual({ connecting: 0, connected: 0, closing: 0, closed: 0 });
    expect(await open(url, { Origin: `http://127.0.0.1:${port}` })).toBe(101);
    expect(await open(url, { Origin: `https://127.0.0.1:${port}` })).toBe(101);
    expect(await open(url)).toBe(101);
    expect(seen).toEqual([`http://127.0.0.1:${port}`, `https://127.0.0.1:${port}`, 'none']);
  });

  it('lets on exactly the origins allowedOrigins lists (and clients without Origin)', async () => {
    const { url } = await start({ allowedOrigins: ['https://app.example'] });
    expect(await open(url, { Origin: 'https://app.example' })).toBe(101);
    // Not even the server's own host: a list is the whole rule (a page that rebinds its name to this server has it).
    expect(await open(url, { Origin: `http://127.0.0.1:${app!.port}` })).toBe(403);
    expect(await open(url, { Origin: 'https://app.example.evil.example' })).toBe(403);
    expect(await open(url)).toBe(101);
    expect(seen).toEqual(['https://app.example', 'none']);
  });

  it('closes a message over 1 MiB with 1009 by default, and a compressed frame that inflates past it, then serves the next client', async () => {
    const { manager, url } = await start({ ws: { perMessageDeflate: true } });
    const closes: number[] = [];
    manager.on('close', (_connection, info) => closes.push(info.code));

    // A few KiB on the wire, 2 MiB once inflated: ws counts what it inflates against maxPayload.
    const bomb = deflateBomb(2 * DEFAULT_MAX_PAYLOAD);
    expect(bomb.compressedBytes).toBeLessThan(4096);
    const raw = await openRawWebSocket(app!.port, { target: '/ws', headers: { 'Sec-WebSocket-Extensions': 'permessage-deflate' } });
    raw.write(bomb.frame);
    expect(await within(raw.closeFrame, 5_000, 'close frame for the deflate bomb')).toMatchObject({ code: 1009 });
    await raw.ended;

    // Exactly the limit is delivered; one byte more is closed by ws from the frame header.
    const fits = (await upgradeOutcome(url)).ws!;
    sockets.push(fits);
    const reply = nextMessage(fits);
    fits.send('a'.repeat(DEFAULT_MAX_PAYLOAD));
    expect(await within(reply, 5_000, 'answer to 1 MiB')).toBe(`got ${DEFAULT_MAX_PAYLOAD}`);
    const over = (await upgradeOutcome(url)).ws!;
    sockets.push(over);
    const overClosed = closeCode(over);
    over.send('a'.repeat(DEFAULT_MAX_PAYLOAD + 1), { compress: false });
    expect(await within(overClosed, 5_000, 'close for 1 MiB + 1')).toBe(1009);

    await waitFor(() => closes.length === 2, 5_000, 'both oversized connections closed');
    expect(closes).toEqual([1009, 1009]);
    const next = (await upgradeOutcome(url)).ws!;
    sockets.push(next);
    const answer = nextMessage(next);
    next.send('still serving');
    expect(await answer).toBe('got 13');
    expect(manager.connectionsOf('u').filter((c) => c.state === 'connected')).toHaveLength(2);
  });

  it('takes maxPayload from its ws option', async () => {
    const { url } = await start({ ws: { maxPayload: 1000 } });
    const client = (await upgradeOutcome(url)).ws!;
    sockets.push(client);
    const reply = nextMessage(client);
    client.send('a'.repeat(1000));
    expect(await reply).toBe('got 1000');
    const closed = closeCode(client);
    client.send('a'.repeat(1001));
    expect(await within(closed, 5_000, 'close for 1001 bytes')).toBe(1009);
  });

  it('refuses an address over maxConnectionsPerIp with 429 until one of its sockets closes', async () => {
    const { manager, url } = await start({ maxConnectionsPerIp: 2 });
    const first = (await upgradeOutcome(url)).ws!;
    const second = (await upgradeOutcome(url)).ws!;
    sockets.push(first, second);
    expect(await open(url)).toBe(429);
    expect(seen).toEqual(['none', 'none']);
    first.terminate();
    // The place is given back when the server's socket closes.
    let status = 0;
    for (let attempt = 0; attempt < 100 && status !== 101; attempt++) {
      status = await open(url);
      if (status !== 101) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(status).toBe(101);
    expect(manager.counts.connected).toBe(2);
  });

  it.each([
    ['ws.maxPayload 0 (ws: no limit)', { ws: { maxPayload: 0 } }, /Invalid option ws.maxPayload: 0/],
    ['ws.maxPayload 2^32 (ws keeps it | 0: no limit)', { ws: { maxPayload: 2 ** 32 } }, /Invalid option ws.maxPayload: 4294967296/],
    ['an allowedOrigins entry with a path', { allowedOrigins: ['https://app.example/'] }, /Invalid option allowedOrigins\[0\]: "https:\/\/app.example\/".*did you mean https:\/\/app.example\?/],
    ["allowedOrigins '*'", { allowedOrigins: ['*'] }, /Invalid option allowedOrigins\[0\]: "\*".*\(\) => true/],
    ['maxConnectionsPerIp 0', { maxConnectionsPerIp: 0 }, /Invalid option maxConnectionsPerIp: 0/]
  ])('refuses %s when the adapter is made', async (_name, options, message) => {
    let started: RunningApp | undefined;
    const outcome = framework.start(echoingManager(), options as StartOptions).then((running) => (started = running));
    await expect(outcome).rejects.toThrow(message);
    await started?.close().catch(() => {});
  });
});
