/**
 * src/client/client-frames.ts: a server frame is believed only once it
 * matches the protocol (a binary frame, text that is not JSON or a frame
 * that breaks the schema is a protocol error, named; an unknown type is
 * ignored, section 2.3), a send frame's text, a b64 field's bytes, and the
 * client instance id (22 characters of [A-Za-z0-9_-], random).
 */
import { describe, expect, it } from 'vitest';
import { fromBase64, newClientId, readServerFrame, sendFrame } from '../../src/client/client-frames.js';

describe('readServerFrame', () => {
  it('names a binary frame, text that is not JSON, and a frame that breaks the schema (dotted path)', () => {
    expect(readServerFrame(Buffer.from('{}'))).toBe('a binary frame');
    expect(readServerFrame('{"type":')).toBe('a frame that is not JSON');
    expect(readServerFrame('{"type":"message","topic":"t","epoch":"e","offset":-1}')).toBe('message.offset -1 is below the minimum 1');
    expect(readServerFrame('{"type":"ack"}')).toMatch(/^ack /);
  });

  it('ignores a frame type it does not know (a newer server), or none', () => {
    for (const text of ['{"type":"later"}', '{"type":5}', '{}', 'null', '"ack"', '{"type":"hello"}']) expect(readServerFrame(text), text).toBeUndefined();
  });

  it('gives a frame that matches the protocol as it is', () => {
    const frames = [
      { type: 'ack', id: 3 },
      { type: 'pong' },
      { type: 'replayed', topic: 't', offset: 2 },
      { type: 'unsubscribed', topic: 'room:a' },
      { type: 'error', code: 'malformed', message: 'send.id 0 is below the minimum 1' },
      { type: 'message', topic: 't', epoch: 'e', offset: 1, data: { a: 1 } }
    ];
    for (const frame of frames) {
      expect(readServerFrame(JSON.stringify(frame))).toEqual(frame);
    }
  });
});

describe('the frames and ids a client makes', () => {
  it('writes a send frame with or without data', () => {
    expect(sendFrame(3, undefined)).toBe('{"type":"send","id":3}');
    expect(JSON.parse(sendFrame(4, '{"a":[1]}'))).toEqual({ type: 'send', id: 4, data: { a: [1] } });
  });

  it('reads a b64 field into its bytes', () => {
    expect([...fromBase64('AP+A')]).toEqual([0, 255, 128]);
    expect([...fromBase64('')]).toEqual([]);
  });

  it('makes instance ids of 22 characters of [A-Za-z0-9_-], each different, using the whole alphabet', () => {
    const ids = Array.from({ length: 200 }, newClientId);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(new Set(ids).size).toBe(ids.length);
    // 4,400 characters drawn from 64: every one appears (a miss has odds of about 64 * e^-69).
    expect(new Set(ids.join('')).size).toBe(64);
  });
});
