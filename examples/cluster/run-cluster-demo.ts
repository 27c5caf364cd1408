/**
 * The cluster demo (#12): N node processes (examples/cluster/node.ts) on
 * one Redis (a redis-server of its own unless given one) behind a
 * round-robin TCP proxy, users with several tabs
 * (session clients through the proxy, so a user's tabs land on different
 * nodes), agents publishing each event through whichever node is next.
 * Mid-run one node is killed with SIGKILL; its tabs reconnect through the
 * proxy to the others and resume. `runClusterDemo` returns, per tab,
 * events published to its user against events received, and how long the
 * killed node's tabs took to be back.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'redis';
import { RedisTopicStore } from '../../src/cluster/redis-store.js';
import { userTopic } from '../../src/sessions/session-hub.js';
import type { TopicPosition } from '../../src/sessions/topic-store.js';
import { DemoTab, caughtUp, summarizeTab, type TabCounters, type TabSummaryLine } from '../demo-tabs.js';
import { NodeProcess } from './node-process.js';
import { RedisProcess } from './redis-processes.js';
import { TcpProxy } from './tcp-proxy.js';
import { seeded } from '../seeded.js';

export interface ClusterDemoOptions {
  /** Node processes. Default 3. */
  nodes?: number;
  users?: number;
  tabs?: number;
  /** Length of the agents' run. Default 6. */
  seconds?: number;
  /** When the node is killed, in seconds from the start of the run. Default: halfway. */
  killAt?: number;
  /** Default: a redis-server the demo starts (and stops) on a free port. */
  redis?: string;
  /** Seed of the pseudo-random choices. Default: random. */
  seed?: number;
}

export interface ClusterTabSummary extends TabSummaryLine {
  /** The tab was on the killed node: how long after the kill it was open again (ms). */
  backAfterMs: number | undefined;
}

export interface ClusterDemoSummary {
  seed: number;
  nodes: number;
  users: number;
  tabs: number;
  proxyPort: number;
  prefix: string;
  killed: {
    nodeId: string;
    atMs: number;
    tabs: number;
    allBackAfterMs: number | undefined;
    /** How long after the kill presence stopped counting the killed node (ms). */
    presenceAfterMs: number | undefined;
  };
  publishes: { acknowledged: number; refused: number; lostWithNode: number };
  perTab: ClusterTabSummary[];
  sendAfterCloseErrors: number;
  durationMs: number;
}

const AGENT_EVENTS = ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'] as const;

/**
 * Run the cluster demo once: start the nodes and the proxy, run the
 * agents and the tabs, kill a node mid-run, let every tab catch up, tally,
 * stop everything and delete the run's keys.
 */
