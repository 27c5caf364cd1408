/**
 * Where the heap of an idle connection goes: heap snapshots of a server
 * process before and after N connections, for the manager and for raw ws,
 * grouped by node type and constructor, largest growth per connection first.
 *
 *   npx tsx bench/heap-diff.ts [--connections 2000] [--top 25]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { live, startClient, startServer, untilCounts } from './harness.js';
import type { ServerPorts } from './server-agent.js';

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

/** Bytes and object count per "type:constructor" in a .heapsnapshot file. */
export function heapByConstructor(path: string): Map<string, { count: number; bytes: number }> {
  const heap = JSON.parse(readFileSync(path, 'utf8')) as HeapSnapshot;
  const fields = heap.snapshot.meta.node_fields;
  const types = heap.snapshot.meta.node_types[0];
  const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((field) => fields.indexOf(field)) as [number, number, number];
  const totals = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < heap.nodes.length; i += fields.length) {
    const type = types[heap.nodes[i + typeAt]!]!;
    // Strings are named by their content: group them by type only.
    const key = type.includes('string') ? type : `${type}:${heap.strings[heap.nodes[i + nameAt]!]!.slice(0, 50)}`;
    const entry = totals.get(key) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += heap.nodes[i + sizeAt]!;
    totals.set(key, entry);
  }
  return totals;
}

async function snapshotsFor(accept: 'silent' | 'raw', connections: number, dir: string): Promise<[string, string]> {
  const client = await startClient(`heap ${accept}`);
  const server = await startServer(`heap ${accept}`, ['--expose-gc']);
  try {
    const ports = await server.call<ServerPorts>('start', {});
    await server.call('mode', { accept });
    // Warm up so code and caches built on first use are in both snapshots.
    await client.call('open', { kind: 'ws', port: ports.ws, count: 100 });
    await untilCounts(server, (c) => c.ws === 100, 'warm-up connections');
    await client.call('closeAll');
    await untilCounts(server, (c) => c.ws === 0 && live(c, 'silent') === 0, 'warm-up closed');
    const before = join(dir, `${accept}-before.heapsnapshot`);
    const after = join(dir, `${accept}-after.heapsnapshot`);
    await server.call('memory');
    await server.call('heapSnapshot', { path: before });
    await client.call('open', { kind: 'ws', port: ports.ws, count: connections });
    await untilCounts(server, (c) => c.ws === connections, `${connections} connections`);
    await server.call('memory');
    await server.call('heapSnapshot', { path: after });
    return [before, after];
  } finally {
    await client.call('terminateAll');
    await Promise.all([server.stop(), client.stop()]);
  }
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { connections: { type: 'string' }, top: { type: 'string' } } });
  const connections = Number(values.connections ?? 2000);
  const top = Number(values.top ?? 25);
  const dir = mkdtempSync(join(tmpdir(), 'ws-lifecycle-heap-'));
  try {
    for (const accept of ['silent', 'raw'] as const) {
      const [before, after] = await snapshotsFor(accept, connections, dir);
      const a = heapByConstructor(before);
      const growth = [...heapByConstructor(after)].map(([key, { count, bytes }]) => {
        const base = a.get(key) ?? { count: 0, bytes: 0 };
        return { key, count: (count - base.count) / connections, bytes: (bytes - base.bytes) / connections };
      });
      const total = growth.reduce((sum, g) => sum + g.bytes, 0);
      process.stdout.write(`\n${accept === 'raw' ? 'raw ws' : 'manager'}: ${total.toFixed(0)} B per connection\n`);
      for (const g of growth.sort((x, y) => y.bytes - x.bytes).slice(0, top)) {
        process.stdout.write(`${g.bytes.toFixed(0).padStart(7)} B ${g.count.toFixed(2).padStart(6)} objects  ${g.key}\n`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  });
}
