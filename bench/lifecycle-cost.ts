/**
 * What one connection's whole life costs in CPU inside this module, apart
 * from the network: a ConnectionManager accepting a stand-in socket (no I/O),
 * bringing it to `connected`, closing it with 1000 and seeing it `closed`;
 * next to the same lifecycle of the bare XState actor (create with a shared
 * system, start, OPENED, CLOSE, TRANSPORT_CLOSED), which is the floor an
 * actor per connection sets. Medians of 9 rounds, 128 connections in flight.
 *
 *   npx tsx bench/lifecycle-cost.ts
 */
import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import { createActor, createEmptyActor } from 'xstate';
import { connectionMachine } from '../machines/connection.machine.js';
import { ConnectionManager } from '../src/index.js';
import { ACTORS_PER_SYSTEM } from '../src/actor-systems.js';
import { DEFAULTS } from '../src/constants.js';
import { cpuMicrosSince } from './clock.js';
import { quantile } from './stats.js';

const PER_ROUND = 20_480;
const IN_FLIGHT = 128;
const ROUNDS = 9;

/** What the manager reads and calls on a ws socket, doing nothing; the close comes back a microtask later. */
class StandInSocket extends EventEmitter {
  readyState = 1;
  extensions = '';
  bufferedAmount = 0;
  close(code: number, reason: string): void {
    this.readyState = 2;
    queueMicrotask(() => {
      this.readyState = 3;
      this.emit('close', code, Buffer.from(reason));
    });
  }
  terminate(): void {
    this.close(1006, '');
  }
}

async function managedLifecycles(manager: ConnectionManager): Promise<number> {
  const since = process.cpuUsage();
  for (let done = 0; done < PER_ROUND; done += IN_FLIGHT) {
    const closed: Promise<unknown>[] = [];
    for (let i = 0; i < IN_FLIGHT; i++) {
      closed.push(manager.accept(new StandInSocket() as never).close(1000, 'churn'));
    }
    await Promise.all(closed);
  }
  return cpuMicrosSince(since) / PER_ROUND;
}

const TIMING = {
  handshakeTimeoutMs: DEFAULTS.handshakeTimeoutMs,
  closeTimeoutMs: DEFAULTS.closeTimeoutMs,
  heartbeatIntervalMs: DEFAULTS.heartbeatIntervalMs
};

async function actorLifecycles(): Promise<number> {
  const since = process.cpuUsage();
  let parent = createEmptyActor();
  for (let done = 0; done < PER_ROUND; done += IN_FLIGHT) {
    for (let i = 0; i < IN_FLIGHT; i++) {
      // A new system every ACTORS_PER_SYSTEM actors, as src/actor-systems.ts shares them.
      if ((done + i) % ACTORS_PER_SYSTEM === 0) {
        parent = createEmptyActor();
        parent.start();
      }
      const actor = createActor(connectionMachine, { input: TIMING, parent }).start();
      actor.send({ type: 'OPENED' });
      actor.send({ type: 'CLOSE', code: 1000, reason: 'churn' });
      actor.send({ type: 'TRANSPORT_CLOSED', code: 1000, reason: 'churn' });
    }
    await Promise.resolve();
  }
  return cpuMicrosSince(since) / PER_ROUND;
}

async function main(): Promise<void> {
  const manager = new ConnectionManager({ logger: pino({ level: 'silent' }) });
  const managed: number[] = [];
  const actor: number[] = [];
  for (let round = 0; round < ROUNDS + 1; round++) {
    const m = await managedLifecycles(manager);
    const a = await actorLifecycles();
    // Round 0 warms up the code.
    if (round === 0) continue;
    managed.push(m);
    actor.push(a);
  }
  const m = quantile(managed, 0.5);
  const a = quantile(actor, 0.5);
  console.log(`managed connection, whole life: ${m.toFixed(1)} us CPU (median of ${ROUNDS} rounds of ${PER_ROUND})`);
  console.log(`  of which the bare XState actor: ${a.toFixed(1)} us (${((a / m) * 100).toFixed(0)}%)`);
}

await main();
