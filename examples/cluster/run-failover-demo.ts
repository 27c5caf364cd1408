/**
 * The failover demo (#23): three node processes (examples/cluster/node.ts)
 * behind a round-robin TCP proxy, finding their Redis through three
 * Sentinels; a Redis primary and its replica started here. Agents publish
 * to users' tabs through whichever node is next. Mid-run the replica is
 * cut off from the primary (`REPLICAOF` a dead port: it keeps its data and
 * misses what follows, as in a partition), then the primary is killed and
 * Sentinel promotes the replica, which lacks the newest appends. All the
 * while, tabs are disrupted: their network drops (they reconnect through
 * the proxy, to whichever node is next, and resume) or the page reloads
 * (a new client resumes from the token and cursors it kept). Every tab's
 * frames are recorded at its sockets; `runFailoverDemo` returns, per
 * tab, what it was owed against what it received (examples/cluster/tab-frames.ts),
 * what it was told, and each node's readiness through the failover.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { WebSocket } from 'ws';
import { SessionClient, type ClientSocketConstructor } from '../../src/client/session-client.js';
import type { Readiness } from '../../src/cluster/redis.js';
import { userTopic } from '../../src/sessions/session-hub.js';
import type { TopicPosition } from '../../src/sessions/topic-store.js';
import type { ConnectionRecord } from '../../src/tools/conformance/records.js';
import { recordingWebSocket } from '../../src/tools/conformance/recording-socket.js';
import { seeded } from '../seeded.js';
import { NodeProcess } from './node-process.js';
import { RedisProcess, deadEnd, sentinelPrimary, startReplica, startSentinels } from './redis-processes.js';
import { tallyFrames, type Acknowledged, type FrameTally } from './tab-frames.js';
import { TcpProxy } from './tcp-proxy.js';

export interface FailoverDemoOptions {
  /** Node processes. Default 3. */
  nodes?: number;
  users?: number;
  tabs?: number;
  /** Length of the agents' run. Default 6. */
  seconds?: number;
  /** When the primary is killed, in seconds from the start of the run. Default: halfway. */
  killAt?: number;
  /** How long before the kill the replica is cut off. Default 0.5. */
  lagSeconds?: number;
  /** How often a tab, drawn at random, drops its connection or reloads (ms). Default 300; 0: never. */
  disruptEveryMs?: number;
  /** Seed of the pseudo-random choices. Default: random. */
  seed?: number;
}

export interface FailoverTabSummary extends FrameTally {
  tab: string;
}

export interface FailoverDemoSummary {
  seed: number;
  nodes: number;
  users: number;
  tabs: number;
  proxyPort: number;
  prefix: string;
  redis: { primary: number; replica: number; sentinels: number[] };
  /** From the start of the run (ms). */
  cutAtMs: number;
  killedAtMs: number;
  /** How long after the kill Sentinel named the replica the primary (ms), if it did. */
  promotedAfterMs: number | undefined;
  /** Per node, each state it was seen in, from when (ms into the run). */
  readiness: Array<{ nodeId: string; states: Array<{ state: string; atMs: number }> }>;
  /** Tabs' network drops and page reloads during the run. */
  disruptions: { drops: number; reloads: number };
  publishes: {
    acknowledged: number;
    refused: number;
    /** Acknowledged by the old primary after the replica was cut off: not in the new primary's history. */
    lostWithPrimary: number;
  };
  perTab: FailoverTabSummary[];
  durationMs: number;
}

const AGENT_EVENTS = ['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'] as const;
const MASTER = 'primary';

interface Tab {
  name: string;
  user: string;
  /** Every connection of every client the tab has had, in order. */
  records: ConnectionRecord[];
  sockets: WebSocket[];
  /** A reloaded page's last connection: how many of its frames the page had read when it went (the rest reached a page that was gone). */
  unloaded: Map<ConnectionRecord, number>;
  client: SessionClient;
}

/** A tab's client (a new one after a reload, resuming where the old one stood), its sockets recorded. */
function openTab(url: string, tab: Omit<Tab, 'client'>, resume?: SessionClient): SessionClient {
  const client = new SessionClient({
    url: `${url}?user=${encodeURIComponent(tab.user)}`,
    WebSocket: recordingWebSocket({ name: tab.name, user: tab.user, records: tab.records, sockets: tab.sockets }) as ClientSocketConstructor,
    minDelayMs: 20,
    maxDelayMs: 200,
    resume: resume?.session === undefined ? undefined : { session: resume.session, cursors: resume.cursors }
  });
  return client.start();
}

