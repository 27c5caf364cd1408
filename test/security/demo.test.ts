/**
 * The demo serves real clients (`npm start -- --serve`), so it keeps the
 * limits the adapters keep (#21): a message over 1 MiB is closed with
 * 1009, and a page of another origin is refused with 403.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { runDemo } from '../../examples/run-demo.js';
import { closeCode, upgradeOutcome, within } from './support.js';

it('closes a message over 1 MiB with 1009 and refuses a foreign page with 403, while its tabs run', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ws-lifecycle-demo-limits-'));
  const stop = new AbortController();
  const seen: { oversized?: number | string; foreign?: number; own?: number } = {};
  try {
    await runDemo({
      users: 1,
      tabs: 1,
      until: stop.signal,
      audit: join(dir, 'audit.jsonl'),
      onListening: async ({ ws: url }) => {
        try {
          const own = new URL(url).host;
          seen.foreign = (await upgradeOutcome(`${url}?user=probe`, { Origin: 'https://evil.example' })).status;
          const client = await upgradeOutcome(`${url}?user=probe`, { Origin: `http://${own}` });
          seen.own = client.status;
          const closed = closeCode(client.ws!);
          client.ws!.send('a'.repeat(1024 * 1024 + 1));
          // Said, not thrown: the demo stops and closes its server either way.
          seen.oversized = await within(closed, 10_000, 'close for 1 MiB + 1').catch((error: Error) => error.message);
          client.ws!.terminate();
        } finally {
          stop.abort();
        }
      }
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  expect(seen).toEqual({ foreign: 403, own: 101, oversized: 1009 });
}, 60_000);
