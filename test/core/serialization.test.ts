import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { SerializationError, isBinary, serialize } from '../../src/core/serialization.js';

/** Serialize and insist on text. */
function text(message: unknown): string {
  const data = serialize(message);
  if (typeof data !== 'string') throw new Error(`expected text, got ${data instanceof Error ? data.message : typeof data}`);
  return data;
}

function failure(message: unknown): SerializationError {
  const data = serialize(message);
  if (!(data instanceof SerializationError)) throw new Error(`expected a SerializationError, got ${inspect(data)}`);
  return data;
}

describe('serialize: strings and bytes', () => {
  it.each(['', 'hello', 'héllo ✓ 🎉', '{"already":"json"}', '{}'])('sends the string %j as text, unchanged', (s) => {
    const data = serialize(s);
    expect(data).toBe(s);
    expect(isBinary(data as string)).toBe(false);
  });

  const bytes = new Uint8Array([1, 2, 255]);
  it.each([
    ['Buffer', Buffer.from([1, 2, 255])],
    ['Uint8Array', bytes],
    ['ArrayBuffer', bytes.buffer],
    ['DataView', new DataView(bytes.buffer)],
    ['Float64Array', new Float64Array([1.5])]
  ])('sends a %s as binary, the same object', (_name, value) => {
    const data = serialize(value);
    expect(data).toBe(value);
    expect(isBinary(data as Buffer)).toBe(true);
  });

  it('sends a Blob as binary, the same object, for ws to read', () => {
    const blob = new Blob([bytes]);
    expect(serialize(blob)).toBe(blob);
  });

  it('sends empty bytes that are not detached', () => {
    const empty = new ArrayBuffer(0);
    expect(serialize(empty)).toBe(empty);
  });
});

describe('serialize: values as JSON text', () => {
  it.each([
    [{ type: 'agent_started', n: 1 }, '{"type":"agent_started","n":1}'],
    [[1, 'a', null, true], '[1,"a",null,true]'],
    [42, '42'],
    [0, '0'],
    [false, 'false'],
    [null, 'null'],
    [{}, '{}'],
    [[], '[]'],
    [{ s: '{}', nested: { a: {} } }, '{"s":"{}","nested":{"a":{}}}'],
    [{ a: undefined, f: () => 1, b: 2 }, '{"b":2}'],
    [[undefined, () => 1], '[null,null]'],
    [{ n: Number.NaN, i: Infinity }, '{"n":null,"i":null}']
  ])('%j', (value, expected) => {
    expect(text(value)).toBe(expected);
  });

  it('writes a BigInt as its decimal string, beyond 2^53 too', () => {
    expect(text(10n)).toBe('"10"');
    expect(text({ id: 2n ** 64n + 1n, list: [-3n] })).toBe('{"id":"18446744073709551617","list":["-3"]}');
  });

  it('writes a Map as an object and a Set as an array, nested too', () => {
    expect(text(new Map([['a', 1], ['b', 2]]))).toBe('{"a":1,"b":2}');
    expect(text(new Set([1, 'x']))).toBe('[1,"x"]');
    expect(text({ m: new Map([['k', new Set([1n, 2n])]]), s: new Set([{ a: new Map() }]) })).toBe(
      '{"m":{"k":["1","2"]},"s":[{"a":{}}]}'
    );
  });

  it('writes a Date as its ISO string', () => {
    const date = new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 6));
    expect(text(date)).toBe('"2024-01-02T03:04:05.006Z"');
    expect(text({ at: date })).toBe('{"at":"2024-01-02T03:04:05.006Z"}');
  });

  it('writes an Error as its name and message', () => {
    expect(JSON.parse(text(new Error('boom')))).toEqual({ name: 'Error', message: 'boom' });
    expect(JSON.parse(text({ error: new TypeError('bad type') }))).toEqual({ error: { name: 'TypeError', message: 'bad type' } });
  });

  it('keeps name and message of an Error that has fields of its own', () => {
    class HttpError extends Error {
      override name = 'HttpError';
      status = 404;
    }
    const system = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED', errno: -111 });
    expect(JSON.parse(text(new HttpError('not found')))).toEqual({ name: 'HttpError', message: 'not found', status: 404 });
    expect(JSON.parse(text({ type: 'error', error: system }))).toEqual({
      type: 'error',
      error: { name: 'Error', message: 'connect ECONNREFUSED', code: 'ECONNREFUSED', errno: -111 }
    });
    expect(JSON.parse(text([new HttpError('gone')]))).toEqual([{ name: 'HttpError', message: 'gone', status: 404 }]);
  });

  it('uses toJSON, and what toJSON returns is written by the same rules', () => {
    expect(text({ toJSON: () => ({ x: 1 }) })).toBe('{"x":1}');
    expect(text({ toJSON: () => new Map([['a', 1n]]) })).toBe('{"a":"1"}');
    expect(text({ wrapped: { toJSON: () => new Map([['a', 1n]]) } })).toBe('{"wrapped":{"a":"1"}}');
  });

  it('writes class instances and null-prototype objects by their fields, special values inside them too', () => {
    class Point {
      x = 1;
      at = new Map([['k', new Set([2])]]);
    }
    const bare = Object.assign(Object.create(null) as object, { e: new RangeError('r') });
    expect(text(new Point())).toBe('{"x":1,"at":{"k":[2]}}');
    expect(JSON.parse(text(bare))).toEqual({ e: { name: 'RangeError', message: 'r' } });
  });

  it('writes large messages by the same rules', () => {
    const numbers = Array.from({ length: 5_000 }, (_, i) => i);
    const rows = Array.from({ length: 500 }, (_, i) => ({ i }));
    expect(text({ numbers })).toBe(JSON.stringify({ numbers }));
    expect(text({ rows, tags: new Set(['a']), id: 7n })).toBe(JSON.stringify({ rows, tags: ['a'], id: '7' }));
    expect((JSON.parse(text({ numbers, error: new Error('late') })) as { error: unknown }).error).toEqual({ name: 'Error', message: 'late' });
  });

  it('writes a Buffer inside an object the way Buffer.toJSON does', () => {
    expect(text({ b: Buffer.from([7]) })).toBe('{"b":{"type":"Buffer","data":[7]}}');
  });
});

