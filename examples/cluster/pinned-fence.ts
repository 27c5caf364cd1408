/**
 * The store without its failover fence, for the failover tests and the
 * benchmark (#23): a commander in front of a Redis client that rewrites
 * every script reading the server's replication id to read a constant
 * instead. A `RedisTopicStore` over it keeps offsets across a promotion
 * in the old epoch, as the store did before #23: the naive variant the
 * failover test must catch, and the baseline the fence's cost is measured
 * against. Scripts still run by SHA (the rewritten one's), so the
 * comparison is the fence and nothing else.
 */
import { createHash } from 'node:crypto';
import type { RedisCommander } from '../../src/cluster/redis-store.js';

const INFO = "redis.call('INFO', 'replication')";
const PINNED = "'master_replid:pinned'";

/** A commander whose scripts see one replication id whatever the server says; `pinned` counts the scripts it rewrote. */
export function pinnedReplicationId(client: RedisCommander): RedisCommander & { readonly pinned: number } {
  /** The store's script SHA -> the rewritten script's SHA (once the store sent its source). */
  const shas = new Map<string, string>();
  let pinned = 0;
  return {
    get pinned() {
      return pinned;
    },
    sendCommand<T>(args: ReadonlyArray<string | Buffer>, options?: object): Promise<T> {
      if (args[0] === 'EVALSHA') {
        const sha = shas.get(String(args[1]));
        // Unknown: the store then sends the source, which is rewritten below.
        if (sha === undefined) return Promise.reject(new Error('NOSCRIPT the pinned store has not seen this script yet'));
        return client.sendCommand<T>(['EVALSHA', sha, ...args.slice(2)], options);
      }
      if (args[0] === 'EVAL' && String(args[1]).includes(INFO)) {
        const source = String(args[1]);
        const rewritten = source.replace(INFO, PINNED);
        shas.set(createHash('sha1').update(source).digest('hex'), createHash('sha1').update(rewritten).digest('hex'));
        pinned++;
        return client.sendCommand<T>(['EVAL', rewritten, ...args.slice(2)], options);
      }
      return client.sendCommand<T>(args, options);
    }
  };
}
