/**
 * ConnectionManager and shutdown() options: a value out of range is refused
 * with a RangeError that names the option and the value, before anything
 * changes. No sockets.
 */
import { describe, expect, it } from 'vitest';
import { ConnectionManager, type ConnectionManagerOptions, type ShutdownOptions } from '../../src/index.js';
import { silentLogger } from '../support/server.js';

describe('ConnectionManager options', () => {
  it.each([
    ['closeTimeoutMs', 0, ''],
    ['closeTimeoutMs', 2 ** 31, ''],
    ['handshakeTimeoutMs', Infinity, ''],
    ['heartbeatIntervalMs', -1, ', or 0 (off)'],
    // Node fires a delay over 2^31 - 1 ms after 1 ms: every connection would be terminated at once (#25).
    ['heartbeatIntervalMs', 3e9, ', or 0 (off)']
  ] as const)('refuses the duration %s %d, naming the option, the value and the range', (name, value, zero) => {
    const options: ConnectionManagerOptions = { logger: silentLogger(), [name]: value };
    expect(() => new ConnectionManager(options)).toThrow(
      new RangeError(`Invalid option ${name}: ${value} (expected milliseconds from 1 to ${2 ** 31 - 1}${zero})`)
    );
  });

  it.each([
    ['maxConnections', 0, 1],
    ['maxConnectionsPerUser', 0.5, 1],
    ['maxBufferedBytes', -1, 0],
    ['maxMessagesPerSecond', Number.NaN, 0],
    ['historyLimit', -1, 0],
    ['closedHistoryLimit', -2, 0]
  ] as const)('refuses %s %d, naming the option, the value and the bound', (name, value, min) => {
    const options: ConnectionManagerOptions = { logger: silentLogger(), [name]: value };
    expect(() => new ConnectionManager(options)).toThrow(new RangeError(`Invalid option ${name}: ${value} (expected a number >= ${min})`));
  });

  it('refuses a backpressurePolicy other than reject or close, naming it', () => {
    const options = { logger: silentLogger(), backpressurePolicy: 'drop' } as unknown as ConnectionManagerOptions;
    expect(() => new ConnectionManager(options)).toThrow(new RangeError("Invalid option backpressurePolicy: drop (expected 'reject' or 'close')"));
  });
});

describe('shutdown() options', () => {
  it.each([
    ['timeoutMs', -1, 'terminate at once'],
    // Infinity passed as "never" and terminated everything after 6 ms (#25).
    ['timeoutMs', Infinity, 'terminate at once'],
    ['batchIntervalMs', -5, 'the next turn of the event loop'],
    ['batchIntervalMs', 2 ** 32, 'the next turn of the event loop']
  ] as const)('refuses %s %d, naming it, and does not start shutting down', async (name, value, zero) => {
    const manager = new ConnectionManager({ logger: silentLogger() });
    const options: ShutdownOptions = { [name]: value };
    await expect(manager.shutdown(options)).rejects.toThrow(
      new RangeError(`Invalid option ${name}: ${value} (expected milliseconds from 1 to ${2 ** 31 - 1}, or 0 (${zero}))`)
    );
    expect(manager.shuttingDown).toBe(false);
  });

  it('refuses batchSize 0, naming it', async () => {
    const manager = new ConnectionManager({ logger: silentLogger() });
    await expect(manager.shutdown({ batchSize: 0 })).rejects.toThrow(new RangeError('Invalid option batchSize: 0 (expected a number >= 1)'));
  });
});
