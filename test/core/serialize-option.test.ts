/**
 * The `serialize` option (#9): the application owns how a message becomes
 * a frame; a serializer that throws or returns something else refuses the
 * message by name and disturbs nothing.
 */
import { describe, expect, it } from 'vitest';
import { ConnectionManager, defaultSerialize } from '../../src/index.js';
import { serverPerTest } from '../support/per-test-server.js';
import { captureLogger, silentLogger, waitFor } from '../support/server.js';

const { start } = serverPerTest();

describe('the serialize option', () => {
  it('frames every send, broadcast and sendToUser with the given serializer; bytes go out binary', async () => {
    const seen: unknown[] = [];
    const server = await start({
      serialize: (message) => {
        seen.push(message);
        return Buffer.from(`<${JSON.stringify(message)}>`);
      }
    });
    const { client, connection } = await server.connect('u');
    const binary: boolean[] = [];
    client.ws.on('message', (_data, isBinary) => binary.push(isBinary));
    expect(await connection.send({ n: 1 })).toEqual({ ok: true });
    expect(await server.manager.broadcast({ n: 2 })).toMatchObject({ sent: 1 });
    expect(await server.manager.sendToUser('u', 'three')).toMatchObject({ sent: 1 });
    await waitFor(() => client.received.length === 3, 2_000, 'three messages');
    expect(client.received).toEqual(['<{"n":1}>', '<{"n":2}>', '<"three">']);
    expect(binary).toEqual([true, true, true]);
    // A broadcast serializes once, whatever the number of targets.
    expect(seen).toEqual([{ n: 1 }, { n: 2 }, 'three']);
  });

  it('refuses a message the serializer throws on, naming the error, and keeps the connection', async () => {
    const { logger, records } = captureLogger('warn');
    const server = await start({
      logger,
      serialize: (message) => {
        if (message === 'bad') throw new Error('no schema for this');
        return String(message);
      }
    });
    const { client, connection } = await server.connect('u');
    const result = await connection.send('bad');
    expect(result).toMatchObject({ ok: false, reason: 'serialization_failed' });
    expect(result.ok === false && result.error?.message).toBe('serialize threw: no schema for this');
    expect(await server.manager.broadcast('bad')).toEqual({ sent: 0, rejected: 1, reasons: { serialization_failed: 1 } });
    expect(records.filter((r) => r.msg === 'message not serializable')).toHaveLength(2);
    expect(await connection.send('good')).toEqual({ ok: true });
    await waitFor(() => client.received.length === 1, 2_000, 'the good message');
    expect(client.received).toEqual(['good']);
    expect(connection.state).toBe('connected');
  });

  it('refuses what is neither a string nor bytes, saying what it was', async () => {
    const server = await start({ serialize: (message) => message as never });
    const { connection } = await server.connect('u');
    for (const [message, what] of [[42, 'number'], [null, 'null'], [{}, 'object']] as const) {
      const result = await connection.send(message);
      expect(result.ok === false && result.error?.message).toBe(`serialize returned ${what}; expected a string or bytes`);
    }
  });

  it('is checked when the manager is made', () => {
    expect(() => new ConnectionManager({ logger: silentLogger(), serialize: 'json' as never })).toThrow(
      new TypeError('Invalid option serialize: string (expected a function)')
    );
  });

  it('defaults to defaultSerialize, which a serializer can build on', async () => {
    const server = await start({
      serialize: (message) => {
        const data = defaultSerialize({ v: 1, message });
        if (data instanceof Error) throw data;
        return data;
      }
    });
    const { client, connection } = await server.connect('u');
    await connection.send(new Map([['a', 1n]]));
    await waitFor(() => client.received.length === 1, 2_000, 'the message');
    expect(client.received).toEqual(['{"v":1,"message":{"a":"1"}}']);
  });
});
