/**
 * What `docs/inspector.png` was made from, kept in the picture itself: a
 * PNG text chunk naming each chart it shows with the fingerprint of that
 * chart's graph (`chartFingerprint`). `examples/screenshot.ts` writes it;
 * a test compares it with the machines as they are now, so a machine that
 * changes what the page draws makes the picture stale until it is taken
 * again.
 */
import { crc32 } from 'node:zlib';
import { chartFingerprint, INSPECTED_MACHINES, inspectorCharts } from '../src/tools/inspector/charts.js';

/** The picture, from the repository's root. */
export const INSPECTOR_PICTURE = 'docs/inspector.png';

/** The keyword of the PNG text chunk (tEXt) that records the charts. */
const KEYWORD = 'ws-lifecycle charts';
const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** The chunks of a PNG, in order. */
function chunksOf(png: Buffer): Array<{ type: string; data: Buffer }> {
  if (png.length < SIGNATURE.length || !png.subarray(0, SIGNATURE.length).equals(SIGNATURE)) throw new Error('Not a PNG: the signature is missing');
  const chunks: Array<{ type: string; data: Buffer }> = [];
  for (let at = SIGNATURE.length; at + 12 <= png.length; ) {
    const length = png.readUInt32BE(at);
    if (at + 12 + length > png.length) throw new Error(`Not a PNG: a chunk at byte ${at} runs past the end`);
    chunks.push({ type: png.toString('latin1', at + 4, at + 8), data: png.subarray(at + 8, at + 8 + length) });
    at += 12 + length;
  }
  return chunks;
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/**
 * The fingerprints of the charts a page shows now.
 *
 * @param {readonly string[]} names Chart names, e.g. `['connection', 'session']`
 * @param machines What the charts are drawn from; default the machines that run
 * @returns {Map<string, string>} Name -> fingerprint
 * @throws {Error} Naming a chart the inspector does not draw
 */
export function currentCharts(names: readonly string[], machines = INSPECTED_MACHINES): Map<string, string> {
  const charts = new Map(inspectorCharts(names.includes('node'), machines).map((chart) => [chart.name, chartFingerprint(chart)]));
  return new Map(
    names.map((name) => {
      const fingerprint = charts.get(name);
      if (fingerprint === undefined) throw new Error(`The inspector draws no ${JSON.stringify(name)} chart`);
      return [name, fingerprint];
    })
  );
}

/**
 * Record in a PNG which charts it shows, replacing an earlier record.
 *
 * @param {Buffer} png The picture
 * @param {ReadonlyMap<string, string>} charts Name -> fingerprint, from {@link currentCharts}
 * @returns {Buffer} The same picture with the record after its header
 */
export function recordCharts(png: Buffer, charts: ReadonlyMap<string, string>): Buffer {
  const text = [...charts].map(([name, fingerprint]) => `${name}=${fingerprint}`).join(' ');
  const kept = chunksOf(png).filter((c) => !(c.type === 'tEXt' && c.data.toString('latin1').startsWith(`${KEYWORD}\0`)));
  const record = chunk('tEXt', Buffer.from(`${KEYWORD}\0${text}`, 'latin1'));
  return Buffer.concat([SIGNATURE, chunk(kept[0]!.type, kept[0]!.data), record, ...kept.slice(1).map((c) => chunk(c.type, c.data))]);
}

/**
 * @param {Buffer} png A picture
 * @returns {Map<string, string>} The charts it records, name -> fingerprint; empty without a record
 */
export function recordedCharts(png: Buffer): Map<string, string> {
  const record = chunksOf(png).find((c) => c.type === 'tEXt' && c.data.toString('latin1').startsWith(`${KEYWORD}\0`));
  if (record === undefined) return new Map();
  const text = record.data.toString('latin1').slice(KEYWORD.length + 1);
  return new Map(text.split(' ').filter(Boolean).map((pair) => pair.split('=') as [string, string]));
}

/**
 * The charts a picture shows as they no longer are.
 *
 * @param {ReadonlyMap<string, string>} recorded From {@link recordedCharts}
 * @param {ReadonlyMap<string, string>} current From {@link currentCharts}, or what a changed machine would draw
 * @returns {string[]} Their names; also `(no record)` when the picture records none
 */
export function staleCharts(recorded: ReadonlyMap<string, string>, current: ReadonlyMap<string, string>): string[] {
  if (recorded.size === 0) return ['(no record)'];
  return [...current].filter(([name, fingerprint]) => recorded.get(name) !== fingerprint).map(([name]) => name);
}