/** What the tab's pages read, in order: every frame of every connection, but none that reached a page already unloading. */
function framesRead(tab: Tab): Array<string | Uint8Array> {
  return tab.records.flatMap((record) => record.received.slice(0, tab.unloaded.get(record) ?? record.received.length));
}

/**
 * Run the failover demo once: start Redis, the Sentinels, the nodes and
 * the proxy, run the agents and the tabs, fail the primary over mid-run,
 * let every tab catch up, tally, stop everything.
 */
export async function runFailoverDemo(options: FailoverDemoOptions = {}): Promise<FailoverDemoSummary> {
  const nodeCount = options.nodes ?? 3;
  const users = options.users ?? 4;
  const tabsPerUser = options.tabs ?? 3;
  const seconds = options.seconds ?? 6;
  const killAtMs = (options.killAt ?? seconds / 2) * 1000;
  const cutAtMs = Math.max(0, killAtMs - (options.lagSeconds ?? 0.5) * 1000);
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const random = seeded(seed);
  const prefix = `wsl-demo-${randomUUID().slice(0, 8)}`;
  const started = performance.now();

  const processes: RedisProcess[] = [];
  const closers: Array<() => Promise<void>> = [];
  let nodes: NodeProcess[] = [];
  let proxy: TcpProxy | undefined;
  const tabs: Tab[] = [];
  try {
    const primary = await RedisProcess.start();
    processes.push(primary);
    const replica = await startReplica(primary);
    processes.push(replica);
    const sentinels = await startSentinels(primary, [replica], { masterName: MASTER, downAfterMs: 500 });
    processes.push(...sentinels);
    const where = ['--sentinels', sentinels.map((s) => `127.0.0.1:${s.port}`).join(','), '--master-name', MASTER];
    // Each failed reconnect to the killed primary is a warning; the readiness below says what they add up to.
    const logLevel = process.env.LOG_LEVEL ?? 'error';
    nodes = Array.from({ length: nodeCount }, (_, i) => new NodeProcess(`node-${i + 1}`, ['--prefix', prefix, ...where], logLevel));
    await Promise.all(nodes.map((node) => node.listening()));
    proxy = await TcpProxy.start(nodes.map((node) => node.port));
    const url = `ws://127.0.0.1:${proxy.port}/ws`;
    const userIds = Array.from({ length: users }, (_, i) => `user-${i + 1}`);
    for (const user of userIds) {
      for (let t = 1; t <= tabsPerUser; t++) {
        const tab = { name: `${user}/tab-${t}`, user, records: [], sockets: [], unloaded: new Map<ConnectionRecord, number>() };
        tabs.push({ ...tab, client: openTab(url, tab) });
      }
    }
    for (let waited = 0; waited < 10_000 && !tabs.every((tab) => tab.client.state === 'open'); waited += 20) await sleep(20);

    const runStart = performance.now();
    const at = (): number => Math.round(performance.now() - runStart);
    const acknowledged: Array<Acknowledged & { atMs: number }> = [];
    let refused = 0;
    let next = 0;
    let id = 0;
    const until = runStart + seconds * 1000;
    async function agent(user: string): Promise<void> {
      for (let run = 1; performance.now() < until; run++) {
        for (const type of AGENT_EVENTS) {
          const node = nodes[next++ % nodes.length]!;
          const message = { type, runId: `${user}/run-${run}`, id: `${user}/${++id}` };
          const result = await node.call<{ ok: boolean; epoch: string; offset: number }>({ type: 'publish', user, message });
          if (result?.ok !== true) refused++;
          else acknowledged.push({ topic: userTopic(user), epoch: result.epoch, offset: result.offset, id: message.id, atMs: at() });
          await sleep(20 + random() * 70);
        }
      }
    }

    // Each node's readiness, as a load balancer polling /ready would see it.
    const readiness = nodes.map((node) => ({ nodeId: node.nodeId, states: [] as Array<{ state: string; atMs: number }> }));
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const answers = await Promise.all(nodes.map((node) => node.call<Readiness>({ type: 'readiness' })));
        answers.forEach((answer, i) => {
          const states = readiness[i]!.states;
          if (answer !== undefined && states.at(-1)?.state !== answer.state) states.push({ state: answer.state, atMs: at() });
        });
        await sleep(25);
      }
    })();

    let promotedAfterMs: number | undefined;
    const failover = (async () => {
      await sleep(cutAtMs);
      const dead = await deadEnd();
      closers.push(() => dead.close());
      await replica.command('REPLICAOF', '127.0.0.1', dead.port);
      await sleep(Math.max(0, killAtMs - at()));
      await primary.kill();
      const killedAt = at();
      for (let waited = 0; waited < 30_000; waited += 50) {
        if ((await sentinelPrimary(sentinels[0]!, MASTER).catch(() => undefined)) === replica.port) {
          promotedAfterMs = at() - killedAt;
          return;
        }
        await sleep(50);
      }
    })();
    const disruptions = { drops: 0, reloads: 0 };
    const disruptEveryMs = options.disruptEveryMs ?? 300;
    const disrupter = (async () => {
      while (disruptEveryMs > 0 && performance.now() < until) {
        await sleep(disruptEveryMs * (0.5 + random()));
        const tab = tabs[Math.floor(random() * tabs.length)]!;
        if (random() < 0.7) {
          // The network drops: the socket is gone without a close frame; the client reconnects and resumes.
          tab.sockets.at(-1)?.terminate();
          disruptions.drops++;
        } else {
          // The page reloads: a new client resumes from the token and cursors the old page kept; what reaches the old socket now, no page reads.
          const last = tab.records.at(-1);
          if (last !== undefined) tab.unloaded.set(last, last.received.length);
          const old = tab.client;
          old.close();
          tab.client = openTab(url, tab, old);
          disruptions.reloads++;
        }
      }
    })();
    await Promise.all([...userIds.map(agent), failover, disrupter]);
    for (let waited = 0; waited < 20_000 && !readiness.every((r) => r.states.at(-1)?.state === 'ready'); waited += 50) await sleep(50);
    watching = false;
    await watcher;

    // Every tab catches up with where its user's topic ends (bounded), then the tally from the raw frames.
    const ends = new Map<string, TopicPosition>();
    for (const user of userIds) {
      const end = await nodes[0]!.call<TopicPosition>({ type: 'position', topic: userTopic(user) });
      if (end !== undefined) ends.set(user, end);
    }
    const tally = (tab: Tab): FrameTally =>
      tallyFrames(framesRead(tab), userTopic(tab.user), acknowledged, ends.get(tab.user) ?? { epoch: '', offset: -1 }, idOf);
    for (let waited = 0; waited < 15_000 && !tabs.every((tab) => tally(tab).caughtUp); waited += 50) await sleep(50);

    const finalEpochs = new Set([...ends].map(([user, end]) => `${userTopic(user)}\n${end.epoch}`));
    return {
      seed,
      nodes: nodeCount,
      users,
      tabs: tabsPerUser,
      proxyPort: proxy.port,
      prefix,
      redis: { primary: primary.port, replica: replica.port, sentinels: sentinels.map((s) => s.port) },
      cutAtMs,
      killedAtMs: killAtMs,
      promotedAfterMs,
      readiness,
      disruptions,
      publishes: {
        acknowledged: acknowledged.length,
        refused,
        lostWithPrimary: acknowledged.filter((ack) => ack.atMs >= cutAtMs && !finalEpochs.has(`${ack.topic}\n${ack.epoch}`)).length
      },
      perTab: tabs.map((tab) => ({ tab: tab.name, ...tally(tab) })),
      durationMs: Math.round(performance.now() - started)
    };
  } finally {
    for (const tab of tabs) tab.client.close();
    for (const node of nodes) node.kill('SIGTERM');
    await Promise.all(nodes.map((node) => node.exited));
    await proxy?.close();
    for (const redis of processes.reverse()) await redis.stop();
    for (const close of closers) await close();
  }
}

function idOf(data: unknown): string | undefined {
  return (data as { id?: string } | null)?.id;
}
