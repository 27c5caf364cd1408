/**
 * src/client/client-options.ts: the options a SessionClient reads, with
 * their documented defaults, the WebSocket class (passed, or the global
 * one), and the bounds every delay and maxQueued is checked against
 * (setTimeout fires at once past 2^31 - 1 ms).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { clientSettings, type ClientSocketConstructor } from '../../src/client/client-options.js';

const Socket = class {} as unknown as ClientSocketConstructor;
const NAMES = ['minDelayMs', 'maxDelayMs', 'maxQueued', 'heartbeatIntervalMs', 'heartbeatTimeoutMs', 'connectTimeoutMs'] as const;

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('clientSettings', () => {
  it('fills in the documented defaults and keeps what was given', () => {
    expect(clientSettings({ url: 'ws://x', WebSocket: Socket })).toEqual({
      url: 'ws://x',
      WebSocket: Socket,
      minDelayMs: 250,
      maxDelayMs: 10_000,
      maxQueued: 1_000,
      heartbeatIntervalMs: 15_000,
      heartbeatTimeoutMs: 10_000,
      connectTimeoutMs: 10_000,
      random: Math.random
    });
    const random = (): number => 0.5;
    const given = { minDelayMs: 1, maxDelayMs: 2, maxQueued: 3, heartbeatIntervalMs: 4, heartbeatTimeoutMs: 5, connectTimeoutMs: 2 ** 31 - 1 };
    expect(clientSettings({ url: 'ws://y', WebSocket: Socket, random, ...given })).toEqual({ url: 'ws://y', WebSocket: Socket, random, ...given });
  });

  it('uses the global WebSocket when none is passed, and says what to pass when there is none', () => {
    vi.stubGlobal('WebSocket', Socket);
    expect(clientSettings({ url: 'ws://x' }).WebSocket).toBe(Socket);
    vi.stubGlobal('WebSocket', undefined);
    expect(() => clientSettings({ url: 'ws://x' })).toThrow(new TypeError('No WebSocket class: pass options.WebSocket (in Node 20, the one from ws)'));
  });

  it('refuses a delay or maxQueued that is not a number from 1 to 2^31 - 1, naming it', () => {
    for (const name of NAMES) {
      for (const bad of [0, -1, Number.NaN, 2 ** 31, '5' as unknown as number]) {
        expect(() => clientSettings({ url: 'ws://x', WebSocket: Socket, [name]: bad }), `${name} ${String(bad)}`).toThrow(
          new RangeError(`Invalid option ${name}: ${String(bad)} (expected a number from 1 to 2147483647)`)
        );
      }
    }
  });
});
