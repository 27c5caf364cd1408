/**
 * What the server suite drives a server under test through (#24): the
 * store it breaks on purpose (ConformanceStore: unreachable, history lost,
 * history trimmed, and nothing changed until told), and the control
 * endpoint (behind its token, refusing what it cannot do with a status
 * and a message naming the value).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionManager } from '../../../src/index.js';
import type { SessionRecords } from '../../../src/sessions/topic-store.js';
import { MemoryTopicStore } from '../../../src/sessions/topic-store.js';
import { ConformanceStore, StoreUnavailableError } from '../../../src/tools/conformance/conformance-store.js';
import { conformanceControl } from '../../../src/tools/conformance/control.js';

describe('ConformanceStore', () => {
  it('passes everything through until told, at once when its store answers at once', () => {
    const store = new ConformanceStore(new MemoryTopicStore());
    const first = store.append('t', '"a"');
    expect(first).toEqual({ epoch: expect.any(String), offset: 1 });
    expect(store.position('t')).toEqual(first);
    expect(store.readAfter('t', (first as { epoch: string }).epoch, 0)).toMatchObject({ recovered: true, entries: [{ offset: 1, payload: '"a"' }] });
  });

  it('loses a history: a new epoch from 0, a cursor from before is told epoch_changed, and again after a second loss', async () => {
    const store = new ConformanceStore(new MemoryTopicStore());
    const old = await store.append('t', '"a"');
    const lost = await store.lose('t');
    expect(lost.epoch).not.toBe(old.epoch);
    expect(lost.offset).toBe(0);
    expect(await store.position('t')).toEqual(lost);
    expect(await store.append('t', '"b"')).toEqual({ epoch: lost.epoch, offset: 1 });
    // From the new epoch's start, with its messages (as MemoryTopicStore and Redis tell a lost epoch).
    expect(await store.readAfter('t', old.epoch, 1)).toEqual({ recovered: false, reason: 'epoch_changed', epoch: lost.epoch, offset: 0, entries: [{ offset: 1, payload: '"b"', at: expect.any(Number) }] });
    expect(await store.readAfter('t', lost.epoch, 0)).toMatchObject({ recovered: true, epoch: lost.epoch, entries: [{ offset: 1, payload: '"b"' }] });
    expect(await store.readAfter('t', lost.epoch, 5)).toEqual({ recovered: false, reason: 'future_offset', epoch: lost.epoch, offset: 1 });
    const again = await store.lose('t');
    expect(await store.readAfter('t', lost.epoch, 1)).toEqual({ recovered: false, reason: 'epoch_changed', epoch: again.epoch, offset: 0, entries: [] });
  });

  it('shows a history its own store lost as that store tells it: a new epoch from its start, with its messages', () => {
    const inner = new MemoryTopicStore();
    const store = new ConformanceStore(inner);
    const old = store.append('t', '"a"') as { epoch: string };
    inner.forget('t');
    const fresh = store.append('t', '"b"') as { epoch: string };
    expect(store.readAfter('t', old.epoch, 1)).toEqual({ recovered: false, reason: 'epoch_changed', epoch: fresh.epoch, offset: 0, entries: [{ offset: 1, payload: '"b"', at: expect.any(Number) }] });
  });

  it('trims a history: a cursor below the trim is told trimmed where the topic stands; one at or after it reads on', async () => {
    const store = new ConformanceStore(new MemoryTopicStore());
    for (const payload of ['1', '2', '3']) await store.append('t', payload);
    const trimmed = await store.trim('t');
    const newest = await store.append('t', '4');
    expect(await store.readAfter('t', trimmed.epoch, 1)).toEqual({ recovered: false, reason: 'trimmed', epoch: trimmed.epoch, offset: newest.offset });
    expect(await store.readAfter('t', trimmed.epoch, 3)).toMatchObject({ recovered: true, entries: [{ offset: 4 }] });
  });

  it('is unreachable while down: every call rejects naming it, the session records too; back up, it answers again', async () => {
    const records: SessionRecords = {
      create: () => Promise.resolve(),
      get: () => Promise.resolve({ userId: 'u' }),
      touch: () => Promise.resolve(),
      acceptSend: () => Promise.resolve('deliver'),
      delivered: () => Promise.resolve()
    };
    const inner = Object.assign(new MemoryTopicStore(), { sessions: records });
    const store = new ConformanceStore(inner);
    store.setDown(true);
    await expect(store.append('t', '1')).rejects.toThrow(StoreUnavailableError);
    await expect(store.position('t')).rejects.toThrow(/position of "t"/);
    await expect(store.readAfter('t', 'e', 0)).rejects.toThrow(/read of "t"/);
    await expect(store.sessions!.get('token')).rejects.toThrow(/session read/);
    await expect(store.sessions!.acceptSend('token', 'c', 1, 'a')).rejects.toThrow(/send check/);
    store.setDown(false);
    expect(await store.append('t', '1')).toMatchObject({ offset: 1 });
    expect(await store.sessions!.get('token')).toEqual({ userId: 'u' });
  });
});

describe('conformanceControl', () => {
  const TOKEN = 'a-token-of-enough-characters';
  let server: Server | undefined;
  let manager: ConnectionManager | undefined;
  afterEach(async () => {
    await manager?.shutdown({ timeoutMs: 500 });
    await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
    server = undefined;
    manager = undefined;
  });

  type Ask = (body: unknown, init?: { token?: string; method?: string; path?: string }) => Promise<{ status: number; body: Record<string, unknown> }>;

  async function start(): Promise<Ask> {
    const store = new ConformanceStore(new MemoryTopicStore());
    manager = new ConnectionManager({ logger: pino({ level: 'silent' }), sessions: { store } });
    const control = conformanceControl(manager, { token: TOKEN, store, helloTimeoutMs: 1234 });
    server = createServer((request, response) => void (control(request, response) || response.writeHead(404).end('{}')));
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return async (body, init = {}) => {
      const response = await fetch(`http://127.0.0.1:${port}${init.path ?? '/conformance'}`, {
        method: init.method ?? 'POST',
        headers: { authorization: `Bearer ${init.token ?? TOKEN}` },
        ...(init.method === 'GET' ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) })
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
  }

  it('needs a token of 16 characters or more', () => {
    const store = new ConformanceStore(new MemoryTopicStore());
    const owner = new ConnectionManager({ logger: pino({ level: 'silent' }), sessions: { store } });
    expect(() => conformanceControl(owner, { token: 'short', store, helloTimeoutMs: 1 })).toThrow(/at least 16 characters/);
  });

  it('answers only its path, only with the token, only to POST', async () => {
    const ask = await start();
    expect((await ask({ do: 'info' })).body).toEqual({ ok: true, helloTimeoutMs: 1234 });
    expect((await ask({ do: 'info' }, { token: 'a-token-of-enough-characterz' })).status).toBe(401);
    expect((await ask({ do: 'info' }, { method: 'GET' })).status).toBe(405);
    expect((await ask({ do: 'info' }, { path: '/other' })).status).toBe(404);
  });

  it('refuses what it cannot do, naming the value: not JSON, an unknown command, a bad field, a body too large', async () => {
    const ask = await start();
    expect(await ask('{not json')).toEqual({ status: 400, body: { error: 'the body is not JSON' } });
    expect(await ask({ do: 'reboot' })).toMatchObject({ status: 400, body: { error: expect.stringMatching(/^unknown command "reboot"/) } });
    expect(await ask({ do: 'publish', topic: 't', count: -1 })).toMatchObject({ status: 400, body: { error: 'count must be an integer from 0 to 10000, got -1' } });
    expect(await ask({ do: 'store', up: 'yes' })).toMatchObject({ status: 400, body: { error: 'store needs up: true or false, got "yes"' } });
    expect((await ask({ do: 'publish', topic: 'x'.repeat(70_000) })).status).toBe(413);
  });

  it('publishes in order, adds and removes room members where the room stands, and breaks and mends the store', async () => {
    const ask = await start();
    const published = await ask({ do: 'publish', topic: 'room:a', count: 3 });
    expect(published.body).toMatchObject({ ok: true, first: { offset: 1 }, last: { offset: 3 } });
    // Nobody holds the room: a store of one process forgot it, and the membership begins where it stands now.
    const joined = await ask({ do: 'join', user: 'u', topic: 'room:a' });
    expect(joined.body).toMatchObject({ ok: true, from: { offset: 0 } });
    expect((await ask({ do: 'join', user: '', topic: 'room:a' })).status).toBe(400);
    expect(await ask({ do: 'store', up: false })).toEqual({ status: 200, body: { ok: true } });
    expect(await ask({ do: 'publish', topic: 'room:a' })).toMatchObject({ status: 503, body: { error: expect.stringMatching(/made unreachable/) } });
    await ask({ do: 'store', up: true });
    expect((await ask({ do: 'leave', user: 'u', topic: 'room:a' })).body).toMatchObject({ ok: true, until: { offset: expect.any(Number) } });
    expect((await ask({ do: 'deliveries', prefix: 'nobody' })).body).toEqual({ ok: true, deliveries: [] });
  });
});
