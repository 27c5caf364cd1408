/**
 * Summarize a V8 CPU profile (`node --cpu-prof`, or `npm run bench -- --profile DIR`):
 * the functions with the most self time.
 *
 *   npx tsx bench/profile-summary.ts DIR/CPU.*.cpuprofile [--top 30] [--by-owner]
 *
 * `--by-owner` sums self time by who owns the code instead: xstate, ws,
 * this module (src/, machines/), other packages, Node.js itself, the garbage
 * collector, idle. It is how docs/benchmarks.md says where a storm's CPU goes (#14).
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/**
 * Self time per function, largest first.
 *
 * @param {Profile} profile A parsed .cpuprofile
 * @returns {{ name: string; micros: number; share: number }[]} One entry per function
 */
export function selfTimes(profile: Profile): { name: string; micros: number; share: number }[] {
  const byNode = new Map<number, ProfileNode>(profile.nodes.map((node) => [node.id, node]));
  const totals = new Map<string, number>();
  let all = 0;
  profile.samples.forEach((id, i) => {
    const node = byNode.get(id);
    const delta = profile.timeDeltas[i] ?? 0;
    if (!node) return;
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url.replace(/^.*\/node_modules\//, '').replace(/^.*\/(src|machines|bench)\//, '$1/');
    const name = `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`;
    totals.set(name, (totals.get(name) ?? 0) + delta);
    all += delta;
  });
  return [...totals.entries()]
    .map(([name, micros]) => ({ name, micros, share: all > 0 ? micros / all : 0 }))
    .sort((a, b) => b.micros - a.micros);
}

/**
 * Who owns a function of a profile: a package, this module, Node.js, the GC, idle.
 *
 * @param {string} name A name from {@link selfTimes}
 * @returns {string} The owner
 */
export function ownerOf(name: string): string {
  if (name.startsWith('(idle)')) return 'idle';
  if (name.startsWith('(garbage collector)')) return 'garbage collector';
  const file = name.slice(name.lastIndexOf(' ') + 1);
  if (file.startsWith('xstate/')) return 'xstate';
  if (file.startsWith('ws/')) return 'ws';
  if (file.startsWith('src/') || file.startsWith('machines/')) return 'ws-lifecycle';
  if (file.startsWith('bench/')) return 'benchmark agent';
  if (/^[@a-z0-9][^:]*\//.test(file) && !file.startsWith('node:')) return 'other packages';
  return 'Node.js and V8';
}

/** Self time summed per owner, largest first. */
export function ownerTimes(profile: Profile): { name: string; micros: number; share: number }[] {
  const totals = new Map<string, { micros: number; share: number }>();
  for (const entry of selfTimes(profile)) {
    const owner = ownerOf(entry.name);
    const total = totals.get(owner) ?? { micros: 0, share: 0 };
    total.micros += entry.micros;
    total.share += entry.share;
    totals.set(owner, total);
  }
  return [...totals.entries()].map(([name, total]) => ({ name, ...total })).sort((a, b) => b.micros - a.micros);
}

function main(argv: string[]): void {
  const topIndex = argv.indexOf('--top');
  const top = topIndex >= 0 ? Number(argv[topIndex + 1]) : 30;
  const byOwner = argv.includes('--by-owner');
  const files = argv.filter((arg, i) => arg !== '--top' && arg !== '--by-owner' && (topIndex < 0 || i !== topIndex + 1));
  if (files.length === 0) throw new Error('Usage: tsx bench/profile-summary.ts FILE.cpuprofile [--top N] [--by-owner]');
  for (const file of files) {
    process.stdout.write(`${file}\n`);
    const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
    for (const entry of (byOwner ? ownerTimes(profile) : selfTimes(profile)).slice(0, top)) {
      process.stdout.write(`${(entry.share * 100).toFixed(1).padStart(6)}%  ${(entry.micros / 1000).toFixed(1).padStart(9)} ms  ${entry.name}\n`);
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) main(process.argv.slice(2));
