/**
 * The pieces a manager swaps in when it is given a probe (#22): the host
 * that counts sends, the delivery whose report is counted, the store whose
 * failures are counted without changing what its callers see.
 */
import { describe, expect, it } from 'vitest';
import type { Connection } from '../../src/core/connection.js';
import type { ConnectionHost } from '../../src/core/connection-host.js';
import { SerializationError, serialize } from '../../src/core/serialization.js';
import type { SendFailureReason, SendReport } from '../../src/core/send-result.js';
import type { Delivery } from '../../src/manager/delivery.js';
import { probedDelivery, probedHost, probedStore, type MetricsProbe, type StoreOperation } from '../../src/manager/metrics-probe.js';
import { MemoryTopicStore, type SessionRecords, type TopicStore } from '../../src/sessions/topic-store.js';

interface RecordingProbe extends MetricsProbe {
  accepted_: number;
  refused_: Partial<Record<SendFailureReason, number>>;
  failures: Array<[StoreOperation, unknown]>;
}

/** A probe that keeps what it is told. */
function recordingProbe(): RecordingProbe {
  const probe = {
    accepted_: 0,
    refused_: {} as Partial<Record<SendFailureReason, number>>,
    failures: [] as Array<[StoreOperation, unknown]>,
    observe: () => {},
    accepted: (count: number) => void (probe.accepted_ += count),
    refused: (reason: SendFailureReason, count: number) => void (probe.refused_[reason] = (probe.refused_[reason] ?? 0) + count),
    operation: () => {},
    storeFailed: (operation: StoreOperation, error: unknown) => void probe.failures.push([operation, error]),
    recovery: () => {},
    published: () => {},
    delivered: () => {}
  };
  return probe;
}

/** A host whose callbacks only note that they ran. */
function plainHost(told: string[]): ConnectionHost {
  return {
    maxBufferedBytes: 1,
    backpressurePolicy: 'reject',
    maxMessagesPerSecond: 0,
    serialize,
    onTransition: () => {},
    onClosed: () => {},
    onOpen: () => {},
    onMessage: () => {},
    onRefused: (_connection, reason) => void told.push(`refused ${reason}`),
    onSerializationFailed: () => void told.push('serialization failed'),
    onTransportError: () => {},
    onEventIgnored: () => {},
    onCallbackFailed: () => {}
  };
}

const PLAIN = { id: 'plain' } as Connection;
const SESSION = { id: 'session' } as Connection;

describe('probedHost', () => {
  it('counts a serialized message as accepted and takes it back when the socket refuses it for backpressure', () => {
    const told: string[] = [];
    const probe = recordingProbe();
    const host = probedHost(plainHost(told), probe, (connection) => connection === SESSION);
    expect(host.serialize({ a: 1 })).toBe('{"a":1}');
    expect(host.serialize('text')).toBe('text');
    expect(probe.accepted_).toBe(2);
    host.onRefused(PLAIN, 'backpressure');
    expect(probe.accepted_).toBe(1);
    expect(probe.refused_).toEqual({ backpressure: 1 });
    // Refused before it was serialized (the state said no): nothing to take back.
    host.onRefused(PLAIN, 'closing');
    expect(probe.accepted_).toBe(1);
    expect(probe.refused_).toEqual({ backpressure: 1, closing: 1 });
    // The host it wraps is still told.
    expect(told).toEqual(['refused backpressure', 'refused closing']);
  });

  it("counts a message the serializer refused once, as a refusal, and leaves a session connection's frames out", () => {
    const told: string[] = [];
    const probe = recordingProbe();
    const host = probedHost(plainHost(told), probe, (connection) => connection === SESSION);
    expect(host.serialize(undefined)).toBeInstanceOf(SerializationError);
    host.onSerializationFailed(PLAIN, new SerializationError('no'));
    host.onRefused(SESSION, 'backpressure');
    host.onSerializationFailed(SESSION, new SerializationError('no'));
    // A broadcast's serializer failure names no connection: its report counts the targets.
    host.onSerializationFailed(undefined, new SerializationError('no'));
    expect(probe.accepted_).toBe(0);
    expect(probe.refused_).toEqual({ serialization_failed: 1 });
    expect(told).toEqual(['serialization failed', 'refused backpressure', 'serialization failed', 'serialization failed']);
  });
});

