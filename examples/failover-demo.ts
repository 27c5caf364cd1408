/**
 * `npm run demo:failover`: three nodes behind a round-robin proxy finding
 * Redis through three Sentinels; a Redis primary and replica started by
 * the demo; agents streaming to users' tabs, whose network drops and
 * pages reload again and again. Mid-run the replica is cut off, then the
 * primary is killed and Sentinel promotes the replica, which lacks the
 * newest appends. Prints, per tab, counted from the raw
 * frames its sockets received, lost and duplicated (0 and 0), what it was
 * told, and each node's readiness through the failover.
 *
 *   --nodes N --users N --tabs N --seconds N --kill-at S --lag S --disrupt-every MS --seed N
 */
import { parseArgs } from 'node:util';
import { numberOption as count } from './cluster/cli-numbers.js';
import { runFailoverDemo, type FailoverDemoSummary } from './cluster/run-failover-demo.js';

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/**
 * @param {FailoverDemoSummary} s What a run did
 * @returns {string} Printable text
 */
export function formatFailoverSummary(s: FailoverDemoSummary): string {
  const width = Math.max(...s.perTab.map((t) => t.tab.length));
  const toldText = (told: Record<string, number>): string => Object.entries(told).map(([reason, n]) => `${reason}${n > 1 ? ` x${n}` : ''}`).join(', ');
  const lines = s.perTab.map((t) => {
    const told = Object.keys(t.told).length === 0 ? 'told nothing' : `told ${toldText(t.told)}`;
    return `    ${t.tab.padEnd(width)}  received ${t.received}, lost ${t.lost}, duplicated ${t.duplicated}${t.diverged > 0 ? `, DIVERGED ${t.diverged}` : ''}, ${told}${t.caughtUp ? '' : ', NOT caught up'}`;
  });
  const toldCounts = new Map<string, number>();
  for (const t of s.perTab) toldCounts.set(toldText(t.told) || 'nothing', (toldCounts.get(toldText(t.told) || 'nothing') ?? 0) + 1);
  const readiness = s.readiness.map((node) => `${node.nodeId}: ${node.states.map((st, i) => (i === 0 ? st.state : `${st.state} at ${seconds(st.atMs)}`)).join(', ')}`);
  const promoted = s.promotedAfterMs === undefined ? 'Sentinel did not promote the replica' : `Sentinel promoted the replica ${s.promotedAfterMs} ms after`;
  return [
    `ws-lifecycle failover demo: ${s.nodes} nodes behind a round-robin proxy on 127.0.0.1:${s.proxyPort}; Redis primary :${s.redis.primary}, replica :${s.redis.replica}, Sentinels :${s.redis.sentinels.join(', :')}; ${s.users} users x ${s.tabs} tabs (seed ${s.seed})`,
    `  replica cut off   at ${seconds(s.cutAtMs)} (REPLICAOF a dead port: it keeps what it has, misses what follows)`,
    `  primary killed    at ${seconds(s.killedAtMs)} with SIGKILL; ${promoted}`,
    `  readiness         ${readiness.join('; ')}`,
    `  tabs disrupted    ${s.disruptions.drops} network drops, ${s.disruptions.reloads} page reloads`,
    `  publishes         ${s.publishes.acknowledged} acknowledged (${s.publishes.lostWithPrimary} of them only on the killed primary), ${s.publishes.refused} refused`,
    '  per tab (counted from the raw frames its sockets received)',
    ...lines,
    `  told              ${[...toldCounts].map(([what, n]) => `${n} tabs ${what === 'nothing' ? 'told nothing' : `told ${what}`}`).join('; ')}`,
    `  took              ${seconds(s.durationMs)}`
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string' },
      users: { type: 'string' },
      tabs: { type: 'string' },
      seconds: { type: 'string' },
      'kill-at': { type: 'string' },
      lag: { type: 'string' },
      'disrupt-every': { type: 'string' },
      seed: { type: 'string' }
    }
  });
  const summary = await runFailoverDemo({
    nodes: count('nodes', values.nodes, 1, 16),
    users: count('users', values.users, 1, 100),
    tabs: count('tabs', values.tabs, 1, 20),
    seconds: count('seconds', values.seconds, 2, 600),
    killAt: count('kill-at', values['kill-at'], 0.5, 600),
    lagSeconds: count('lag', values.lag, 0, 60),
    disruptEveryMs: count('disrupt-every', values['disrupt-every'], 0, 60_000),
    seed: count('seed', values.seed, 0, 2 ** 32 - 1)
  });
  console.log(formatFailoverSummary(summary));
  const broken = summary.perTab.some((t) => t.lost !== 0 || t.duplicated !== 0 || t.diverged !== 0 || !t.caughtUp);
  if (broken || summary.promotedAfterMs === undefined) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
