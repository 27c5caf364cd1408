/**
 * ws-lifecycle/metrics in process (#22): the bounded attribute values, the
 * checks the constructor and observe make, the node's state read at
 * collection, and what a publish that stores nothing is named. The counts
 * of a whole run are checked against its load in example.test.ts.
 */
import { MeterProvider, type Histogram } from '@opentelemetry/sdk-metrics';
import type { Meter } from '@opentelemetry/api';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { NodeState } from '../../machines/node.machine.js';
import { ConnectionManager } from '../../src/index.js';
import { LifecycleMetrics, closeCodeClass } from '../../src/metrics/lifecycle-metrics.js';
import { errorType } from '../../src/metrics/attributes.js';
import { silentLogger } from '../support/server.js';
import { TestReader } from './reader.js';

const providers: MeterProvider[] = [];
const managers: ConnectionManager[] = [];
afterEach(async () => {
  await Promise.all(managers.splice(0).map((manager) => manager.shutdown({ timeoutMs: 100 })));
  await Promise.all(providers.splice(0).map((provider) => provider.shutdown()));
});

function meter(): { meter: Meter; reader: TestReader } {
  const reader = new TestReader();
  const provider = new MeterProvider({ readers: [reader] });
  providers.push(provider);
  return { meter: provider.getMeter('test'), reader };
}

function manager(metrics: LifecycleMetrics, logger = silentLogger()): ConnectionManager {
  const made = new ConnectionManager({ logger, metrics });
  managers.push(made);
  return made;
}

describe('attribute values', () => {
  it('tells a close code by its number when RFC 6455 or the session protocol defines it, else by its range', () => {
    expect([1000, 1001, 1006, 1011, 1015].map(closeCodeClass)).toEqual(['1000', '1001', '1006', '1011', '1015']);
    expect([4400, 4403, 4408].map(closeCodeClass)).toEqual(['4400', '4403', '4408']);
    expect([4000, 4001, 4999, 3000, 3999].map(closeCodeClass)).toEqual(['4xxx', '4xxx', '4xxx', '3xxx', '3xxx']);
    expect([1016, 2000, 999, 5000].map(closeCodeClass)).toEqual(['other', 'other', 'other', 'other']);
  });

  it('names a failure by its error class, and anything else _OTHER', () => {
    class StoreDown extends Error {}
    expect(errorType(new TypeError('x'))).toBe('TypeError');
    expect(errorType(new StoreDown('x'))).toBe('StoreDown');
    expect(errorType('down')).toBe('_OTHER');
    expect(errorType(undefined)).toBe('_OTHER');
  });
});

describe('LifecycleMetrics', () => {
  it('refuses what is not a Meter, and a topic that is not a string, naming them', () => {
    expect(() => new LifecycleMetrics({} as Meter)).toThrow(/needs an OpenTelemetry Meter.*got object/);
    expect(() => new LifecycleMetrics(undefined as unknown as Meter)).toThrow(/got undefined/);
    expect(() => new LifecycleMetrics(meter().meter, { topics: ['prices', 7 as unknown as string] })).toThrow(/topics must be strings, got 7/);
  });

  it('measures one manager: a second one is refused', () => {
    const metrics = new LifecycleMetrics(meter().meter);
    manager(metrics);
    expect(() => new ConnectionManager({ logger: silentLogger(), metrics })).toThrow(/already measures a ConnectionManager/);
  });

  it("reads the cluster node's state when the exporter collects: 1 for the one it is in", async () => {
    const { meter: m, reader } = meter();
    const cluster: { state: NodeState } = { state: 'ready' };
    manager(new LifecycleMetrics(m, { cluster }));
    const states = async (): Promise<Record<string, number | Histogram>> => {
      const points = await reader.points('ws_lifecycle.node.state');
      return Object.fromEntries(points.map((point) => [String(point.attributes['ws_lifecycle.node.state']), point.value]));
    };
    expect(await states()).toEqual({ connecting: 0, ready: 1, degraded: 0, draining: 0, stopped: 0 });
    cluster.state = 'degraded';
    expect(await states()).toEqual({ connecting: 0, ready: 0, degraded: 1, draining: 0, stopped: 0 });
  });

  it("reads how many errors the cluster node's Redis connections reported, when the node counts them", async () => {
    const { meter: m, reader } = meter();
    const cluster: { state: NodeState; redisErrors: number } = { state: 'ready', redisErrors: 0 };
    manager(new LifecycleMetrics(m, { cluster }));
    const errors = async (): Promise<unknown[]> => (await reader.points('ws_lifecycle.redis.errors')).map((point) => point.value);
    expect(await errors()).toEqual([0]);
    cluster.redisErrors = 3;
    expect(await errors()).toEqual([3]);
  });

  it('has no node state without a cluster', async () => {
    const { meter: m, reader } = meter();
    manager(new LifecycleMetrics(m));
    expect(await reader.points('ws_lifecycle.node.state')).toEqual([]);
  });

  it('names why a publish stored nothing: an invalid topic, a message the serializer refused', async () => {
    const { meter: m, reader } = meter();
    const measured = manager(new LifecycleMetrics(m, { topics: ['prices'] }));
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const results = [await measured.publish('', 1), await measured.publish('prices', circular), await measured.publish('prices', 2)];
    expect(results.map((result) => result.ok)).toEqual([false, false, true]);
    const publishes = (await reader.points('ws_lifecycle.operation.duration')).map((point) => ({
      attributes: point.attributes,
      count: (point.value as Histogram).count
    }));
    expect(publishes).toEqual([
      { attributes: { 'ws_lifecycle.operation.name': 'publish', 'error.type': 'invalid_topic' }, count: 1 },
      { attributes: { 'ws_lifecycle.operation.name': 'publish', 'ws_lifecycle.topic': 'prices', 'error.type': 'serialization_failed' }, count: 1 },
      { attributes: { 'ws_lifecycle.operation.name': 'publish', 'ws_lifecycle.topic': 'prices' }, count: 1 }
    ]);
  });

  it('counts log records a throwing logger dropped', async () => {
    const { meter: m, reader } = meter();
    const broken = pino({ level: 'info' }, { write: () => {
      throw new Error('disk full');
    } });
    const measured = manager(new LifecycleMetrics(m), broken);
    await measured.send('nobody', 'hello');
    await measured.send('nobody', 'again');
    expect(measured.logFailures).toBe(2);
    expect((await reader.points('ws_lifecycle.log.dropped')).map((point) => point.value)).toEqual([2]);
  });
});
