/**
 * Scenario 4: memory per idle connection. A fresh server process per round
 * and subject (run with --expose-gc): heap used after a full GC, before and
 * after the clients connect (after a warm-up), and RSS growth from the fresh
 * process, divided by the number of connections. Both subjects of a round
 * run at once, each with its own server and client process: memory does not
 * depend on timing, and it halves the time.
 */
import { sleep } from '../clock.js';
import type { BenchOptions } from '../options.js';
import { Samples, type ResultRow } from '../results.js';
import type { MemorySample, ServerPorts } from '../server-agent.js';
import { live, log, startClient, startServer, untilCounts } from '../harness.js';
import type { Agent } from '../rpc.js';

const SUBJECTS = [
  { name: 'manager', accept: 'silent' },
  { name: 'ws', accept: 'raw' }
] as const;
/** Connections opened and closed before the heap is sampled, so lazily built code and caches are not counted. */
const WARM_UP_CONNECTIONS = 200;

async function openAndWait(client: Agent, server: Agent, port: number, count: number, accept: string): Promise<void> {
  await client.call('open', { kind: 'ws', port, count });
  await untilCounts(
    server,
    (c) => c.ws === count && (accept === 'raw' || c.managers.silent?.connected === count),
    `${count} idle connections`
  );
}

async function measure(client: Agent, accept: 'silent' | 'raw', connections: number): Promise<{ heap: number; rss: number }> {
  const server = await startServer(`memory ${accept}`, ['--expose-gc']);
  try {
    const ports = await server.call<ServerPorts>('start', {});
    await server.call('mode', { accept });
    // RSS from the idle fresh process: what it grows by to hold the
    // connections (freed heap is reused, so after the warm-up RSS barely moves).
    const fresh = await server.call<MemorySample>('memory');
    await openAndWait(client, server, ports.ws, WARM_UP_CONNECTIONS, accept);
    await client.call('closeAll');
    await untilCounts(server, (c) => c.ws === 0 && live(c, 'silent') === 0, 'warm-up connections closed');
    const before = await server.call<MemorySample>('memory');
    await openAndWait(client, server, ports.ws, connections, accept);
    await sleep(200);
    const after = await server.call<MemorySample>('memory');
    return { heap: (after.heapUsed - before.heapUsed) / connections, rss: (after.rss - fresh.rss) / connections };
  } finally {
    await Promise.allSettled([client.call('terminateAll')]);
    await server.stop();
  }
}

/** Run scenario 4 and return its rows. */
export async function runMemory(options: BenchOptions): Promise<ResultRow[]> {
  const connections = options.memoryConnections;
  const scenario = `memory-${connections}`;
  const clients = await Promise.all(SUBJECTS.map((s) => startClient(`${scenario} ${s.name}`)));
  try {
    const samples = new Samples();
    for (let round = 0; round < options.rounds; round++) {
      const measured = await Promise.all(SUBJECTS.map((s, i) => measure(clients[i]!, s.accept, connections)));
      SUBJECTS.forEach((s, i) => {
        samples.add(s.name, 'heap_bytes_per_connection', measured[i]!.heap);
        samples.add(s.name, 'rss_bytes_per_connection', measured[i]!.rss);
      });
      log(`${scenario}: round ${round + 1}/${options.rounds} done`);
    }
    return [
      samples.row(scenario, 'heap_bytes_per_connection', 'manager', 'ws'),
      samples.row(scenario, 'rss_bytes_per_connection', 'manager', 'ws')
    ];
  } finally {
    await Promise.all(clients.map((client) => client.stop()));
  }
}
