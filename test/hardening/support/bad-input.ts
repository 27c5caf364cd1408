/**
 * fast-check arbitraries for input a server must survive: frames that break
 * RFC 6455, requests that are not a WebSocket upgrade, messages that cannot
 * be serialized, close arguments that are not allowed.
 */
import fc from 'fast-check';
import { encodeFrame, upgradeRequest } from './raw-client.js';

/** A frame sequence breaking one rule, and the close code ws answers with. */
export interface BadFrame {
  kind: string;
  bytes: Buffer;
  /** 1002 protocol error, 1007 invalid payload data, 1009 message too big. */
  code: number;
}

const maskKey = fc.uint8Array({ minLength: 4, maxLength: 4 });
const text = fc.string({ unit: 'grapheme', maxLength: 20 });
const bytes = (maxLength: number) => fc.uint8Array({ maxLength });
const concat = (...frames: Buffer[]) => Buffer.concat(frames);

/** Byte sequences that are not UTF-8: bad lead bytes, overlong, surrogate, too high, truncated. */
const INVALID_UTF8 = [
  [0xff], [0xfe], [0x80], [0xc0, 0x80], [0xc1, 0xbf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0xf8, 0x88, 0x80, 0x80, 0x80]
];

/** Close codes a peer may not send (ws accepts 1000-1003, 1007-1014, 3000-4999). */
const invalidCloseCode = fc.oneof(
  fc.integer({ min: 0, max: 999 }),
  fc.constantFrom(1004, 1005, 1006, 1015),
  fc.integer({ min: 1016, max: 2999 }),
  fc.integer({ min: 5000, max: 0xffff })
);

/**
 * Every kind of bad frame, for a server whose `maxPayload` is `maxPayload`.
 *
 * @param {number} maxPayload The server's limit, in bytes
 * @returns {fc.Arbitrary<BadFrame>} One bad frame sequence
 */
export function badFrame(maxPayload: number): fc.Arbitrary<BadFrame> {
  return fc.oneof(
    fc.record({ opcode: fc.constantFrom(3, 4, 5, 6, 7, 11, 12, 13, 14, 15), payload: bytes(125), mask: maskKey }).map((f) => ({
      kind: `invalid opcode ${f.opcode}`,
      bytes: encodeFrame(f),
      code: 1002
    })),
    fc.record({ opcode: fc.constantFrom(1, 2, 9, 10), body: text }).map(({ opcode, body }) => ({
      kind: `unmasked opcode ${opcode}`,
      bytes: encodeFrame({ opcode, payload: Buffer.from(body), mask: null }),
      code: 1002
    })),
    fc
      .record({ before: text, bad: fc.constantFrom(...INVALID_UTF8), after: text, fragmented: fc.boolean(), mask: maskKey })
      .map(({ before, bad, after, fragmented, mask }) => {
        const payload = Buffer.concat([Buffer.from(before), Buffer.from(bad), Buffer.from(after)]);
        const cut = payload.length >> 1;
        return {
          kind: `invalid UTF-8 ${Buffer.from(bad).toString('hex')}${fragmented ? ' across fragments' : ''}`,
          bytes: fragmented
            ? concat(
              encodeFrame({ opcode: 1, fin: false, payload: payload.subarray(0, cut), mask }),
              encodeFrame({ opcode: 0, payload: payload.subarray(cut), mask })
            )
            : encodeFrame({ opcode: 1, payload, mask }),
          code: 1007
        };
      }),
    fc.record({ bad: fc.constantFrom(...INVALID_UTF8), mask: maskKey }).map(({ bad, mask }) => ({
      kind: 'invalid UTF-8 in a close reason',
      bytes: encodeFrame({ opcode: 8, payload: Buffer.from([0x03, 0xe8, ...bad]), mask }),
      code: 1007
    })),
    fc.record({ opcode: fc.constantFrom(8, 9, 10), length: fc.integer({ min: 126, max: 1_000 }), mask: maskKey }).map(({ opcode, length, mask }) => ({
      kind: `control frame ${opcode} of ${length} bytes`,
      bytes: encodeFrame({ opcode, payload: Buffer.alloc(length, 0x61), mask }),
      code: 1002
    })),
    fc.record({ opcode: fc.constantFrom(1, 2), declared: fc.integer({ min: maxPayload + 1, max: 2 ** 40 }), sent: bytes(64) })
      .map(({ opcode, declared, sent }) => ({
        kind: `frame declaring ${declared} bytes`,
        bytes: encodeFrame({ opcode, payload: sent, declaredLength: declared }),
        code: 1009
      })),
    fc.integer({ min: 1, max: maxPayload }).map((first) => ({
      kind: `fragments adding up to ${maxPayload + 1} bytes`,
      bytes: concat(
        encodeFrame({ opcode: 2, fin: false, payload: Buffer.alloc(first) }),
        encodeFrame({ opcode: 0, payload: Buffer.alloc(maxPayload + 1 - first) })
      ),
      code: 1009
    })),
    fc.record({ rsv: fc.integer({ min: 1, max: 7 }), body: text }).map(({ rsv, body }) => ({
      kind: `reserved bits ${rsv}`,
      bytes: encodeFrame({ opcode: 1, rsv, payload: Buffer.from(body) }),
      code: 1002
    })),
    fc.record({ opcode: fc.constantFrom(8, 9, 10), payload: bytes(10) }).map(({ opcode, payload }) => ({
      kind: `fragmented control frame ${opcode}`,
      bytes: encodeFrame({ opcode, fin: false, payload: opcode === 8 ? Buffer.from([0x03, 0xe8]) : payload }),
      code: 1002
    })),
    bytes(20).map((payload) => ({ kind: 'continuation with nothing to continue', bytes: encodeFrame({ opcode: 0, payload }), code: 1002 })),
    fc.record({ opcode: fc.constantFrom(1, 2), body: text }).map(({ opcode, body }) => ({
      kind: 'new message inside a fragmented one',
      bytes: concat(encodeFrame({ opcode: 1, fin: false, payload: Buffer.from('part') }), encodeFrame({ opcode, payload: Buffer.from(body) })),
      code: 1002
    })),
    invalidCloseCode.map((code) => {
      const payload = Buffer.alloc(2);
      payload.writeUInt16BE(code);
      return { kind: `close frame with code ${code}`, bytes: encodeFrame({ opcode: 8, payload }), code: 1002 };
    }),
    fc.constant({ kind: 'close frame of 1 byte', bytes: encodeFrame({ opcode: 8, payload: Buffer.from([0x03]) }), code: 1002 })
  );
}

