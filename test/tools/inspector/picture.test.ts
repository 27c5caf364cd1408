/**
 * docs/inspector.png must show the charts as the machines draw them now
 * (#22): the picture records the fingerprint of each chart it shows, and
 * a machine that changes what its chart draws makes it stale until
 * `npx tsx examples/screenshot.ts` is run again.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { createMachine, type AnyStateMachine } from 'xstate';
import { describe, expect, it } from 'vitest';
import { INSPECTED_MACHINES } from '../../../src/tools/inspector/charts.js';
import { sessionMachine } from '../../../machines/session.machine.js';
import { currentCharts, INSPECTOR_PICTURE, recordCharts, recordedCharts, staleCharts } from '../../../examples/picture.js';

const PICTURE = join(import.meta.dirname, '..', '..', '..', INSPECTOR_PICTURE);

/** The session machine with one more way to end a session: what a change of the machine looks like to its chart. */
function changedSessionMachine(): AnyStateMachine {
  const config = sessionMachine.config as { states: Record<string, { on?: Record<string, unknown> }> };
  const attached = config.states.attached ?? {};
  return createMachine({
    ...(sessionMachine.config as object),
    states: { ...config.states, attached: { ...attached, on: { ...attached.on, REVOKE: { target: 'expired' } } } }
  });
}

/** Every chunk of a PNG with its CRC checked: what a viewer would refuse. */
function badChunks(png: Buffer): string[] {
  const bad: string[] = [];
  for (let at = 8; at + 12 <= png.length; ) {
    const length = png.readUInt32BE(at);
    const crc = png.readUInt32BE(at + 8 + length);
    if (crc !== crc32(png.subarray(at + 4, at + 8 + length))) bad.push(png.toString('latin1', at + 4, at + 8));
    at += 12 + length;
  }
  return bad;
}

describe('docs/inspector.png', () => {
  it('records the charts it shows, each as the machines draw it now', async () => {
    const recorded = recordedCharts(await readFile(PICTURE));
    const stale = staleCharts(recorded, currentCharts(recorded.size === 0 ? ['connection', 'session'] : [...recorded.keys()]));
    expect(stale, `${INSPECTOR_PICTURE} is older than the machines it shows (${stale.join(', ')}): run \`npx tsx examples/screenshot.ts\` and commit the picture`).toEqual([]);
    expect([...recorded.keys()]).toEqual(expect.arrayContaining(['connection', 'session']));
  });

  it('is stale once a machine changes what its chart shows, and only for that chart', async () => {
    const recorded = recordedCharts(await readFile(PICTURE));
    const changed = currentCharts(['connection', 'session'], { ...INSPECTED_MACHINES, session: changedSessionMachine() });
    expect(staleCharts(recorded, changed)).toEqual(['session']);
  });

  it('keeps its record through a rewrite, as a valid PNG, and a picture without one is stale', async () => {
    const png = await readFile(PICTURE);
    const charts = new Map([['connection', '0123456789abcdef'], ['session', 'fedcba9876543210']]);
    const rewritten = recordCharts(recordCharts(png, new Map([['connection', 'old']])), charts);
    expect(recordedCharts(rewritten)).toEqual(charts);
    expect(badChunks(rewritten)).toEqual([]);
    expect(rewritten.toString('latin1', 12, 16)).toBe('IHDR');
    expect(rewritten.toString('latin1', rewritten.length - 8, rewritten.length - 4)).toBe('IEND');
    expect(staleCharts(new Map(), currentCharts(['connection']))).toEqual(['(no record)']);
  });
});
