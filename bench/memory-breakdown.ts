/**
 * What one connection's XState actor costs on the heap, measured apart from
 * sockets: the connection machine's actor as ws-lifecycle creates it (a root
 * actor, so with its own actor system), and the same actor sharing one
 * system (XState's internal `parent` option, as spawned children do) to
 * show the system's share.
 *
 *   node --expose-gc --import tsx bench/memory-breakdown.ts
 */
import { createActor, createMachine } from 'xstate';
import { connectionMachine } from '../machines/connection.machine.js';

const COUNT = 10_000;
const INPUT = { handshakeTimeoutMs: 10_000, closeTimeoutMs: 5_000, heartbeatIntervalMs: 30_000 };

function heapUsed(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('Run with node --expose-gc');
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/**
 * Heap bytes per actor: `COUNT` actors created, started and moved to
 * `connected`, kept alive while the heap is measured.
 */
function bytesPerActor(make: () => ReturnType<typeof createActor<typeof connectionMachine>>): number {
  const warm = make();
  warm.start();
  const keep: unknown[] = [];
  const before = heapUsed();
  for (let i = 0; i < COUNT; i++) {
    const actor = make();
    actor.start();
    actor.send({ type: 'OPENED' });
    keep.push(actor);
  }
  const bytes = (heapUsed() - before) / COUNT;
  keep.length = 0;
  return bytes;
}

const ownSystem = bytesPerActor(() => createActor(connectionMachine, { input: INPUT, inspect: () => {} }));
const root = createActor(createMachine({}), { inspect: () => {} });
root.start();
const sharedSystem = bytesPerActor(() =>
  createActor(connectionMachine, { input: INPUT, parent: root })
);
process.stdout.write(
  `connection actor, own actor system (as created today): ${ownSystem.toFixed(0)} B\n` +
    `connection actor, shared actor system:                 ${sharedSystem.toFixed(0)} B\n` +
    `the per-actor system's share:                          ${(ownSystem - sharedSystem).toFixed(0)} B\n`
);
