/**
 * Vitest global setup (#23): the suite starts the Redis its tests share,
 * a redis-server of its own on a port the kernel found free, in memory
 * only, and stops it when the run ends; tests find it through
 * `WSL_TEST_REDIS_URL` (test/support/redis-servers.ts). Tests that kill,
 * restart or fail over Redis start their own processes besides. Without
 * `redis-server` the run stops here, once, saying what to install.
 */
import { REDIS_MISSING, RedisProcess, redisServerVersion } from '../../examples/cluster/redis-processes.js';

export default async function setup(): Promise<() => Promise<void>> {
  if ((await redisServerVersion()) === undefined) {
    // One line and out, before any file runs: a thrown error would come with a stack and "No test files found".
    console.error(REDIS_MISSING);
    process.exit(1);
  }
  const redis = await RedisProcess.start();
  process.env.WSL_TEST_REDIS_URL = redis.url;
  return () => redis.stop();
}
