/**
 * src/protocol/session-protocol.ts: what the server makes of a client's
 * text frame (a typed frame, or a ProtocolError naming what is wrong and
 * where, with the close code), the message frame it writes for a topic
 * message (a stored JSON payload spliced in, a binary one as base64, in
 * Node and in a browser), and the close codes docs/protocol.md section 7
 * lists.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  encodeFrame,
  FINAL_CLOSE_CODES,
  MAX_ERROR_MESSAGE_LENGTH,
  messageFrame,
  parseClientFrame,
  ProtocolError,
  SESSION_CLOSE_CODES,
  SESSION_PROTOCOL,
  SLOW_RETRY_CODES
} from '../../src/protocol/session-protocol.js';

/** The refusal's code, message and close code, or the frame when it parsed. */
function parsed(text: string): unknown {
  const result = parseClientFrame(text);
  return result instanceof ProtocolError ? { code: result.code, message: result.message, closeCode: result.closeCode } : result;
}

const malformed = (message: string): unknown => ({ code: 'malformed', message, closeCode: SESSION_CLOSE_CODES.PROTOCOL_ERROR });

describe('parseClientFrame', () => {
  it('refuses text that is not a JSON object, closing with 4400', () => {
    expect(parsed('{"type":')).toEqual(malformed('frame is not JSON'));
    for (const text of ['[]', '[{"type":"ping"}]', 'null', '1', '"ping"', 'true']) {
      expect(parsed(text), text).toEqual(malformed('frame is not a JSON object'));
    }
  });

  it('refuses a type a client does not send, naming it by its JSON type and size only (a token may be there)', () => {
    expect(parsed('{}')).toEqual(malformed('unknown frame type: undefined (a client sends hello, send or ping)'));
    expect(parsed('{"type":5}')).toEqual(malformed('unknown frame type: 5 (a client sends hello, send or ping)'));
    // A server's frame type, and one that names an Object.prototype member: neither is a client frame.
    expect(parsed('{"type":"welcome"}')).toEqual(malformed('unknown frame type: a string of 7 characters (a client sends hello, send or ping)'));
    expect(parsed('{"type":"toString"}')).toEqual(malformed('unknown frame type: a string of 8 characters (a client sends hello, send or ping)'));
    const token = 'secret-token-0123456789';
    const refusal = parseClientFrame(JSON.stringify({ type: token }));
    expect(refusal).toBeInstanceOf(ProtocolError);
    expect((refusal as ProtocolError).message).not.toContain('secret');
  });

  it('checks each type against its schema and names the field, dotted, with the type first', () => {
    expect(parsed('{"type":"send","id":0}')).toEqual(malformed('send.id 0 is below the minimum 1'));
    expect(parsed('{"type":"hello","topics":{"a":{"epoch":"e","offset":-1}}}')).toEqual(
      malformed('hello.topics.(a string of 1 character).offset -1 is below the minimum 0')
    );
    // A ping is checked as a ping, not as a hello or a send.
    expect(parsed('{"type":"ping","id":0}')).toEqual({ type: 'ping' });
  });

  it('gives a send its id and data, null when absent', () => {
    expect(parsed('{"type":"send","id":1}')).toEqual({ type: 'send', id: 1, data: null });
    expect(parsed('{"type":"send","id":7,"data":{"a":[1,"b"]}}')).toEqual({ type: 'send', id: 7, data: { a: [1, 'b'] } });
    expect(parsed('{"type":"send","id":2,"data":false}')).toEqual({ type: 'send', id: 2, data: false });
  });

  it('gives a ping and a hello only the fields the protocol defines; null optional fields are absent (section 2.2)', () => {
    expect(parsed('{"type":"ping"}')).toEqual({ type: 'ping' });
    expect(parsed('{"type":"hello"}')).toStrictEqual({ type: 'hello' });
    expect(parsed('{"type":"hello","client":null,"session":null,"topics":null}')).toStrictEqual({ type: 'hello' });
    const hello = { type: 'hello', client: 'c1', session: 's1', topics: { a: { epoch: 'e', offset: 1 } } };
    expect(parsed(JSON.stringify(hello))).toStrictEqual(hello);
  });
});