describe('probedDelivery', () => {
  it('counts each target of a report once: written or failed in the write as accepted, the rest refused by reason', async () => {
    const probe = recordingProbe();
    const report: SendReport = { sent: 3, rejected: 3, reasons: { transport_error: 1, closing: 1, backpressure: 1 } };
    const delivery: Delivery = { deliver: () => Promise.resolve(report) };
    expect(await probedDelivery(delivery, probe).deliver({ kind: 'everyone' }, 'hi')).toBe(report);
    expect(probe.accepted_).toBe(4);
    expect(probe.refused_).toEqual({ closing: 1, backpressure: 1 });
  });
});

describe('probedStore', () => {
  it('hands back an answer given at once as it came, and the store keeps its order', () => {
    const probe = recordingProbe();
    const store = probedStore(new MemoryTopicStore(), probe);
    const first = store.append('t', 'a');
    expect(first).not.toBeInstanceOf(Promise);
    expect(store.append('t', 'b')).toEqual({ epoch: (first as { epoch: string }).epoch, offset: 2 });
    expect(store.readAfter('t', (first as { epoch: string }).epoch, 1)).toMatchObject({ recovered: true, entries: [{ offset: 2, payload: 'b' }] });
    expect(store.sessions).toBeUndefined();
    expect(probe.failures).toEqual([]);
  });

  it("counts a rejection once and hands the caller the store's own promise; a throw is counted and thrown again", async () => {
    const probe = recordingProbe();
    const down = new Error('down');
    const rejected = Promise.reject(down);
    rejected.catch(() => {});
    const failing: TopicStore = {
      append: () => rejected,
      position: () => {
        throw down;
      },
      readAfter: () => Promise.resolve({ recovered: false, reason: 'trimmed', epoch: 'e', offset: 3 }),
      forget: () => {}
    };
    const store = probedStore(failing, probe);
    expect(store.append('t', 'a')).toBe(rejected);
    await expect(store.append('t', 'a')).rejects.toBe(down);
    expect(() => store.position('t')).toThrow(down);
    await expect(store.readAfter('t', 'e', 1)).resolves.toMatchObject({ reason: 'trimmed' });
    await new Promise((resolve) => setImmediate(resolve));
    expect(probe.failures).toEqual([
      ['append', down],
      ['append', down],
      ['position', down]
    ]);
  });

  it('watches the shared session records as well, passing every argument through', async () => {
    const probe = recordingProbe();
    const calls: unknown[][] = [];
    const records: SessionRecords = {
      create: (...args) => (calls.push(['create', ...args]), Promise.resolve()),
      get: () => Promise.reject(new TypeError('no route to Redis')),
      touch: (...args) => (calls.push(['touch', ...args]), Promise.resolve()),
      acceptSend: (...args) => (calls.push(['acceptSend', ...args]), Promise.resolve('deliver')),
      delivered: (...args) => (calls.push(['delivered', ...args]), Promise.resolve())
    };
    const memory = new MemoryTopicStore();
    const shared: TopicStore = {
      append: (topic, payload) => memory.append(topic, payload),
      position: (topic) => memory.position(topic),
      readAfter: (topic, epoch, offset) => memory.readAfter(topic, epoch, offset),
      forget: (topic) => memory.forget(topic),
      sessions: records
    };
    const sessions = probedStore(shared, probe).sessions!;
    await sessions.create('token', 'carol', 1_000);
    await expect(sessions.get('token')).rejects.toThrow('no route to Redis');
    await sessions.touch(['token'], 1_000);
    expect(await sessions.acceptSend('token', 'client', 7, 'attempt')).toBe('deliver');
    await sessions.delivered('token', 'client', 7, 'attempt');
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls).toEqual([
      ['create', 'token', 'carol', 1_000],
      ['touch', ['token'], 1_000],
      ['acceptSend', 'token', 'client', 7, 'attempt'],
      ['delivered', 'token', 'client', 7, 'attempt']
    ]);
    expect(probe.failures.map(([operation, error]) => [operation, (error as Error).name])).toEqual([['session_get', 'TypeError']]);
  });
});
