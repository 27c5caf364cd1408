/**
 * Scenario 5: what the audit trail costs. The same manager with the audit at
 * info going to a file through pino's default (asynchronous) destination,
 * or a synchronous one, against a manager whose logger is silent: on a
 * broadcast (no transitions, so nothing should be written) and on churn
 * (three audit records per connection).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchOptions } from '../options.js';
import { Samples, type ResultRow } from '../results.js';
import type { ManagerName } from '../server-agent.js';
import { broadcastRound, log, rotate, startPair, stopPair, untilCounts } from '../harness.js';
import { broadcastSizes } from './broadcast.js';
import { measureChurn } from './churn.js';

const BROADCAST_SUBJECTS: readonly ManagerName[] = ['audit-file', 'silent'];
const CHURN_SUBJECTS: readonly ManagerName[] = ['audit-file', 'audit-file-sync', 'silent'];

/** Run scenario 5 and return its rows. */
export async function runAudit(options: BenchOptions): Promise<ResultRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'ws-lifecycle-bench-'));
  const auditFile = join(dir, 'audit.log');
  const pair = await startPair('audit', { auditFile });
  const connections = options.auditConnections;
  const scenario = `audit-broadcast-${connections}`;
  try {
    // One population per manager, all in the same processes.
    for (const manager of BROADCAST_SUBJECTS) {
      await pair.server.call('mode', { accept: manager });
      await pair.client.call('open', { kind: 'ws', port: pair.ports.ws, count: connections });
      await untilCounts(pair.server, (c) => c.managers[manager]?.connected === connections, `${connections} connections on ${manager}`);
    }
    const samples = new Samples();
    const targets = BROADCAST_SUBJECTS.map((manager) => ({ name: manager, pair, subject: 'manager.broadcast' as const, manager }));
    await broadcastRound(targets, 0, broadcastSizes(options, connections, 0.25));
    for (let round = 0; round < options.rounds; round++) {
      for (const [name, values] of await broadcastRound(targets, round, broadcastSizes(options, connections))) {
        samples.addAll(name, { msgs_per_sec: values.msgs_per_sec, p99_latency_ms: values.p99_latency_ms });
      }
    }
    await pair.client.call('closeAll');
    await untilCounts(pair.server, (c) => c.ws === 0, 'broadcast populations closed');
    log(`${scenario}: ${options.rounds} rounds done`);
    const writtenByBroadcast = statSync(auditFile).size;

    for (const manager of CHURN_SUBJECTS) await measureChurn(pair, manager, options, Math.ceil(options.churnMs / 3));
    for (let round = 0; round < options.rounds; round++) {
      for (const manager of rotate(CHURN_SUBJECTS, round)) {
        samples.addAll(manager, await measureChurn(pair, manager, options, options.churnMs));
      }
    }
    log(`audit-churn: ${options.rounds} rounds done`);
    await pair.server.call('stop');
    if (statSync(auditFile).size <= writtenByBroadcast) throw new Error(`Churn wrote no audit records to ${auditFile}`);
    return [
      samples.row(scenario, 'msgs_per_sec', 'audit-file', 'silent'),
      samples.row(scenario, 'p99_latency_ms', 'audit-file', 'silent'),
      samples.row('audit-churn', 'connections_per_sec', 'audit-file', 'silent'),
      samples.row('audit-churn', 'server_cpu_us_per_connection', 'audit-file', 'silent'),
      samples.row('audit-churn', 'connections_per_sec', 'audit-file-sync', 'silent'),
      samples.row('audit-churn', 'server_cpu_us_per_connection', 'audit-file-sync', 'silent')
    ];
  } finally {
    await stopPair(pair);
    rmSync(dir, { recursive: true, force: true });
  }
}
