/**
 * `npm run demo:cluster`: three nodes on one Redis (a redis-server the
 * demo starts, or `--redis URL`) behind a round-robin proxy, agents streaming to users' tabs on different
 * nodes, one node killed with SIGKILL mid-run. Prints, per tab, events
 * published against received (lost 0, duplicated 0), and how long the
 * killed node's tabs took to resume elsewhere.
 *
 *   --nodes N --users N --tabs N --seconds N --seed N --redis URL
 */
import { parseArgs } from 'node:util';
import { numberOption as count } from './cluster/cli-numbers.js';
import { runClusterDemo, type ClusterDemoSummary } from './cluster/run-cluster-demo.js';

/**
 * @param {ClusterDemoSummary} s What a run did
 * @returns {string} Printable text
 */
export function formatClusterSummary(s: ClusterDemoSummary): string {
  const width = Math.max(...s.perTab.map((t) => t.tab.length));
  const lines = s.perTab.map((t) => {
    const told = t.told.length === 0 ? '' : `, told recovered:false ${t.told.map((x) => x.reason).join(', ')}`;
    const moved = t.backAfterMs === undefined ? '' : `, on the killed node: back after ${t.backAfterMs} ms`;
    const breaches = t.breaches.length === 0 ? '' : `\n      protocol breaches:\n        ${t.breaches.join('\n        ')}`;
    return `    ${t.tab.padEnd(width)}  published ${t.published}, received ${t.received}, lost ${t.lost}, duplicated ${t.duplicated}${told}${moved}${t.caughtUp ? '' : ', NOT caught up'}${breaches}`;
  });
  const back = s.killed.allBackAfterMs === undefined ? 'no tab was on it' : `its ${s.killed.tabs} tabs resumed on other nodes, the last ${s.killed.allBackAfterMs} ms after the kill`;
  return [
    `ws-lifecycle cluster demo: ${s.nodes} nodes behind a round-robin proxy on 127.0.0.1:${s.proxyPort}, one Redis (prefix ${s.prefix}), ${s.users} users x ${s.tabs} tabs (seed ${s.seed})`,
    `  killed            ${s.killed.nodeId} with SIGKILL at ${(s.killed.atMs / 1000).toFixed(1)} s; ${back}`,
    `  presence          the killed node left the cluster counts ${s.killed.presenceAfterMs === undefined ? 'never' : `${s.killed.presenceAfterMs} ms after the kill`} (node timeout 750 ms)`,
    `  publishes         ${s.publishes.acknowledged} acknowledged, ${s.publishes.refused} refused, ${s.publishes.lostWithNode} in flight on the killed node (never acknowledged)`,
    '  per tab, from the raw frames of its connections before any client dedupe (every event its user published since the tab opened)',
    ...lines,
    `  send-after-close  ${s.sendAfterCloseErrors} errors`,
    `  took              ${(s.durationMs / 1000).toFixed(1)} s`
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string' },
      users: { type: 'string' },
      tabs: { type: 'string' },
      seconds: { type: 'string' },
      seed: { type: 'string' },
      redis: { type: 'string' }
    }
  });
  const summary = await runClusterDemo({
    nodes: count('nodes', values.nodes, 2, 16),
    users: count('users', values.users, 1, 100),
    tabs: count('tabs', values.tabs, 1, 20),
    seconds: count('seconds', values.seconds, 1, 600),
    seed: count('seed', values.seed, 0, 2 ** 32 - 1),
    redis: values.redis
  });
  console.log(formatClusterSummary(summary));
  const broken = summary.perTab.some((t) => t.lost !== 0 || t.duplicated !== 0 || !t.caughtUp || t.breaches.length > 0);
  if (broken || summary.sendAfterCloseErrors > 0) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