describe('serialize: what cannot be sent', () => {
  it('refuses a circular structure, with the cause', () => {
    const circular: Record<string, unknown> = { a: 1 };
    circular.self = { back: circular };
    const error = failure(circular);
    expect(error.name).toBe('SerializationError');
    expect(error.message).toMatch(/circular/i);
    expect(error.cause).toBeInstanceOf(TypeError);
  });

  it('refuses a large circular structure', () => {
    const root: Record<string, unknown> = { rows: Array.from({ length: 1_000 }, (_, i) => ({ i })) };
    root.again = [root];
    expect(failure(root).message).toMatch(/circular/i);
  });

  it('refuses a value whose toJSON throws, calling it once, with the thrown error as cause', () => {
    const thrown = new Error('toJSON exploded');
    let calls = 0;
    const error = failure({
      nested: {
        toJSON() {
          calls++;
          throw thrown;
        }
      }
    });
    expect(error.message).toContain('toJSON exploded');
    expect(error.cause).toBe(thrown);
    expect(calls).toBe(1);
  });

  it.each([
    ['undefined', undefined],
    ['function', () => 1],
    ['symbol', Symbol('s')]
  ])('refuses a %s, naming its type', (type, value) => {
    const error = failure(value);
    expect(error).toBeInstanceOf(Error);
    expect(error.message).toContain(type);
  });

  it.each([
    ['ArrayBuffer', (b: ArrayBuffer) => b],
    ['Uint8Array', (b: ArrayBuffer) => new Uint8Array(b)]
  ])('refuses a %s over a detached buffer, naming it', (name, view) => {
    const buffer = new ArrayBuffer(8);
    const value = view(buffer);
    structuredClone(buffer, { transfer: [buffer] });
    expect(failure(value).message).toBe(`Cannot send ${name} over a detached ArrayBuffer`);
  });

  it('refuses an object whose toJSON returns undefined', () => {
    expect(failure({ toJSON: () => undefined }).message).toContain('object');
  });
});
