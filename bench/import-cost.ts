/**
 * What `import 'ws-lifecycle'` costs (#9): wall time of the import and the
 * heap it leaves after a GC, each in a fresh Node process, against
 * importing its three runtime dependencies alone, and against loading the
 * tools too. Medians of 9 processes per row. Needs the build (`npm run build`).
 *
 *   npm run build && npx tsx bench/import-cost.ts
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { quantile } from './stats.js';

const DIST = fileURLToPath(new URL('../dist/src/', import.meta.url));
const ROUNDS = 9;

const ROWS: Array<[string, string[]]> = [
  ['xstate + ws + pino alone', ['xstate', 'ws', 'pino']],
  ['ws-lifecycle', [`${DIST}index.js`]],
  ['ws-lifecycle + audit + charts + inspector', [`${DIST}index.js`, `${DIST}audit/verify.js`, `${DIST}chart/index.js`, `${DIST}inspector/inspector.js`]]
];

function measure(specifiers: string[]): { ms: number; heap: number } {
  const script = `
    globalThis.gc(); const heap0 = process.memoryUsage().heapUsed; const t0 = performance.now();
    for (const s of ${JSON.stringify(specifiers)}) await import(s);
    const ms = performance.now() - t0; globalThis.gc();
    console.log(JSON.stringify({ ms, heap: process.memoryUsage().heapUsed - heap0 }));`;
  const out = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { cwd: fileURLToPath(new URL('..', import.meta.url)) });
  return JSON.parse(out.toString()) as { ms: number; heap: number };
}

if (!existsSync(`${DIST}index.js`)) throw new Error('dist/ is missing: run `npm run build` first');
console.log('| imports | time, ms | heap after GC, KiB |');
console.log('| --- | ---: | ---: |');
for (const [name, specifiers] of ROWS) {
  measure(specifiers); // warm the file system cache
  const runs = Array.from({ length: ROUNDS }, () => measure(specifiers));
  const ms = quantile(runs.map((r) => r.ms), 0.5);
  const heap = quantile(runs.map((r) => r.heap), 0.5) / 1024;
  console.log(`| ${name} | ${ms.toFixed(1)} | ${heap.toFixed(0)} |`);
}