/** Bytes that are not a valid WebSocket upgrade, and the HTTP status the server answers. */
export interface BadRequest {
  kind: string;
  bytes: Buffer;
  status: number;
}

/**
 * Requests that must be refused before any connection exists.
 *
 * @param {number} port The server's port, for the Host header
 * @returns {fc.Arbitrary<BadRequest>} One request
 */
export function badRequest(port: number): fc.Arbitrary<BadRequest> {
  const upgrade = (overrides: Record<string, string>) => Buffer.from(upgradeRequest(port, overrides), 'latin1');
  return fc.oneof(
    // Not even a method: the HTTP parser gives up at the first byte.
    fc.tuple(fc.integer({ min: 0x80, max: 0xff }), bytes(200)).map(([first, rest]) => ({
      kind: 'binary garbage',
      bytes: Buffer.from([first, ...rest]),
      status: 400
    })),
    fc.constant({ kind: 'plain GET', bytes: Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'), status: 426 }),
    fc.constantFrom('', '7', '12', '14', 'thirteen').map((version) => ({
      kind: `Sec-WebSocket-Version '${version}'`,
      bytes: upgrade({ 'Sec-WebSocket-Version': version }),
      status: 400
    })),
    fc
      .oneof(fc.constant(''), bytes(40).filter((key) => key.length !== 16).map((key) => Buffer.from(key).toString('base64')))
      .filter((key) => !/^[+/0-9A-Za-z]{22}==$/.test(key))
      .map((key) => ({ kind: `Sec-WebSocket-Key '${key}'`, bytes: upgrade({ 'Sec-WebSocket-Key': key }), status: 400 })),
    fc.constantFrom('h2c', 'websocketx', 'TLS/1.0').map((protocol) => ({ kind: `Upgrade: ${protocol}`, bytes: upgrade({ Upgrade: protocol }), status: 400 }))
  );
}

/** Detach an ArrayBuffer, as `postMessage(buf, [buf])` does. */
function detach(buffer: ArrayBuffer): void {
  structuredClone(buffer, { transfer: [buffer] });
}

/**
 * Messages the API cannot turn into a frame: top-level `undefined`,
 * functions and symbols, cycles, a throwing `toJSON` or getter at any depth,
 * bytes over a detached buffer.
 *
 * @returns {fc.Arbitrary<unknown>} One such message
 */
export function unserializable(): fc.Arbitrary<unknown> {
  const container = fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 });
  const key = fc.string({ minLength: 1, maxLength: 8 });
  return fc.oneof(
    fc.constant(undefined),
    fc.string().map((name) => Symbol(name)),
    fc.constant(() => 'function'),
    fc.tuple(container, key).map(([base, k]) => {
      const root: Record<string, unknown> = { ...base };
      root[k] = { nested: [root] };
      return root;
    }),
    fc.tuple(container, key, fc.string()).map(([base, k, message]) => ({
      ...base,
      [k]: [{ toJSON: () => { throw new Error(message); } }]
    })),
    fc.tuple(container, key, fc.string()).map(([base, k, message]) =>
      Object.defineProperty({ ...base }, k, { enumerable: true, get: () => { throw new Error(message); } })
    ),
    fc.tuple(fc.constantFrom('ArrayBuffer', 'Uint8Array', 'DataView'), fc.integer({ min: 0, max: 64 })).map(([kind, length]) => {
      const buffer = new ArrayBuffer(length);
      const message = kind === 'ArrayBuffer' ? buffer : kind === 'Uint8Array' ? new Uint8Array(buffer) : new DataView(buffer);
      detach(buffer);
      return message;
    })
  );
}

/** Close codes that are not allowed, and values that are not codes at all. */
export const invalidCloseCodes: fc.Arbitrary<unknown> = fc.oneof(
  invalidCloseCode,
  fc.integer().filter((code) => !((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999))),
  fc.double().filter((code) => !Number.isInteger(code)),
  fc.constantFrom(NaN, Infinity, -Infinity, 1000.5, '1000', null, true, {}, 1000n)
);

/** Close reasons over 123 bytes of UTF-8, and values that are not strings. */
export const invalidCloseReasons: fc.Arbitrary<unknown> = fc.oneof(
  fc.tuple(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.integer({ min: 1, max: 200 })).map(([head, extra]) => {
    const padding = 'é'.repeat(Math.max(0, Math.ceil((124 - Buffer.byteLength(head)) / 2)) + extra);
    return head + padding;
  }),
  fc.constantFrom(123, null, ['reason'], { reason: 'x' }, Symbol('reason'))
);
