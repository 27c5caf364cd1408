/**
 * Redis for tests (#23). `sharedRedis()` is the redis-server the suite's
 * global setup started (test/support/redis-global-setup.ts); tests use it
 * under a key prefix of their own. A test that kills, restarts, pauses or
 * fails over Redis starts its own processes with `ownRedis` and friends,
 * on ports the kernel found free, and `stopOwnRedis()` (in afterEach)
 * stops them.
 */
import {
  RedisProcess,
  startRedisCluster,
  startReplica,
  startSentinels,
  type RedisClusterProcesses,
  type SentinelOptions
} from '../../examples/cluster/redis-processes.js';

/** The Redis the suite shares: its URL and port. */
export function sharedRedis(): { url: string; port: number } {
  const url = process.env.WSL_TEST_REDIS_URL;
  if (url === undefined) throw new Error('WSL_TEST_REDIS_URL is not set: run the tests through vitest (its global setup starts Redis)');
  return { url, port: Number(new URL(url).port) };
}

const started: Array<{ stop(): Promise<void> }> = [];

/** A redis-server of this test's own, in memory only. */
export async function ownRedis(args: readonly string[] = []): Promise<RedisProcess> {
  const redis = await RedisProcess.start({ args });
  started.push(redis);
  return redis;
}

/** A replica of `primary`, in sync when this resolves. */
export async function ownReplica(primary: RedisProcess): Promise<RedisProcess> {
  const replica = await startReplica(primary);
  started.push(replica);
  return replica;
}

/** Sentinels watching `primary` (and knowing its `replicas`). */
export async function ownSentinels(primary: RedisProcess, replicas: readonly RedisProcess[], options?: SentinelOptions): Promise<RedisProcess[]> {
  const sentinels = await startSentinels(primary, replicas, options);
  started.push(...sentinels);
  return sentinels;
}

/** A Redis Cluster of `shards` primaries. */
export async function ownRedisCluster(shards = 3): Promise<RedisClusterProcesses> {
  const cluster = await startRedisCluster(shards);
  started.push(cluster);
  return cluster;
}

/** Stop every process the test started, newest first. */
export async function stopOwnRedis(): Promise<void> {
  for (const redis of started.splice(0).reverse()) await redis.stop();
}
