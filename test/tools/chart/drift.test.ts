/**
 * The committed charts in docs/ must be exactly what the machine generates
 * now: change the machine, and this fails until `npm run charts` is run.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHART_FORMATS, CHARTED_MACHINES, chartFile, renderChart } from '../../../src/tools/chart/index.js';
import { readChart } from '../../../src/core/machine-graph.js';

const DOCS = join(import.meta.dirname, '..', '..', '..', 'docs');

describe('docs/ charts', () => {
  const cases = Object.keys(CHARTED_MACHINES).flatMap((name) => CHART_FORMATS.map((format) => [name, format] as const));
  it.each(cases)('%s %s matches the machine byte for byte', async (name, format) => {
    const file = join(DOCS, chartFile(name, format));
    const onDisk = await readFile(file, 'utf8').catch(() => `(${file} is missing)`);
    const generated = await renderChart(format, readChart(CHARTED_MACHINES[name]), name);
    expect(onDisk, `docs/${chartFile(name, format)} is stale: run \`npm run charts\` and commit the result`).toBe(generated);
  });

  it('generates the same text twice (no dates, no paths)', async () => {
    for (const format of CHART_FORMATS) expect(await renderChart(format)).toBe(await renderChart(format));
  });
});
