import { describe, expect, it } from 'vitest';
import type { ConnectionState } from '../../machines/connection.machine.js';
import type { Connection } from '../../src/core/connection.js';
import { ConnectionRegistry } from '../../src/core/connection-registry.js';

/** The registry reads only id, userId and state; a stand-in with those is enough. */
function fake(id: string, userId?: string, state: ConnectionState = 'connecting') {
  const stub = { id, userId, state };
  return stub as typeof stub & Connection;
}

describe('ConnectionRegistry', () => {
  it('finds connections by id and by user, in insertion order', () => {
    const registry = new ConnectionRegistry();
    const a1 = fake('a1', 'alice');
    const b1 = fake('b1', 'bob');
    const a2 = fake('a2', 'alice');
    const anon = fake('x');
    [a1, b1, a2, anon].forEach((c) => registry.add(c));
    expect(registry.size).toBe(4);
    expect(registry.get('b1')).toBe(b1);
    expect(registry.get('nope')).toBeUndefined();
    expect([...registry.values()]).toEqual([a1, b1, a2, anon]);
    expect([...registry.byUser('alice')!]).toEqual([a1, a2]);
    expect([...registry.byUser('bob')!]).toEqual([b1]);
    expect(registry.byUser('carol')).toBeUndefined();
  });

  it('counts by state as connections move, and keeps counting closed ones after removal', () => {
    const registry = new ConnectionRegistry();
    const a = fake('a', 'alice');
    const b = fake('b', 'bob');
    registry.add(a);
    registry.add(b);
    expect(registry.counts()).toEqual({ connecting: 2, connected: 0, closing: 0, closed: 0 });
    registry.moved('connecting', 'connected');
    registry.moved('connected', 'closing');
    registry.moved('closing', 'closed');
    registry.remove(a);
    expect(registry.counts()).toEqual({ connecting: 1, connected: 0, closing: 0, closed: 1 });
    expect(registry.size).toBe(1);
  });

  it('counts a connection added in a later state under that state', () => {
    const registry = new ConnectionRegistry();
    registry.add(fake('c', undefined, 'connected'));
    expect(registry.counts()).toEqual({ connecting: 0, connected: 1, closing: 0, closed: 0 });
  });

  it('hands out a copy of the counts', () => {
    const registry = new ConnectionRegistry();
    registry.add(fake('a'));
    const counts = registry.counts();
    counts.connecting = 99;
    expect(registry.counts().connecting).toBe(1);
  });

  it('drops a removed connection from every index, the user entry with its last connection', () => {
    const registry = new ConnectionRegistry();
    const a1 = fake('a1', 'alice');
    const a2 = fake('a2', 'alice');
    registry.add(a1);
    registry.add(a2);
    registry.remove(a1);
    expect(registry.get('a1')).toBeUndefined();
    expect([...registry.byUser('alice')!]).toEqual([a2]);
    registry.remove(a2);
    expect(registry.byUser('alice')).toBeUndefined();
    expect(registry.size).toBe(0);
  });

  it('ignores removing a connection it does not hold, leaving a same-user connection indexed', () => {
    const registry = new ConnectionRegistry();
    const held = fake('a1', 'alice');
    registry.add(held);
    registry.remove(fake('other', 'alice'));
    registry.remove(held);
    registry.remove(held);
    expect(registry.size).toBe(0);
    const again = fake('a2', 'alice');
    registry.add(again);
    registry.remove(held);
    expect([...registry.byUser('alice')!]).toEqual([again]);
  });

  it('re-indexes a connection whose user became known or changed', () => {
    const registry = new ConnectionRegistry();
    const c = fake('c');
    registry.add(c);
    c.userId = 'alice';
    registry.reindex(c, undefined);
    expect([...registry.byUser('alice')!]).toEqual([c]);
    c.userId = 'bob';
    registry.reindex(c, 'alice');
    expect(registry.byUser('alice')).toBeUndefined();
    expect([...registry.byUser('bob')!]).toEqual([c]);
    registry.reindex(c, 'bob');
    expect([...registry.byUser('bob')!]).toEqual([c]);
    c.userId = undefined;
    registry.reindex(c, 'bob');
    expect(registry.byUser('bob')).toBeUndefined();
    expect(registry.get('c')).toBe(c);
  });

  it('reports users online without closing connections, and says when that changes (presence, #12)', () => {
    const registry = new ConnectionRegistry();
    let changes = 0;
    registry.onUsersChanged = () => changes++;
    const a1 = fake('a1', 'alice', 'connected');
    const a2 = fake('a2', 'alice', 'connected');
    const b1 = fake('b1', 'bob', 'connected');
    [a1, a2, b1, fake('anon')].forEach((c) => registry.add(c));
    expect(changes).toBe(3);
    expect(registry.usersOnline()).toEqual(new Map([['alice', 2], ['bob', 1]]));
    a2.state = 'closing';
    registry.moved('connected', 'closing');
    expect(changes).toBe(4);
    expect(registry.usersOnline()).toEqual(new Map([['alice', 1], ['bob', 1]]));
    b1.state = 'closing';
    registry.moved('connected', 'closing');
    expect(registry.usersOnline()).toEqual(new Map([['alice', 1]]));
    registry.remove(b1);
    expect(changes).toBe(6);
  });
});
