/**
 * docs/protocol.md says what the server does: the close code of a binary
 * message (section 2.1 and the table of section 7 agree, and name the code
 * the server closes with), the codes section 7 calls final
 * (`FINAL_CLOSE_CODES`), and the frame size a client may assume before its
 * first welcome (section 5.5: the adapters' default, which their welcome
 * states).
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { attachToServer } from '../../src/adapters/http.js';
import { DEFAULT_MAX_PAYLOAD } from '../../src/adapters/upgrade.js';
import { FINAL_CLOSE_CODES } from '../../src/protocol/session-protocol.js';
import { serverPerTest } from '../support/per-test-server.js';
import { silentLogger } from '../support/server.js';
import { isWelcome, openSessionClient } from '../support/session-client.js';

const { start, cleanup } = serverPerTest();
const spec = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');

/** The text of the section numbered `n` (`## n. ...`), or of its paragraph `n.m.`. */
function section(n: string): string {
  const heading = n.includes('.') ? `\n${n}. ` : `\n## ${n}. `;
  const from = spec.indexOf(heading);
  expect(from, `section ${n}`).toBeGreaterThan(-1);
  const end = spec.slice(from + heading.length).search(n.includes('.') ? /\n\n/ : /\n## /);
  return spec.slice(from, end === -1 ? undefined : from + heading.length + end);
}

/** Section 7's table: each code with who sends it, what it means and what a client does. */
function closeCodes(): Map<number, { sentBy: string; meaning: string; client: string }> {
  const rows = new Map<number, { sentBy: string; meaning: string; client: string }>();
  for (const line of section('7').split('\n')) {
    const cells = line.split('|').slice(1, -1).map((cell) => cell.trim());
    if (cells.length !== 4 || !/^\d{4}(, \d{4})*$/.test(cells[0]!)) continue;
    for (const code of cells[0]!.split(', ')) rows.set(Number(code), { sentBy: cells[1]!, meaning: cells[2]!, client: cells[3]! });
  }
  return rows;
}

describe('docs/protocol.md', () => {
  it('names the code the server closes a binary message with, in 2.1 and 7 alike', async () => {
    const server = await start({ sessions: { ttlMs: 5_000 } });
    const tab = await openSessionClient(server.port, 'alice');
    tab.hello(undefined, undefined, 'tab');
    await tab.next(isWelcome, 'welcome');
    tab.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    const { code } = await tab.closed;
    expect(tab.frames.at(-1)).toMatchObject({ type: 'error', code: 'malformed' });
    expect(section('2.1')).toContain(`(the server closes with ${code})`);
    const row = closeCodes().get(code)!;
    expect(row).toMatchObject({ sentBy: 'server', client: 'final' });
    expect(row.meaning).toContain('a binary message');
    // No other code is said to be what the server sends for it.
    for (const [other, { sentBy, meaning }] of closeCodes()) if (other !== code && /binary/.test(meaning)) expect(sentBy).toBe('client');
  });

  it('calls final exactly the codes a client stops on (FINAL_CLOSE_CODES)', () => {
    const final = [...closeCodes()].filter(([, row]) => row.client.startsWith('final')).map(([code]) => code);
    expect(final.sort()).toEqual([...FINAL_CLOSE_CODES].sort());
  });

  it('gives a client the frame size to assume before its first welcome (5.5): the adapters\' default, which their welcome states', async () => {
    expect(section('5.5')).toContain(`1 MiB (${DEFAULT_MAX_PAYLOAD.toLocaleString('en-US')} bytes)`);
    const http = createServer();
    attachToServer(http, { manager: { logger: silentLogger(), heartbeatIntervalMs: 0 } });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    // The adapter's close drains the manager first.
    cleanup(() => new Promise((resolve) => http.close(resolve)));
    const tab = await openSessionClient((http.address() as AddressInfo).port, 'alice');
    tab.hello(undefined, undefined, 'tab');
    expect((await tab.next(isWelcome, 'welcome')).limits.maxFrameBytes).toBe(DEFAULT_MAX_PAYLOAD);
  });
});
