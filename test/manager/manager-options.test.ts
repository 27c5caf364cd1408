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
    ['closeTimeoutMs', 0, 1],
    ['handshakeTimeoutMs', 0, 1],
    ['heartbeatIntervalMs', -1, 0],
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
    ['timeoutMs', -1, 0],
    ['batchSize', 0, 1],
    ['batchIntervalMs', -5, 0]
  ] as const)('refuses %s %d, naming it, and does not start shutting down', async (name, value, min) => {
    const manager = new ConnectionManager({ logger: silentLogger() });
    const options: ShutdownOptions = { [name]: value };
    await expect(manager.shutdown(options)).rejects.toThrow(new RangeError(`Invalid option ${name}: ${value} (expected a number >= ${min})`));
    expect(manager.shuttingDown).toBe(false);
  });
});
