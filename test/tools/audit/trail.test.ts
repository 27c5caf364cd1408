/**
 * The audit trail as the manager writes it over real sockets: one pino
 * record per transition, seq counting from 1, kept apart from the
 * application logger when `audit` names a destination, and the bounded
 * `history()`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionState, TransitionRecord } from '../../../src/index.js';
import { sendInvalidFrame } from '../../hardening/support/peers.js';
import { serverPerTest } from '../../support/per-test-server.js';
import { ENDINGS, readJsonLines, recordAuditRun, type AuditRun, type ScenarioUser } from './scenario.js';

type Step = [from: ConnectionState, event: string, to: ConnectionState];

const OPENED: Step = ['connecting', 'OPENED', 'connected'];

/** The transitions each ending must produce, in order. */
const EXPECTED_STEPS: Record<ScenarioUser, Step[]> = {
  alice: [OPENED, ['connected', 'CLOSE', 'closing'], ['closing', 'TRANSPORT_CLOSED', 'closed']],
  // The peer's close frame moves it to closing at once (#10), before the socket closes.
  bob: [OPENED, ['connected', 'PEER_CLOSING', 'closing'], ['closing', 'TRANSPORT_CLOSED', 'closed']],
  carol: [OPENED, ['connected', 'TERMINATE', 'closed']],
  dave: [OPENED, ['connected', 'TRANSPORT_CLOSED', 'closed']],
  erin: [OPENED, ['connected', 'CLOSE', 'closing'], ['closing', 'after closeTimeout', 'closed']],
  mallory: [['connecting', 'CLOSE', 'closing'], ['closing', 'TRANSPORT_CLOSED', 'closed']],
  frank: [['connecting', 'after handshakeTimeout', 'closed']]
};

/** How each ending is recorded on its last (`closed`) record. */
const EXPECTED_CLOSE: Record<ScenarioUser, { code: number; initiator: string }> = {
  alice: { code: 1000, initiator: 'server' },
  bob: { code: 4000, initiator: 'peer' },
  carol: { code: 1006, initiator: 'server' },
  dave: { code: 1006, initiator: 'peer' },
  erin: { code: 1006, initiator: 'timeout' },
  mallory: { code: 1008, initiator: 'server' },
  frank: { code: 1006, initiator: 'timeout' }
};

/** The record's own fields, without pino's (level, time, pid, hostname, name, msg). */
function auditFields(record: Record<string, unknown>): Record<string, unknown> {
  const { level: _level, time: _time, pid: _pid, hostname: _hostname, name: _name, msg: _msg, ...fields } = record;
  return fields;
}

/** Records as JSON would carry them (no undefined fields). */
function asJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

