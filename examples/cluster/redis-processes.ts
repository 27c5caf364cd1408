/**
 * Redis processes on 127.0.0.1 for the failover demo, the cluster
 * benchmark and the tests (#23): a server (in memory only, in a temporary
 * directory of its own), a replica of one, Sentinels watching a primary,
 * and a Redis Cluster of several primaries. Each listens on a port the
 * kernel found free (so runs side by side never collide), and everything
 * started here is killed by `stop()`, or when this process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** What to install when `redis-server` is missing. */
export const REDIS_MISSING = 'redis-server (Redis 7 or later) is not installed: install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis), then run the tests again';

const STARTS = 5;
const ANSWER_MS = 10_000;
const live = new Set<ChildProcess>();
// A test or demo that throws still leaves no redis-server behind.
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * A port no Redis answers on, held for as long as needed: a replica pointed
 * at it (`REPLICAOF 127.0.0.1 <port>`) keeps its data and never syncs. A
 * port merely found free could be taken meanwhile by another redis-server,
 * and a replica that synced from that one would drop its data.
 */
export async function deadEnd(): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer((socket) => socket.destroy()).listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve()))
  };
}

/** Whether `redis-server` can be run here (and which version it says it is). */
export async function redisServerVersion(): Promise<string | undefined> {
  const child = spawn('redis-server', ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  // Not installed: spawn reports ENOENT as an 'error' event, and no 'exit'.
  const code = await new Promise<number | null>((resolve) => {
    child.once('error', () => resolve(-1));
    child.once('exit', resolve);
  });
  return code === 0 ? /v=(\S+)/.exec(out)?.[1] ?? out.trim() : undefined;
}

/**
 * One command to the Redis (or Sentinel) on `port`, on a connection of its
 * own; the reply as RESP2 gives it (errors reject with Redis's message).
 */
export function redisCommand(port: number, ...args: Array<string | number>): Promise<unknown> {
  return redisCommands(port, [args]);
}

/** Commands in turn on one connection of their own (what WAIT needs: it counts this connection's writes); the last reply. */
export async function redisCommands(port: number, commands: ReadonlyArray<ReadonlyArray<string | number>>): Promise<unknown> {
  const socket = createConnection({ host: '127.0.0.1', port });
  try {
    await Promise.race([once(socket, 'connect'), sleep(2_000).then(() => Promise.reject(new Error(`127.0.0.1:${port} did not accept a connection`)))]);
    let reply: unknown;
    let buffered = Buffer.alloc(0);
    for (const args of commands) {
      socket.write(`*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(String(arg))}\r\n${arg}\r\n`).join('')}`);
      for (;;) {
        const parsed = parseReply(buffered, 0);
        if (parsed !== undefined) {
          buffered = buffered.subarray(parsed.end);
          if (parsed.value instanceof Error) throw parsed.value;
          reply = parsed.value;
          break;
        }
        const [chunk] = (await Promise.race([once(socket, 'data'), once(socket, 'close').then(() => [undefined])])) as [Buffer | undefined];
        if (chunk === undefined) throw new Error(`127.0.0.1:${port} closed before answering ${String(args[0])}`);
        buffered = Buffer.concat([buffered, chunk]);
      }
    }
    return reply;
  } finally {
    socket.destroy();
  }
}

/** A RESP2 reply from `at`, or undefined while incomplete. Errors come back as values (so an array can hold one). */
function parseReply(data: Buffer, at: number): { value: unknown; end: number } | undefined {
  const lineEnd = data.indexOf('\r\n', at);
  if (lineEnd < 0) return undefined;
  const line = data.toString('utf8', at + 1, lineEnd);
  switch (data[at]) {
    case 0x2b: // +
      return { value: line, end: lineEnd + 2 };
    case 0x2d: // -
      return { value: new Error(line), end: lineEnd + 2 };
    case 0x3a: // :
      return { value: Number(line), end: lineEnd + 2 };
    case 0x24: { // $
      const length = Number(line);
      if (length < 0) return { value: null, end: lineEnd + 2 };
      if (data.length < lineEnd + 2 + length + 2) return undefined;
      return { value: data.toString('utf8', lineEnd + 2, lineEnd + 2 + length), end: lineEnd + 2 + length + 2 };
    }
    case 0x2a: { // *
      const count = Number(line);
      if (count < 0) return { value: null, end: lineEnd + 2 };
      const items: unknown[] = [];
      let end = lineEnd + 2;
      for (let i = 0; i < count; i++) {
        const item = parseReply(data, end);
        if (item === undefined) return undefined;
        items.push(item.value);
        end = item.end;
      }
      return { value: items, end };
    }
    default:
      throw new Error(`Unexpected RESP reply: ${JSON.stringify(data.toString('utf8', at, Math.min(data.length, at + 40)))}`);
  }
}

/** `INFO <section>` of the server on `port` as fields. */
export async function redisInfo(port: number, section: string): Promise<Map<string, string>> {
  const text = String(await redisCommand(port, 'INFO', section));
  return new Map(text.split('\r\n').filter((line) => line.includes(':')).map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1)]));
}

/** Wait, bounded, until `check` holds; the error names what was awaited. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await Promise.resolve().then(check).catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

export interface RedisProcessOptions {
  /** Extra `redis-server` arguments (`--name value` pairs). */
  args?: readonly string[];
  /** Run as Sentinel (`--sentinel`, from a config file written here). */
  sentinelConfig?: string;
  /** This port rather than one found free (no second try if it is taken). */
  port?: number;
}

/** One redis-server (or Sentinel) process of ours. */
export class RedisProcess {
  readonly port: number;
  readonly dir: string;
  readonly #args: readonly string[];
  readonly #sentinelConfig: string | undefined;
  #child: ChildProcess | undefined;
  #output = '';

  private constructor(port: number, dir: string, options: RedisProcessOptions) {
    this.port = port;
    this.dir = dir;
    this.#args = options.args ?? [];
    this.#sentinelConfig = options.sentinelConfig;
  }

  /** Start a process on a free port; resolves once it answers PING. */
  static async start(options: RedisProcessOptions = {}): Promise<RedisProcess> {
    const dir = mkdtempSync(join(tmpdir(), 'wsl-redis-'));
    let lastError: unknown;
    // The port may be taken between finding it free and redis-server binding it: another one then.
    for (let attempt = 0; attempt < (options.port === undefined ? STARTS : 1); attempt++) {
      const redis = new RedisProcess(options.port ?? (await freePort()), dir, options);
      try {
        await redis.start();
        return redis;
      } catch (error) {
        lastError = error;
        await redis.kill();
      }
    }
    rmSync(dir, { recursive: true, force: true });
    throw lastError;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** (Re)start on the same port, empty; resolves once it answers PING. */
  async start(): Promise<void> {
    if (this.running) return;
    // A replica syncs at once (the default waits 5 s for more replicas to share the transfer).
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--appendonly', 'no', '--repl-diskless-sync-delay', '0', ...this.#args];
    if (this.#sentinelConfig !== undefined) {
      const file = join(this.dir, `sentinel-${this.port}.conf`);
      writeFileSync(file, this.#sentinelConfig);
      args.unshift(file, '--sentinel');
      // Sentinel takes no persistence or replication options.
      args.splice(args.indexOf('--save'), 6);
    }
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    this.#output = '';
    live.add(child);
    const keep = (chunk: Buffer): void => {
      this.#output = (this.#output + chunk.toString()).slice(-2_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.once('exit', () => live.delete(child));
    const failed = new Promise<never>((_, reject) => {
      child.once('error', (error) => reject(error));
      child.once('exit', (code, signal) => reject(new Error(`redis-server on ${this.port} exited (${code ?? signal}) before answering: ${this.#output.trim().split('\n').at(-1) ?? ''}`)));
    });
    failed.catch(() => {});
    await Promise.race([failed, until(async () => (await redisCommand(this.port, 'PING')) === 'PONG', ANSWER_MS, `redis-server on ${this.port} to answer PING`)]);
  }

  /** One command to this process. */
  command(...args: Array<string | number>): Promise<unknown> {
    return redisCommand(this.port, ...args);
  }

  /**
   * How many replicas have everything written here so far (`WAIT` after a
   * write of its own: WAIT counts the writes of its connection only).
   */
  replicated(replicas: number, timeoutMs: number): Promise<number> {
    return redisCommands(this.port, [['INCR', 'wsl-processes:wait'], ['WAIT', replicas, timeoutMs]]) as Promise<number>;
  }

  info(section: string): Promise<Map<string, string>> {
    return redisInfo(this.port, section);
  }

  /** Send `signal` (SIGKILL by default) and wait until the process is gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.#child;
    if (child === undefined || !this.running) return;
    const exited = once(child, 'exit');
    if (signal !== 'SIGKILL' && signal !== 'SIGTERM') {
      child.kill(signal);
      return;
    }
    child.kill(signal);
    await exited;
  }

  /** Kill the process and remove its directory. */
  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A primary and its replicas. */
export async function startReplica(primary: RedisProcess, args: readonly string[] = []): Promise<RedisProcess> {
  const replica = await RedisProcess.start({ args: ['--replicaof', '127.0.0.1', String(primary.port), ...args] });
  await until(async () => (await replica.info('replication')).get('master_link_status') === 'up', ANSWER_MS, `replica ${replica.port} in sync with ${primary.port}`);
  return replica;
}

export interface SentinelOptions {
  /** Sentinels. Default 3. */
  count?: number;
  masterName?: string;
  /** Default: a majority of `count`. */
  quorum?: number;
  /** How long the primary must be silent to be down. Default 500. */
  downAfterMs?: number;
  /** Sentinel's failover-timeout; it also delays reconfiguring a replica that follows another primary. Default 30,000. */
  failoverTimeoutMs?: number;
}

/**
 * Sentinels watching `primary` under `masterName`, each told of the others
 * and of `replicas` from the start (found by themselves, they would take a
 * few hello periods of 2 s); resolves once each reports them.
 */
export async function startSentinels(
  primary: RedisProcess,
  replicas: readonly RedisProcess[],
  options: SentinelOptions = {}
): Promise<RedisProcess[]> {
  const count = options.count ?? 3;
  const name = options.masterName ?? 'primary';
  const quorum = options.quorum ?? Math.floor(count / 2) + 1;
  const ports = await Promise.all(Array.from({ length: count }, () => freePort()));
  const ids = ports.map(() => randomBytes(20).toString('hex'));
  const config = (i: number): string => [
    `sentinel myid ${ids[i]}`,
    `sentinel monitor ${name} 127.0.0.1 ${primary.port} ${quorum}`,
    `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 500}`,
    `sentinel failover-timeout ${name} ${options.failoverTimeoutMs ?? 30_000}`,
    `sentinel parallel-syncs ${name} 1`,
    ...replicas.map((replica) => `sentinel known-replica ${name} 127.0.0.1 ${replica.port}`),
    ...ports.flatMap((port, j) => (j === i ? [] : [`sentinel known-sentinel ${name} 127.0.0.1 ${port} ${ids[j]}`])),
    ''
  ].join('\n');
  const sentinels = await Promise.all(ports.map((port, i) => RedisProcess.start({ sentinelConfig: config(i), port })));
  const knows = async (sentinel: RedisProcess): Promise<boolean> => {
    const master = (await sentinel.command('SENTINEL', 'MASTER', name)) as string[];
    const field = (key: string): number => Number(master[master.indexOf(key) + 1]);
    return field('num-other-sentinels') === count - 1 && field('num-slaves') >= replicas.length;
  };
  await until(async () => (await Promise.all(sentinels.map(knows))).every(Boolean), 20_000, `${count} Sentinels to know each other and ${replicas.length} replicas`);
  return sentinels;
}

/** The address Sentinel on `port` gives for `name`. */
export async function sentinelPrimary(sentinel: RedisProcess, name: string): Promise<number | undefined> {
  const reply = (await sentinel.command('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as [string, string] | null;
  return reply === null ? undefined : Number(reply[1]);
}

/** The hash slot of a key (Redis Cluster's CRC16 of its hash tag, mod 16384). */
export { hashSlot } from '../../src/cluster/redis-slots.js';

export interface RedisClusterProcesses {
  primaries: RedisProcess[];
  /** Port of a node to start from (`rootNodes`). */
  seeds: Array<{ host: string; port: number }>;
  /** The primary that owns `slot` now. */
  owner(slot: number): Promise<RedisProcess>;
  stop(): Promise<void>;
}

/**
 * A Redis Cluster of `shards` primaries (no replicas), the slots split
 * evenly; resolves once every node says `cluster_state:ok`. The node
 * timeout is Redis's default, 15 s: on a busy machine a node starved for a
 * moment must not be voted failed (nothing here waits for a vote).
 */
export async function startRedisCluster(shards = 3): Promise<RedisClusterProcesses> {
  const busPorts: number[] = [];
  const primaries = await Promise.all(
    Array.from({ length: shards }, async (_, i) => {
      busPorts[i] = await freePort();
      return RedisProcess.start({ args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-port', String(busPorts[i]), '--cluster-node-timeout', '15000'] });
    })
  );
  try {
    const per = Math.ceil(16384 / shards);
    await Promise.all(primaries.map((node, i) => node.command('CLUSTER', 'ADDSLOTSRANGE', i * per, Math.min(16383, (i + 1) * per - 1))));
    // The bus port is not port + 10000 here: MEET names it.
    for (const node of primaries.slice(1)) await node.command('CLUSTER', 'MEET', '127.0.0.1', primaries[0]!.port, busPorts[0]!);
    await until(
      async () => (await Promise.all(primaries.map(async (node) => String(await node.command('CLUSTER', 'INFO')).includes('cluster_state:ok') && (await clusterNodes(node)).length === shards))).every(Boolean),
      20_000,
      `a cluster of ${shards} to agree`
    );
  } catch (error) {
    await Promise.all(primaries.map((node) => node.stop()));
    throw error;
  }
  return {
    primaries,
    seeds: primaries.map((node) => ({ host: '127.0.0.1', port: node.port })),
    async owner(slot) {
      const slots = (await primaries[0]!.command('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number, string]]>;
      const range = slots.find(([from, to]) => slot >= from && slot <= to);
      const node = primaries.find((p) => p.port === range?.[2][1]);
      if (node === undefined) throw new Error(`No primary owns slot ${slot}`);
      return node;
    },
    async stop() {
      await Promise.all(primaries.map((node) => node.stop()));
    }
  };
}

/** CLUSTER NODES of `node`: one line per node, `id` and the `host:port`. */
export async function clusterNodes(node: RedisProcess): Promise<Array<{ id: string; port: number; flags: string }>> {
  const text = String(await node.command('CLUSTER', 'NODES'));
  return text.trim().split('\n').map((line) => {
    const [id, address, flags] = line.split(' ');
    return { id: id!, port: Number(address!.split('@')[0]!.split(':')[1]), flags: flags! };
  });
}

/**
 * Move `slot` from its owner to `target` the way `redis-cli --cluster
 * reshard` does: IMPORTING / MIGRATING, MIGRATE of its keys in batches of
 * `batch` (`betweenBatches` runs after each), `beforeSettling`, then the
 * new owner told to every node.
 */
export async function moveSlot(
  cluster: RedisClusterProcesses,
  slot: number,
  target: RedisProcess,
  options: { batch?: number; betweenBatches?: () => Promise<void>; beforeSettling?: () => Promise<void> } = {}
): Promise<void> {
  const source = await cluster.owner(slot);
  if (source === target) return;
  const id = async (node: RedisProcess): Promise<string> => String(await node.command('CLUSTER', 'MYID'));
  const [sourceId, targetId] = await Promise.all([id(source), id(target)]);
  await target.command('CLUSTER', 'SETSLOT', slot, 'IMPORTING', sourceId);
  await source.command('CLUSTER', 'SETSLOT', slot, 'MIGRATING', targetId);
  for (;;) {
    const keys = (await source.command('CLUSTER', 'GETKEYSINSLOT', slot, options.batch ?? 100)) as string[];
    if (keys.length === 0) break;
    await source.command('MIGRATE', '127.0.0.1', target.port, '', 0, 5_000, 'KEYS', ...keys);
    await options.betweenBatches?.();
  }
  // Every key is on the target, which still only imports the slot: commands reach it by ASK, subscriptions stay on the source.
  await options.beforeSettling?.();
  await target.command('CLUSTER', 'SETSLOT', slot, 'NODE', targetId);
  await source.command('CLUSTER', 'SETSLOT', slot, 'NODE', targetId);
  for (const node of cluster.primaries) if (node !== source && node !== target) await node.command('CLUSTER', 'SETSLOT', slot, 'NODE', targetId);
}
