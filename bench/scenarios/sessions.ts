/**
 * Scenario 6 (#11): what sessions cost and what they buy.
 *
 * - Publish throughput to one user's tabs with sessions (every message
 *   stored with an offset and framed in an envelope) against the same
 *   manager with sessions off (plain connections), and against Socket.IO 4
 *   with connection state recovery (in-memory adapter).
 * - Resume: clients drop, 1,000 messages are published while they are
 *   away, they come back while another 1,000 are published: time from the
 *   network being back until every client has every message, and the
 *   messages lost or duplicated, against Socket.IO.
 * - Heap per detached session (sessions kept for resume after their
 *   clients dropped), against Socket.IO's kept sessions.
 */
import type { Agent } from '../rpc.js';
import { nowMs, sleep } from '../clock.js';
import { log, rotate, startClient, startServer } from '../harness.js';
import type { BenchOptions } from '../options.js';
import { Samples, type Metric, type ResultRow } from '../results.js';
import type { SessionSubject } from '../session-server.js';

const SERVER = new URL('../session-server.ts', import.meta.url);
const CLIENTS = new URL('../session-clients.ts', import.meta.url);
/** A message of about this many bytes of JSON. */
const MESSAGE_BYTES = 100;
/** Nothing new for this long: what has not arrived is lost. */
const SETTLE_MS = 1_000;

interface Pair {
  server: Agent;
  client: Agent;
  port: number;
}

async function start(subject: SessionSubject): Promise<Pair> {
  const [server, client] = await Promise.all([startServer(`sessions ${subject}`, ['--expose-gc'], SERVER), startClient(`sessions ${subject}`, CLIENTS)]);
  const port = await server.call<number>('start', { subject });
  return { server, client, port };
}

async function stop(pair: Pair): Promise<void> {
  await pair.client.call('close');
  await pair.client.stop();
  await pair.server.call('stop');
  await pair.server.stop();
}

/** Messages per second delivered to `clients` tabs of one user. */
async function throughput(subject: SessionSubject, clients: number, messages: number): Promise<number> {
  const pair = await start(subject);
  try {
    await pair.client.call('connect', { subject, port: pair.port, clients, usersEach: false });
    // Warm up (and let Socket.IO emit once, which its recovery needs): not timed.
    await pair.server.call('publish', { user: 'u', count: 200, bytes: MESSAGE_BYTES });
    await pair.client.call('received', { from: 1, to: 200, settleMs: SETTLE_MS });
    const startedAt = await pair.server.call<number>('publish', { user: 'u', count: messages, bytes: MESSAGE_BYTES });
    const lastAt = await pair.client.call<number>('received', { from: 201, to: 200 + messages, settleMs: SETTLE_MS });
    return ((messages * clients) / (lastAt - startedAt)) * 1000;
  } finally {
    await stop(pair);
  }
}

/** Resume after missing `missed` messages while `live` more are published during the comeback. */
async function resume(subject: Exclude<SessionSubject, 'plain'>, clients: number, missed: number, live: number): Promise<Partial<Record<Metric, number>>> {
  const pair = await start(subject);
  try {
    await pair.client.call('connect', { subject, port: pair.port, clients, usersEach: false });
    await pair.server.call('publish', { user: 'u', count: 10, bytes: MESSAGE_BYTES });
    await pair.client.call('received', { from: 1, to: 10, settleMs: SETTLE_MS });
    await pair.client.call('drop');
    await sleep(50);
    await pair.server.call('publish', { user: 'u', count: missed, bytes: MESSAGE_BYTES });
    const resumedAt = await pair.client.call<number>('resume');
    // The agent keeps publishing while the clients come back.
    await pair.server.call('publish', { user: 'u', count: live, bytes: MESSAGE_BYTES });
    const total = 10 + missed + live;
    const lastAt = await pair.client.call<number>('received', { from: 1, to: total, settleMs: SETTLE_MS });
    const { lost, duplicated } = await pair.client.call<{ lost: number; duplicated: number }>('tally', { to: total });
    log(`resume ${subject}: ${lost} lost, ${duplicated} duplicated of ${total} x ${clients}, ${(lastAt - resumedAt).toFixed(1)} ms`);
    return { resume_ms: lastAt - resumedAt, lost_messages: lost, duplicated_messages: duplicated };
  } finally {
    await stop(pair);
  }
}

/** Heap per session kept after its client dropped (one user per client). */
async function detachedHeap(subject: Exclude<SessionSubject, 'plain'>, clients: number): Promise<number> {
  const pair = await start(subject);
  try {
    const before = await pair.server.call<number>('heapUsed');
    await pair.client.call('connect', { subject, port: pair.port, clients, usersEach: true });
    await pair.client.call('drop');
    const deadline = nowMs() + 60_000;
    while ((await pair.server.call<{ connections: number }>('counts')).connections > 0) {
      if (nowMs() > deadline) throw new Error(`${subject}: connections still open after the drop`);
      await sleep(20);
    }
    const after = await pair.server.call<number>('heapUsed');
    return (after - before) / clients;
  } finally {
    await stop(pair);
  }
}

/** Run scenario 6 and return its rows. */
export async function runSessions(options: BenchOptions): Promise<ResultRow[]> {
  const { tabs, messages, resumeClients, detached } = options.sessions;
  const samples = new Samples();
  const subjects = ['sessions', 'plain', 'socket.io'] as const;
  for (let round = 0; round < options.rounds; round++) {
    for (const subject of rotate(subjects, round)) samples.add(subject, 'msgs_per_sec', await throughput(subject, tabs, messages));
    for (const subject of rotate(['sessions', 'socket.io'] as const, round)) {
      samples.addAll(subject, await resume(subject, resumeClients, 1_000, 1_000));
      samples.add(subject, 'heap_bytes_per_session', await detachedHeap(subject, detached));
    }
    log(`sessions: round ${round + 1} of ${options.rounds} done`);
  }
  const scenario = `sessions-${tabs}-tabs`;
  return [
    samples.row(scenario, 'msgs_per_sec', 'sessions', 'plain'),
    samples.row(scenario, 'msgs_per_sec', 'sessions', 'socket.io'),
    samples.row('resume-1000', 'resume_ms', 'sessions', 'socket.io'),
    samples.row('resume-1000', 'lost_messages', 'sessions', 'socket.io'),
    samples.row('resume-1000', 'duplicated_messages', 'sessions', 'socket.io'),
    samples.row(`detached-${detached}`, 'heap_bytes_per_session', 'sessions', 'socket.io')
  ];
}