describe('ProtocolError', () => {
  it('closes with 4400 unless told otherwise, and keeps its message within MAX_ERROR_MESSAGE_LENGTH', () => {
    const error = new ProtocolError('too_large', 'x'.repeat(MAX_ERROR_MESSAGE_LENGTH));
    expect(error).toMatchObject({ name: 'ProtocolError', code: 'too_large', closeCode: 4400, message: 'x'.repeat(MAX_ERROR_MESSAGE_LENGTH) });
    const long = new ProtocolError('forbidden', 'y'.repeat(MAX_ERROR_MESSAGE_LENGTH + 1), SESSION_CLOSE_CODES.FORBIDDEN);
    expect(long.closeCode).toBe(4403);
    expect(long.message).toBe(`${'y'.repeat(MAX_ERROR_MESSAGE_LENGTH - 3)}...`);
    expect(long.message).toHaveLength(MAX_ERROR_MESSAGE_LENGTH);
  });
});

describe('frames the server writes', () => {
  it('splices a stored JSON payload into the message frame, which parses back to it', () => {
    const frame = messageFrame('room:"a"', 'e1', 3, '{"text":"hi","n":[1,2]}');
    expect(JSON.parse(frame)).toEqual({ type: 'message', topic: 'room:"a"', epoch: 'e1', offset: 3, data: { text: 'hi', n: [1, 2] } });
    expect(encodeFrame({ type: 'replayed', topic: 't', offset: 2 })).toBe('{"type":"replayed","topic":"t","offset":2}');
  });

  it('sends a binary payload as standard base64 with padding, a Buffer or only the bytes of a view', () => {
    expect(JSON.parse(messageFrame('t', 'e', 1, Buffer.from([0xfb, 0xff])))).toEqual({ type: 'message', topic: 't', epoch: 'e', offset: 1, b64: '+/8=' });
    // A view into a larger buffer: its own bytes, not the whole buffer's.
    const view = new Uint8Array([9, 9, 0xfb, 0xff, 0x00, 9]).subarray(2, 5);
    expect(JSON.parse(messageFrame('t', 'e', 2, view))).toMatchObject({ b64: '+/8A' });
  });

  describe('in a browser (no Buffer)', () => {
    afterEach(() => {
      vi.unstubAllGlobals();
      vi.resetModules();
    });

    it('encodes the same base64 with btoa', async () => {
      vi.resetModules();
      vi.stubGlobal('Buffer', undefined);
      const browser = await import('../../src/protocol/session-protocol.js');
      const view = new Uint8Array([9, 0xfb, 0xff, 0x00, 0x41, 9]).subarray(1, 5);
      expect(JSON.parse(browser.messageFrame('t', 'e', 1, view))).toMatchObject({ b64: '+/8AQQ==' });
    });
  });
});

describe('the subprotocol and close codes (docs/protocol.md sections 1.1 and 7)', () => {
  it('a session client asks for ws-lifecycle.v1', () => {
    expect(SESSION_PROTOCOL).toBe('ws-lifecycle.v1');
  });

  it('a client stops after a final code, waits longer after a slow-retry one, and retries any other', () => {
    expect(SESSION_CLOSE_CODES).toEqual({ PROTOCOL_ERROR: 4400, FORBIDDEN: 4403, HELLO_TIMEOUT: 4408 });
    expect([...FINAL_CLOSE_CODES].sort()).toEqual([1002, 1003, 1007, 1008, 1009, 1010, 4400, 4403]);
    expect([...SLOW_RETRY_CODES].sort()).toEqual([1012, 1013]);
    // The hello timeout and a going-away are retried.
    expect(FINAL_CLOSE_CODES.has(4408) || FINAL_CLOSE_CODES.has(1001)).toBe(false);
  });
});