describe('audit trail of a real manager, audit to its own destination', () => {
  let run: AuditRun;
  let trail: Array<Record<string, unknown>>;
  let app: Array<Record<string, unknown>>;

  beforeAll(async () => {
    run = await recordAuditRun(false);
    trail = await readJsonLines(run.auditFile);
    app = await readJsonLines(run.appFile);
  });
  afterAll(() => run.cleanup());

  it('writes exactly one record per transition, the ones the manager emits, in order', () => {
    const transitions = trail.filter((r) => r.msg === 'transition').map(auditFields);
    expect(run.emitted.length).toBe(Object.values(EXPECTED_STEPS).flat().length);
    expect(transitions).toEqual(asJson(run.emitted));
    for (const record of trail.filter((r) => r.msg === 'transition')) expect(record.level).toBe(30);
  });

  it.each(Object.keys(ENDINGS) as ScenarioUser[])('records %s as the machine steps, seq counting from 1', (user) => {
    const id = run.ids[user];
    const records = trail.filter((r) => r.msg === 'transition' && r.connectionId === id);
    expect(records.map((r) => [r.from, r.event, r.to])).toEqual(EXPECTED_STEPS[user]);
    expect(records.map((r) => r.seq)).toEqual(records.map((_, i) => i + 1));
    for (const record of records) {
      expect(record.userId).toBe(user);
      // Close details belong to closing and closed records only.
      const closing = record.to === 'closing' || record.to === 'closed';
      expect('code' in record && 'initiator' in record && 'reason' in record).toBe(closing);
    }
    expect(records.at(-1)).toMatchObject(EXPECTED_CLOSE[user]);
  });

  it('keeps the audit apart from the application logger', () => {
    expect(app.some((r) => r.msg === 'send to unknown connection')).toBe(true);
    expect(app.filter((r) => r.msg === 'transition' || r.msg === 'send refused')).toEqual([]);
    expect(trail.filter((r) => r.msg !== 'transition' && r.msg !== 'send refused')).toEqual([]);
  });

  it('logs the refused send at debug with its reason', () => {
    const refused = trail.filter((r) => r.msg === 'send refused');
    expect(refused).toEqual([
      expect.objectContaining({ level: 20, connectionId: run.ids.alice, userId: 'alice', state: 'closing', reason: 'closing' })
    ]);
  });

  it('keeps the same records in history() after the connections closed', () => {
    for (const user of Object.keys(ENDINGS) as ScenarioUser[]) {
      const id = run.ids[user];
      expect(run.server.manager.history(id)).toEqual(run.emitted.filter((r) => r.connectionId === id));
    }
  });

  it('mixes into the application log when no audit destination is given', async () => {
    const shared = await recordAuditRun(true);
    try {
      const lines = await readJsonLines(shared.auditFile);
      expect(lines.filter((r) => r.msg === 'transition').map(auditFields)).toEqual(asJson(shared.emitted));
      expect(lines.some((r) => r.msg === 'send to unknown connection')).toBe(true);
    } finally {
      await shared.cleanup();
    }
  });
});

describe('history() and ignored events', () => {
  const { start } = serverPerTest();

  it('bounds history by historyLimit per connection and closedHistoryLimit overall', async () => {
    const server = await start({ heartbeatIntervalMs: 0, historyLimit: 2, closedHistoryLimit: 1 });
    const first = await server.connect('a');
    expect(server.manager.history(first.connection.id)?.map((r) => r.seq)).toEqual([1]);
    await server.manager.close(first.connection.id);
    // Three transitions, the oldest dropped.
    expect(server.manager.history(first.connection.id)?.map((r) => r.seq)).toEqual([2, 3]);

    const second = await server.connect('b');
    const live = server.manager.history(second.connection.id)!;
    live.length = 0;
    expect(server.manager.history(second.connection.id)).toHaveLength(1);
    await server.manager.close(second.connection.id);
    // Only one closed connection is remembered: the newest.
    expect(server.manager.history(first.connection.id)).toBeUndefined();
    expect(server.manager.history(second.connection.id)?.map((r) => `${r.from}>${r.to}`)).toEqual(['connected>closing', 'closing>closed']);
    expect(server.manager.history('unknown')).toBeUndefined();
  });

  it('counts an event the machine ignores and writes no record for it', async () => {
    const server = await start({ heartbeatIntervalMs: 0 });
    const records: TransitionRecord[] = [];
    server.manager.on('transition', (_connection, record) => records.push(record));
    const { client, connection } = await server.connect('p');
    const closed = connection.close(1000, 'bye');
    // A bad frame leaves before the client reads the close frame: ws's error reaches a closing connection.
    sendInvalidFrame(client);
    await closed;
    expect(server.manager.ignoredEvents).toBe(1);
    expect(records.map((r) => r.to)).toEqual(['connected', 'closing', 'closed']);
  });

  it('writes no record for a heartbeat that stays connected, one for the missed pong', async () => {
    const server = await start({ heartbeatIntervalMs: 50 });
    const records: TransitionRecord[] = [];
    server.manager.on('transition', (_connection, record) => records.push(record));
    const { client, connection } = await server.connect('q');
    // A paused client reads no ping, so it never answers one.
    client.ws.pause();
    await expect(connection.closed).resolves.toMatchObject({ code: 1006, initiator: 'timeout' });
    expect(records.map((r) => [r.seq, r.from, r.event, r.to])).toEqual([
      [1, 'connecting', 'OPENED', 'connected'],
      [2, 'connected', 'after heartbeatInterval', 'closed']
    ]);
    client.ws.terminate();
  });
});
