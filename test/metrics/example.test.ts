/**
 * examples/metrics.ts runs as written (#22): it prints a Prometheus
 * exposition on stdout and what its load did, counted on the load's own
 * side (clients, send results, the session client's frames), on stderr.
 * Each metric must equal that count: nothing here is a number copied from
 * a run.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { LoadTally } from '../../examples/metrics/load.js';
import { NAMED_TOPIC } from '../../examples/metrics/load.js';
import { ATTRIBUTES, METRIC_NAMES, closeCodeClass } from '../../src/metrics/attributes.js';
import { byLabel, parseExposition, total, type Sample } from './exposition.js';

const RUN_LIMIT_MS = 60_000;

async function runExample(): Promise<{ samples: Sample[]; tally: LoadTally; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/metrics.ts'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), RUN_LIMIT_MS);
  try {
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code, `the example failed:\n${stderr}`).toBe(0);
  } finally {
    clearTimeout(timer);
    child.kill('SIGKILL');
  }
  const line = stderr.split('\n').find((text) => text.startsWith('load: '));
  if (line === undefined) throw new Error(`no "load:" line on stderr:\n${stderr}`);
  return { samples: parseExposition(stdout), tally: JSON.parse(line.slice('load: '.length)) as LoadTally, stderr };
}

/** How many of each (initiator, close code class) the load ended. */
function closesByKind(closes: LoadTally['closes']): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { initiator, code } of closes) {
    const key = `${initiator} ${closeCodeClass(code)}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

describe('examples/metrics.ts', () => {
  let run: { samples: Sample[]; tally: LoadTally };
  beforeAll(async () => {
    run = await runExample();
  }, RUN_LIMIT_MS + 10_000);

  it('prints an exposition whose every count is what its load did', () => {
    const { samples, tally } = run;

    // The load did what the example promises, so each metric below has something to count.
    expect(Object.keys(tally.refused).sort()).toEqual(['backpressure', 'closed', 'closing', 'not_found', 'serialization_failed']);
    expect(Object.keys(tally.recoveries).sort()).toEqual(['recovered', 'trimmed', 'unknown_session']);
    expect(tally.drops).toBe(2);
    expect(tally.resumes).toBe(2);
    expect(tally.calls.publishFailed).toEqual({ store_unavailable: 1 });

    // Connections by state, now.
    expect(total(samples, 'ws_lifecycle_connection_count', { ws_lifecycle_connection_state: 'connected' })).toBe(tally.openSockets);
    expect(total(samples, 'ws_lifecycle_connection_count', { ws_lifecycle_connection_state: 'connecting' })).toBe(0);
    expect(total(samples, 'ws_lifecycle_connection_count', { ws_lifecycle_connection_state: 'closing' })).toBe(0);

    // Each connection that ended, by who ended it and its close code class.
    const ended: Record<string, number> = {};
    for (const sample of samples.filter((s) => s.name === 'ws_lifecycle_connection_duration_count')) {
      ended[`${sample.labels.ws_lifecycle_close_initiator} ${sample.labels.ws_lifecycle_close_code}`] = sample.value;
    }
    expect(ended).toEqual(closesByKind(tally.closes));

    // Sends: accepted ones are what the plain clients received; refused ones, by the reason their results gave.
    expect(total(samples, 'ws_lifecycle_sent_messages_total', { error_type: undefined })).toBe(tally.received);
    expect(byLabel(samples, 'ws_lifecycle_sent_messages_total', 'error_type')).toEqual(tally.refused);

    // Broadcasts, sends to a user and publishes timed, one each; publishes by topic (only the named one) and failure.
    const operations = 'ws_lifecycle_operation_duration_count';
    expect(total(samples, operations, { ws_lifecycle_operation_name: 'broadcast' })).toBe(tally.calls.broadcast);
    expect(total(samples, operations, { ws_lifecycle_operation_name: 'send_to_user' })).toBe(tally.calls.sendToUser);
    expect(total(samples, operations, { ws_lifecycle_operation_name: 'publish' })).toBe(tally.calls.published);
    expect(total(samples, operations, { ws_lifecycle_operation_name: 'publish', ws_lifecycle_topic: NAMED_TOPIC })).toBe(tally.calls.publishedNamed);
    expect(byLabel(samples, operations, 'error_type', { ws_lifecycle_operation_name: 'publish' })).toEqual(tally.calls.publishFailed);

    // Resume outcomes, as the session client was told them.
    expect(byLabel(samples, 'ws_lifecycle_topic_recoveries_total', 'ws_lifecycle_recovery_result')).toEqual(tally.recoveries);
    expect(byLabel(samples, 'ws_lifecycle_topic_recoveries_total', 'ws_lifecycle_recovery_result', { ws_lifecycle_topic: NAMED_TOPIC })).toEqual(
      tally.recoveriesNamed
    );

    // Sessions: attached now, and each drop and resume.
    expect(total(samples, 'ws_lifecycle_session_count', { ws_lifecycle_session_state: 'attached' })).toBe(tally.attachedSessions);
    expect(total(samples, 'ws_lifecycle_session_count', { ws_lifecycle_session_state: 'detached' })).toBe(0);
    const transitions = 'ws_lifecycle_session_transitions_total';
    expect(total(samples, transitions, { ws_lifecycle_session_from: 'attached', ws_lifecycle_session_state: 'detached' })).toBe(tally.drops);
    expect(total(samples, transitions, { ws_lifecycle_session_from: 'detached', ws_lifecycle_session_state: 'attached' })).toBe(tally.resumes);

    // Delivery lag: one sample per message written live, in all and for the named topic.
    expect(total(samples, 'ws_lifecycle_delivery_lag_count')).toBe(tally.live);
    expect(total(samples, 'ws_lifecycle_delivery_lag_count', { ws_lifecycle_topic: NAMED_TOPIC })).toBe(tally.liveNamed);

    // The store's failed append, named by the store's error class.
    expect(total(samples, 'ws_lifecycle_store_errors_total', { ws_lifecycle_store_operation: 'append', error_type: 'StoreOutageError' })).toBe(
      tally.calls.publishFailed.store_unavailable
    );
    expect(total(samples, 'ws_lifecycle_log_dropped_total')).toBe(0);

    // No topic the application did not name, and no user or session id, is a label value.
    const topics = new Set(samples.flatMap((s) => (s.labels.ws_lifecycle_topic === undefined ? [] : [s.labels.ws_lifecycle_topic])));
    expect([...topics]).toEqual([NAMED_TOPIC]);
    const values = samples.flatMap((s) => Object.values(s.labels));
    for (const secret of ['carol', 'alice', 'bob', 'news', 'user:carol']) expect(values).not.toContain(secret);
  });

  it('the dashboard and the alerting page name only metrics and attributes that exist', () => {
    const { samples } = run;
    // The node's state and its Redis errors are exported only with a cluster, which the example does not run.
    // A histogram is named in prose by its family (`ws_lifecycle_delivery_lag`), in queries by its series.
    const names = samples.flatMap((sample) => [sample.name, sample.name.replace(/_(bucket|sum|count)$/, ''), ...Object.keys(sample.labels)]);
    const exported = new Set(['ws_lifecycle_node_state', 'ws_lifecycle_redis_errors', ...names]);
    const known = new Set<string>([...Object.values(METRIC_NAMES), ...Object.values(ATTRIBUTES)]);
    for (const file of ['docs/grafana-dashboard.json', 'docs/metrics.md']) {
      const text = readFileSync(file, 'utf8');
      const prometheus = [...new Set(text.match(/\bws_lifecycle_[a-z_]+/g))];
      expect(prometheus.length, file).toBeGreaterThan(5);
      expect(prometheus.filter((name) => !exported.has(name)), file).toEqual([]);
      const otel = [...new Set(text.match(/\bws_lifecycle\.[a-z_.]*[a-z_]/g) ?? [])];
      expect(otel.filter((name) => !known.has(name)), file).toEqual([]);
    }
  });
});
