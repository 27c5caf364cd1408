/**
 * Regenerate `docs/inspector.png`: run the demo with the inspector, open
 * the page in headless Chromium while the simulated users are busy, and
 * take a screenshot. The picture records which charts it shows and the
 * fingerprints of their graphs (examples/picture.ts): a test fails when a
 * machine changes one of them and the picture is not taken again.
 *
 *   tsx examples/screenshot.ts [--out FILE] [--wait-ms N]
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { launchChromium } from './browser.js';
import { currentCharts, INSPECTOR_PICTURE, recordCharts } from './picture.js';
import { runDemo } from './run-demo.js';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: INSPECTOR_PICTURE },
    'wait-ms': { type: 'string', default: '2500' }
  }
});
const waitMs = Number(values['wait-ms']);
if (!Number.isFinite(waitMs) || waitMs < 0) throw new RangeError(`Invalid --wait-ms: ${JSON.stringify(values['wait-ms'])}`);

const stop = new AbortController();
const summary = await runDemo({
  inspect: true,
  until: stop.signal,
  onListening: ({ inspect }) => {
    // Shoot in the background: runDemo only starts the users after this returns.
    void (async () => {
      const browser = await launchChromium({ width: 1200, height: 860 });
      try {
        const page = await browser.context.newPage();
        await page.goto(inspect!);
        await page.waitForSelector('#status[data-status="live"]');
        await page.waitForTimeout(waitMs);
        const png = await page.screenshot({ fullPage: true });
        const figures = await page.locator('figure[data-chart]').all();
        const shown = await Promise.all(figures.map(async (figure) => (await figure.getAttribute('data-chart')) ?? ''));
        const charts = currentCharts(shown);
        await writeFile(values.out, recordCharts(png, charts));
        console.log(`wrote ${values.out} (${[...charts].map(([name, fingerprint]) => `${name} ${fingerprint}`).join(', ')})`);
      } finally {
        await browser.close();
        stop.abort();
      }
    })().catch((error: unknown) => {
      console.error(error);
      process.exitCode = 1;
      stop.abort();
    });
  }
});
console.log(`demo: ${summary.connections.opened} connections, ${summary.transitions.total} transitions, ${summary.messages.sent} messages`);
