/** The soak's printed summary. */
import { mib } from './checks.js';
import type { SoakSummary } from './run.js';

function pairs(table: Readonly<Record<string, number | undefined>>): string {
  const entries = Object.entries(table).filter(([, n]) => n !== undefined && n > 0);
  return entries.length === 0 ? 'none' : entries.map(([k, n]) => `${k} ${n}`).join(', ');
}

/**
 * The summary lines: what ran, how much, and how it ended. Counts cover
 * the whole run (warm-up, main phase, shutdown under load).
 *
 * @param {SoakSummary} s What a run measured
 * @returns {string[]} Lines to print
 */
export function formatSummary(s: SoakSummary): string[] {
  const { options: o, driver: d, probe: p, client: c, seconds: t } = s;
  const churned = t.warmup + t.main + t.finale;
  const perSecond = (n: number): string => `${Math.round(n / churned)}/s`;
  return [
    `soak: ${t.main.toFixed(1)} s main phase (+ ${t.warmup.toFixed(1)} s warm-up, ${t.finale.toFixed(1)} s until shutdown), seed ${o.seed}, max live ${o.maxLive}, ${o.users} users, ${o.opsPerTick} operations per tick`,
    `connections: ${d.accepted} opened (${perSecond(d.accepted)}), ${d.closeEvents} closed, at most ${d.peakLive} at once; counts ${pairs(s.registry.counts)}`,
    c
      ? `client: ${c.attempted} attempted, ${c.opened} opened (at most ${c.peakSockets} at once), ${c.failedToOpen} never opened (${c.aborted} aborted), ${c.closes} closes, ${c.terminates} terminates, ${c.floods} floods, ${c.bursts} bursts, ${c.messagesSent} sent, ${c.messagesReceived} received`
      : 'client: no stats (it did not report)',
    c ? `client saw close codes: ${pairs(c.closeCodes)}; errors: ${pairs(c.errors)}` : '',
    `closed by: ${pairs(d.initiators)}; codes: ${pairs(d.closeCodes)}`,
    `server: ${d.serverCloses} closes, ${d.serverTerminates} terminates, ${d.replies} replies, ${d.floods} floods; shutdown under load closed ${s.shutdown.closed}, terminated ${s.shutdown.terminated}`,
    `sends: ${d.sends.ok} ok (${perSecond(d.sends.ok)}), refused: ${pairs(d.sends.refused)}`,
    `fan-out: ${d.fanOut.broadcasts} broadcasts, ${d.fanOut.sendsToUser} sendToUser; ${d.fanOut.sent} delivered, rejected: ${pairs(d.fanOut.rejected)}`,
    `operations: ${pairs(d.operations)}`,
    `sockets: ${p.writes} ws.send, ${p.pings} pings; transport errors: ${pairs(p.transportErrors)}; ignored events ${s.ignoredEvents}`,
    `event loop delay (server, main phase): p50 ${s.eventLoopDelayMs.p50} ms, p99 ${s.eventLoopDelayMs.p99} ms, max ${s.eventLoopDelayMs.max} ms`,
    `heap after GC, clients gone, manager idle: start ${mib(s.heap.start.used)} after warm-up (JIT code ${mib(s.heap.start.code)}), end ${mib(s.heap.end.used)} after main phase (JIT code ${mib(s.heap.end.code)})`,
    `active resources at the end: [${s.resources.join(', ')}]`
  ].filter((line) => line !== '');
}