export async function runClusterDemo(options: ClusterDemoOptions = {}): Promise<ClusterDemoSummary> {
  const nodeCount = options.nodes ?? 3;
  const users = options.users ?? 4;
  const tabsPerUser = options.tabs ?? 3;
  const seconds = options.seconds ?? 6;
  const killAtMs = (options.killAt ?? seconds / 2) * 1000;
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  if (nodeCount < 2) throw new RangeError(`Invalid nodes: ${nodeCount} (one is killed: at least 2)`);
  const random = seeded(seed);
  const prefix = `wsl-demo-${randomUUID().slice(0, 8)}`;
  const started = performance.now();

  const own = options.redis === undefined ? await RedisProcess.start() : undefined;
  const redis = options.redis ?? own!.url;
  const nodes = Array.from({ length: nodeCount }, (_, i) => new NodeProcess(`node-${i + 1}`, ['--prefix', prefix, '--redis', redis]));
  const client = createClient({ url: redis });
  client.on('error', () => {});
  const counters: TabCounters = { sendAfterCloseErrors: 0 };
  let proxy: TcpProxy | undefined;
  let tabs: DemoTab[] = [];
  try {
    await Promise.all(nodes.map((node) => node.listening()));
    await client.connect();
    const store = new RedisTopicStore(client, { prefix });
    proxy = await TcpProxy.start(nodes.map((node) => node.port));
    const url = `ws://127.0.0.1:${proxy.port}/ws`;
    const userIds = Array.from({ length: users }, (_, i) => `user-${i + 1}`);
    tabs = userIds.flatMap((user) => Array.from({ length: tabsPerUser }, (_, t) => new DemoTab(url, user, `tab-${t + 1}`, counters)));
    for (let waited = 0; waited < 10_000 && !tabs.every((tab) => tab.state === 'open'); waited += 20) await sleep(20);

    const publishes = { acknowledged: 0, refused: 0, lostWithNode: 0 };
    let next = 0;
    const runStart = performance.now();
    const until = runStart + seconds * 1000;
    async function agent(user: string): Promise<void> {
      for (let run = 1; performance.now() < until; run++) {
        for (const type of AGENT_EVENTS) {
          const live = nodes.filter((node) => node.alive);
          const node = live[next++ % live.length]!;
          const result = await node.call<{ ok: boolean }>({ type: 'publish', user, message: { type, runId: `${user}/run-${run}` } });
          if (result === undefined) publishes.lostWithNode++;
          else if (result.ok) publishes.acknowledged++;
          else publishes.refused++;
          await sleep(20 + random() * 70);
        }
      }
    }
    const victim = nodes[1]!;
    let killedAt = 0;
    let presenceAfterMs: number | undefined;
    const kill = sleep(killAtMs).then(async () => {
      killedAt = performance.now();
      victim.kill('SIGKILL');
      // Presence drops the dead node once its heartbeat is older than the node timeout.
      const witness = nodes[0]!;
      for (let waited = 0; waited < 10_000; waited += 25) {
        const counts = await witness.call<{ nodes: number }>({ type: 'counts' });
        if (counts?.nodes === nodeCount - 1) {
          presenceAfterMs = Math.round(performance.now() - killedAt);
          return;
        }
        await sleep(25);
      }
    });
    await Promise.all([...userIds.map(agent), kill]);

    // Every tab catches up with where its user's topic ends (bounded), then the tally.
    const positions = new Map<string, TopicPosition>();
    for (const user of userIds) positions.set(user, await store.position(userTopic(user)));
    const isCaughtUp = (tab: DemoTab): boolean => caughtUp(tab, positions.get(tab.ledger.user)!);
    for (let waited = 0; waited < 10_000 && !tabs.every(isCaughtUp); waited += 20) await sleep(20);

    const perTab = tabs.map((tab): ClusterTabSummary => {
      // A tab of the killed node left `open` after the kill; it is back at its next `open`.
      const after = tab.ledger.states.filter((s) => s.at >= killedAt);
      const left = after.findIndex((s) => s.state !== 'open');
      const back = left < 0 ? undefined : after.slice(left).find((s) => s.state === 'open');
      return { ...summarizeTab(tab, positions.get(tab.ledger.user)!), backAfterMs: back === undefined ? undefined : Math.round(back.at - killedAt) };
    });
    const moved = perTab.filter((tab) => tab.backAfterMs !== undefined);
    return {
      seed,
      nodes: nodeCount,
      users,
      tabs: tabsPerUser,
      proxyPort: proxy.port,
      prefix,
      killed: {
        nodeId: victim.nodeId,
        atMs: Math.round(killedAt - runStart),
        tabs: moved.length,
        allBackAfterMs: moved.length === 0 ? undefined : Math.max(...moved.map((tab) => tab.backAfterMs!)),
        presenceAfterMs
      },
      publishes,
      perTab,
      sendAfterCloseErrors: counters.sendAfterCloseErrors,
      durationMs: Math.round(performance.now() - started)
    };
  } finally {
    for (const tab of tabs) tab.close();
    for (const node of nodes) node.kill('SIGTERM');
    await Promise.all(nodes.map((node) => node.exited));
    await proxy?.close();
    if (client.isReady) {
      await new RedisTopicStore(client, { prefix }).clear();
      await client.close();
    } else client.destroy();
    await own?.stop();
  }
}
