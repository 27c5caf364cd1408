/**
 * The committed charts in docs/ must be exactly what the machine generates
 * now: change the machine, and this fails until `npm run charts` is run.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHART_FILES, CHART_FORMATS, renderChart } from '../../src/chart/index.js';

const DOCS = join(import.meta.dirname, '..', '..', 'docs');

describe('docs/ charts', () => {
  it.each(CHART_FORMATS)('%s matches the machine byte for byte', async (format) => {
    const file = join(DOCS, CHART_FILES[format]);
    const onDisk = await readFile(file, 'utf8').catch(() => `(${file} is missing)`);
    const generated = await renderChart(format);
    expect(onDisk, `docs/${CHART_FILES[format]} is stale: run \`npm run charts\` and commit the result`).toBe(generated);
  });

  it('generates the same text twice (no dates, no paths)', async () => {
    for (const format of CHART_FORMATS) expect(await renderChart(format)).toBe(await renderChart(format));
  });
});
