/**
 * src/cluster/redis-health.ts, src/cluster/redis-connections.ts and
 * src/cluster/redis-slots.ts without Redis (#23): when a node is lost and
 * back, told once each; an error checked by one probe; how a command is
 * routed on a Redis Cluster; where a node is told to find Redis, refused
 * with the offending value when it names none or two; the partitions'
 * slots spread over the slot space.
 */
import { describe, expect, it } from 'vitest';
import { firstKey, redisConnections, type RedisFactories } from '../../src/cluster/redis-connections.js';
import { RedisHealth } from '../../src/cluster/redis-health.js';
import { PARTITIONS, crc16, hashSlot, partitionOf, partitionTag } from '../../src/cluster/redis-slots.js';
import { waitFor } from '../support/server.js';

function health(answers: boolean[]): { health: RedisHealth; told: string[]; probes: () => number } {
  const told: string[] = [];
  let probes = 0;
  const health = new RedisHealth(
    () => Promise.resolve(answers[Math.min(probes++, answers.length - 1)]!),
    { lost: () => told.push('lost'), back: () => told.push('back') },
    10
  );
  return { health, told, probes: () => probes };
}

describe('RedisHealth', () => {
  it('is lost at once, once, and back once a probe comes back', async () => {
    const { health: h, told, probes } = health([false, false, true]);
    h.start();
    h.lost();
    h.lost();
    expect(told).toEqual(['lost']);
    await waitFor(() => told.length === 2, 2_000, 'back');
    expect(told).toEqual(['lost', 'back']);
    expect(probes()).toBe(3);
    // Up again: one more loss is told again.
    h.lost();
    expect(told).toEqual(['lost', 'back', 'lost']);
    h.stop();
  });

  it('checks a suspect error with one probe: lost only when it fails', async () => {
    const ok = health([true]);
    ok.health.start();
    ok.health.suspect();
    await waitFor(() => ok.probes() === 1, 2_000, 'the probe');
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(ok.told).toEqual([]);
    const failing = health([false, true]);
    failing.health.start();
    failing.health.suspect();
    await waitFor(() => failing.told.length === 2, 2_000, 'lost, then back');
    expect(failing.told).toEqual(['lost', 'back']);
    ok.health.stop();
    failing.health.stop();
  });

  it('tells nothing before start (the node is still connecting) or after stop', async () => {
    const { health: h, told, probes } = health([false]);
    h.lost();
    h.suspect();
    expect(told).toEqual([]);
    h.start();
    h.lost();
    h.stop();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(told).toEqual(['lost']);
    // Stopped while lost: the loop ends at its next turn.
    expect(probes()).toBeLessThanOrEqual(1);
  });
});

describe('firstKey (routing on a Redis Cluster)', () => {
  it('routes a script by its first key, a command by its key, and a keyless one anywhere', () => {
    expect(firstKey(['EVALSHA', 'abc', '2', 'k1', 'k2', 'arg'])).toBe('k1');
    expect(firstKey(['EVAL', 'return 1', '0', 'arg'])).toBeUndefined();
    expect(firstKey(['HGETALL', 'wsl:s:token'])).toBe('wsl:s:token');
    expect(firstKey(['SPUBLISH', 'wsl:c:{5u}', 'm'])).toBe('wsl:c:{5u}');
    for (const keyless of ['PING', 'INFO', 'SCAN', 'WAIT', 'CLUSTER', 'script']) expect(firstKey([keyless, 'x']), keyless).toBeUndefined();
  });
});

describe('redisConnections', () => {
  const never = new Proxy({}, { get: () => () => { throw new Error('no client may be made'); } }) as unknown as RedisFactories;
  const signals = { lost: () => {}, suspect: () => {}, ready: () => {}, resubscribed: () => {} };
  const timing = { maxReconnectDelayMs: 100, topologyCheckMs: 100, commandTimeoutMs: 100 };

  it('refuses none or two of url, sentinels and clusterNodes, naming what it got', () => {
    expect(() => redisConnections(never, {} as never, timing, signals)).toThrow('Expected exactly one of url, sentinels (with masterName) and clusterNodes; got none');
    expect(() => redisConnections(never, { url: 'redis://x', clusterNodes: [{ host: 'h', port: 1 }] }, timing, signals)).toThrow('got url, clusterNodes');
    expect(() => redisConnections(never, { url: 'redis://x', masterName: 'm' }, timing, signals)).toThrow('masterName "m" goes with sentinels, not with url');
  });

  it('refuses an empty or malformed Sentinel or cluster list, and a URL that is not a string, with the value', () => {
    expect(() => redisConnections(never, { sentinels: [], masterName: 'm' }, timing, signals)).toThrow('got {"sentinels":[],"masterName":"m"}');
    expect(() => redisConnections(never, { sentinels: [{ host: 'h', port: 1 }], masterName: '' }, timing, signals)).toThrow('masterName (a non-empty string)');
    expect(() => redisConnections(never, { masterName: 'm' } as never, timing, signals)).toThrow('got {"masterName":"m"}');
    expect(() => redisConnections(never, { clusterNodes: [] }, timing, signals)).toThrow('Expected clusterNodes (a non-empty list of { host, port }); got []');
    expect(() => redisConnections(never, { url: 6379 } as never, timing, signals)).toThrow('Invalid option url: 6379');
  });
});

describe('partitions', () => {
  it('hash slots by Redis Cluster\'s rule: the hash tag when there is a non-empty one', () => {
    // CRC16/XMODEM of "123456789" is 0x31C3 (the check value Redis's cluster spec gives).
    expect(crc16(Buffer.from('123456789'))).toBe(0x31c3);
    expect(hashSlot('{user1000}.following')).toBe(hashSlot('user1000'));
    expect(hashSlot('foo{}{bar}')).toBe(crc16(Buffer.from('foo{}{bar}')) % 16_384);
    expect(hashSlot('foo{{bar}}zap')).toBe(hashSlot('{bar'));
    expect(hashSlot('foo{bar}{zap}')).toBe(hashSlot('bar'));
  });

  it('gives each of the 256 partitions a tag whose slot is in its own 1/256 of the slot space', () => {
    const slots = Array.from({ length: PARTITIONS }, (_, p) => hashSlot(partitionTag(p)));
    slots.forEach((slot, p) => expect(Math.floor(slot / (16_384 / PARTITIONS)), `partition ${p}`).toBe(p));
    expect(() => partitionTag(PARTITIONS)).toThrow(`Invalid partition: ${PARTITIONS}`);
    // A topic's keys and channel carry its partition's tag.
    expect(partitionOf('user:alice')).toBe(crc16(Buffer.from('user:alice')) % PARTITIONS);
  });
});
