/**
 * Race: whatever piles up around a close (repeated closes, sends,
 * broadcasts, the peer closing too, the close timeout, a terminate), the
 * manager's transition events show exactly connected -> closing -> closed.
 */
import { WebSocket } from 'ws';
import { describe, expect, it } from 'vitest';
import type { Connection, ConnectionManager, TransitionRecord } from '../../src/index.js';
import { serverPerTest } from '../support/per-test-server.js';
import { waitFor, type TestClient } from '../support/server.js';

interface Race {
  name: string;
  /** Runs the race; resolves once it has been set off. */
  run(manager: ConnectionManager, connection: Connection, client: TestClient): void | Promise<void>;
  /** The event that started closing, and the one that ended it. */
  events: [string, string];
}

const RACES: Race[] = [
  {
    name: 'manager.close, connection.close, sends, broadcast and close again in one tick',
    run: (manager, connection) => {
      void manager.close(connection.id, 1000, 'first');
      void connection.send('a');
      void connection.close(4000, 'second');
      void manager.send(connection.id, 'b');
      void manager.broadcast('c');
      void manager.close(connection.id, 1001, 'third');
    },
    events: ['CLOSE', 'TRANSPORT_CLOSED']
  },
  {
    name: 'server close and peer close crossing',
    run: (manager, connection, client) => {
      client.ws.close(4002, 'peer');
      void manager.close(connection.id, 1000, 'server');
      void manager.send(connection.id, 'x');
    },
    events: ['CLOSE', 'TRANSPORT_CLOSED']
  },
  {
    name: 'peer close frame seen by a send (PEER_CLOSING), then server close and more sends',
    run: async (manager, connection, client) => {
      client.ws.close(4003, 'peer');
      client.ws.pause();
      await waitFor(() => connection.socket.readyState === WebSocket.CLOSING, 2_000, 'the peer close frame');
      void manager.send(connection.id, 'one');
      void manager.close(connection.id, 1000, 'server');
      void connection.send('two');
      void manager.broadcast('three');
      client.ws.resume();
    },
    events: ['PEER_CLOSING', 'TRANSPORT_CLOSED']
  },
  {
    name: 'server close to a peer that never answers, then terminate after the close timeout',
    run: async (manager, connection, client) => {
      client.ws.pause();
      void manager.close(connection.id, 1000, 'server');
      void connection.send('x');
      await connection.closed;
      void connection.terminate();
      void connection.close(1000, 'again');
      client.ws.terminate();
    },
    events: ['CLOSE', 'after closeTimeout']
  },
  {
    name: 'close then terminate in the same tick',
    run: (manager, connection) => {
      void manager.close(connection.id, 1000, 'server');
      void connection.send('x');
      void connection.terminate();
      void connection.terminate();
    },
    events: ['CLOSE', 'TERMINATE']
  }
];

describe('state sequence around a close', () => {
  const { start } = serverPerTest();

  for (const race of RACES) {
    it(`is exactly connected -> closing -> closed: ${race.name}`, async () => {
      const server = await start({ closeTimeoutMs: 250, heartbeatIntervalMs: 0 });
      const { manager } = server;
      const records: TransitionRecord[] = [];
      manager.on('transition', (_connection, record) => records.push(record));
      const { client, connection } = await server.connect('alice');
      await race.run(manager, connection, client);
      await connection.closed;
      await client.closed;
      // Anything late (a 'close' event after a terminate, a stray send) must not add a transition.
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(records.map((r) => `${r.from}->${r.to}`)).toEqual(['connecting->connected', 'connected->closing', 'closing->closed']);
      expect(records.map((r) => r.seq)).toEqual([1, 2, 3]);
      expect(records.slice(1).map((r) => r.event)).toEqual(race.events);
      expect(records.every((r) => r.connectionId === connection.id)).toBe(true);
      expect(manager.size).toBe(0);
    });
  }
});
