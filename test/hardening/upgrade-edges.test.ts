/**
 * What a new user's clients send to each adapter, against a server in its
 * own process that must stay alive and answer the next request (#25):
 * request URLs `new URL()` cannot parse, a client that resets while an
 * async `identify` runs, an `identify` that returns `true`, throws or never
 * answers, and upgrades to paths nobody serves. Each of these ended the
 * process or left a socket open before.
 */
import { describe, expect, it } from 'vitest';
import { childPerSuite, welcomed } from './support/child-server.js';
import { openRaw, rawExchange, upgradeRequestTo } from './support/raw-client.js';

const FRAMEWORK_NAMES = ['http', 'express', 'fastify', 'hono', 'nest'] as const;
/** The adapters whose upgrades go through this package's routes (Nest's WsAdapter routes its own). */
const ROUTED = new Set(['http', 'express', 'fastify', 'hono']);

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(FRAMEWORK_NAMES)('%s adapter in a child process', (framework) => {
  const child = childPerSuite({ framework, identifyTimeoutMs: 300 });
  const expectServing = (): Promise<void> => child.expectServing();

  it.each(['//[', '//[/ws', 'http://[/ws', '/%', '/ws%', '/%E0%A4%A'])('answers an upgrade to %s with 400, closes it and keeps serving', async (target) => {
    const answer = await rawExchange(child.port, upgradeRequestTo(child.port, target));
    expect(answer.closed).toBe(true);
    // Nest's WsAdapter routes its own upgrades: a URL it cannot parse gets a bare 400, a path no gateway has is destroyed.
    if (ROUTED.has(framework)) expect(answer.status).toBe('HTTP/1.1 400 Bad Request');
    await expectServing();
  });

  it.each(['ws', '*', '/ws/../ws?user=dots'])('answers an upgrade to %s, closes it or upgrades it, and keeps serving', async (target) => {
    const answer = await rawExchange(child.port, upgradeRequestTo(child.port, target), 2_000);
    if (ROUTED.has(framework)) expect(answer.status).toMatch(/^HTTP\/1.1 \d{3}/);
    if (!answer.status.includes(' 101 ')) expect(answer.closed).toBe(true);
    await expectServing();
  });

  it('survives a client that resets while an async identify runs', async () => {
    for (let i = 0; i < 5; i++) {
      const raw = await openRaw(child.port);
      raw.write(Buffer.from(upgradeRequestTo(child.port, '/ws?user=gone&delay=150'), 'latin1'));
      await pause(30);
      raw.socket.resetAndDestroy();
      await raw.ended;
    }
    // After identify answered for every one of them.
    await pause(300);
    await expectServing();
  });

  it('accepts, anonymously, when identify returns true', async () => {
    await expect(welcomed(child.port, '/ws', 'true')).resolves.toBe('welcome anonymous');
    await expectServing();
  });

  it.each([
    ['throws', 'boom', 'HTTP/1.1 500 Internal Server Error'],
    ['returns false', 'no', 'HTTP/1.1 401 Unauthorized'],
    ['never answers (identifyTimeoutMs 300)', 'hang', 'HTTP/1.1 503 Service Unavailable']
  ])('refuses when identify %s, and keeps serving', async (_name, user, status) => {
    const answer = await rawExchange(child.port, upgradeRequestTo(child.port, `/ws?user=${user}`));
    expect(answer).toEqual({ status, closed: true });
    await expectServing();
  });

  it('answers an upgrade to a path nobody serves, and keeps serving', async () => {
    const answer = await rawExchange(child.port, upgradeRequestTo(child.port, '/elsewhere'));
    expect(answer.closed).toBe(true);
    if (ROUTED.has(framework)) expect(answer.status).toBe('HTTP/1.1 404 Not Found');
    await expectServing();
  });

  it('survives bytes that are not HTTP, and a request cut in the middle', async () => {
    expect((await rawExchange(child.port, '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n')).closed).toBe(true);
    const raw = await openRaw(child.port);
    raw.write(Buffer.from(upgradeRequestTo(child.port, '/ws?user=cut').slice(0, 40), 'latin1'));
    raw.socket.resetAndDestroy();
    await raw.ended;
    await expectServing();
  });
});
