/**
 * The send fast path bypasses the actor; here it must agree with the
 * machine: in every state a real connection can be driven into, a send is
 * accepted exactly when the machine's snapshot there has the `writable` tag,
 * and refused with the reason that state's `meta.sendRefusal` names.
 */
import { createActor } from 'xstate';
import { afterEach, describe, expect, it } from 'vitest';
import { connectionMachine, type ConnectionEvent, type ConnectionState, type ConnectionStateMeta } from '../../machines/connection.machine.js';
import { readChart } from '../../src/core/machine-graph.js';
import { matchesId } from '../support/machine.js';
import type { Connection, TransitionRecord } from '../../src/index.js';
import { stallClient, startServer, waitFor, type TestClient, type TestServer } from '../support/server.js';

let server: TestServer | undefined;
const lifecycleIds = Object.fromEntries(readChart().filter((s) => s.audited).map((s) => [s.name, s.id])) as Record<ConnectionState, string>;
const clients: TestClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.ws.terminate();
  await server?.stop();
  server = undefined;
});

/** The machine event behind an audit record, rebuilt from the record. */
function eventOf(record: TransitionRecord): ConnectionEvent {
  switch (record.event) {
    case 'OPENED':
      return { type: 'OPENED' };
    case 'CLOSE':
      return { type: 'CLOSE', code: record.code!, reason: record.reason! };
    case 'PEER_CLOSING':
      return { type: 'PEER_CLOSING' };
    case 'TRANSPORT_CLOSED':
      return { type: 'TRANSPORT_CLOSED', code: record.code!, reason: record.reason! };
    default:
      throw new Error(`No replay for event ${record.event}`);
  }
}

/** The pure machine, driven by the events the real connection went through. */
function replay(records: TransitionRecord[]) {
  const actor = createActor(connectionMachine, { input: { handshakeTimeoutMs: 60_000, closeTimeoutMs: 60_000, heartbeatIntervalMs: 0 } });
  actor.start();
  for (const record of records) actor.send(eventOf(record));
  const snapshot = actor.getSnapshot();
  actor.stop();
  return snapshot;
}

/** Drive a fresh real connection into `state`. */
async function driveTo(s: TestServer, state: ConnectionState): Promise<Connection> {
  const { client, connection } = await s.connect(state === 'connecting' ? 'pending' : 'user');
  clients.push(client);
  if (state === 'closing') {
    stallClient(client.ws);
    void connection.close(1000, 'bye');
  } else if (state === 'closed') {
    await connection.close(4000, 'done');
  }
  await waitFor(() => connection.state === state, 5_000, `connection to reach ${state}`);
  return connection;
}

const MESSAGES: Array<[string, unknown]> = [
  ['text', 'hello'],
  ['JSON', { type: 'agent_started' }],
  ['binary', Buffer.from([1, 2, 3])]
];

describe('Connection.send agrees with the machine', () => {
  it.each(['connecting', 'connected', 'closing', 'closed'] as const)('in %s', async (state) => {
    server = await startServer({
      heartbeatIntervalMs: 0,
      authenticate: ({ connection }) => (connection.userId === 'pending' ? new Promise<boolean>(() => {}) : true)
    });
    const connection = await driveTo(server, state);
    const snapshot = replay(server.manager.history(connection.id)!);
    expect(matchesId(snapshot, lifecycleIds[state])).toBe(true);
    const accepted = snapshot.hasTag('writable');
    expect(accepted, `machine is writable in ${state}`).toBe(state === 'connected');
    const refusal = accepted ? undefined : (snapshot.getMeta() as Record<string, ConnectionStateMeta | undefined>)[`connection.${lifecycleIds[state]}`]?.sendRefusal;

    for (const [kind, message] of MESSAGES) {
      const result = await connection.send(message);
      expect(result.ok, `Connection.send of ${kind}`).toBe(accepted);
      if (!result.ok) expect(result.reason).toBe(refusal);
      const report = await server.manager.broadcast(message, (c) => c === connection);
      expect(report.sent === 1, `broadcast of ${kind}`).toBe(accepted);
      expect(report.sent + report.rejected, `broadcast of ${kind} counted once`).toBe(state === 'closed' ? 0 : 1);
    }
    expect(connection.state).toBe(state);
  });
});
