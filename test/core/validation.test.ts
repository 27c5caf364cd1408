import { describe, expect, it } from 'vitest';
import { MAX_TIMER_MS, assertCloseArgs, assertDuration, assertNumberOption, isValidCloseCode } from '../../src/core/validation.js';

describe('isValidCloseCode (RFC 6455 section 7.4)', () => {
  it.each([1000, 1001, 1002, 1003, 1007, 1008, 1011, 1014, 3000, 3999, 4000, 4999])('accepts %d', (code) => {
    expect(isValidCloseCode(code)).toBe(true);
    expect(() => assertCloseArgs(code, '')).not.toThrow();
  });

  // 1004 reserved; 1005, 1006 and 1015 must never be sent in a close frame.
  it.each([0, -1000, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535, 1000.5, 3000.1, Number.NaN, Infinity, -Infinity])(
    'refuses %d, and assertCloseArgs names it',
    (code) => {
      expect(isValidCloseCode(code)).toBe(false);
      expect(() => assertCloseArgs(code, '')).toThrow(RangeError);
      expect(() => assertCloseArgs(code, '')).toThrow(`Invalid close code: ${String(code)}`);
    }
  );

  it.each([['1000'], [null], [undefined], [1000n], [{ valueOf: (): number => 1000 }]])('refuses the non-number %s', (code) => {
    expect(() => assertCloseArgs(code, '')).toThrow(RangeError);
  });
});

describe('assertCloseArgs: the reason', () => {
  it.each([
    ['123 ASCII bytes', 'a'.repeat(123)],
    ['61 two-byte chars + 1 byte = 123 bytes', 'é'.repeat(61) + 'a'],
    ['41 three-byte chars = 123 bytes', '€'.repeat(41)],
    ['30 four-byte chars + 3 bytes = 123 bytes', '🎉'.repeat(30) + 'abc'],
    ['empty', '']
  ])('accepts %s', (_name, reason) => {
    expect(Buffer.byteLength(reason)).toBeLessThanOrEqual(123);
    expect(() => assertCloseArgs(1000, reason)).not.toThrow();
  });

  it.each([
    ['124 ASCII bytes', 'a'.repeat(124)],
    ['62 two-byte chars = 124 bytes (62 characters)', 'é'.repeat(62)],
    ['41 three-byte chars + 1 byte = 124 bytes', '€'.repeat(41) + 'a'],
    ['31 four-byte chars = 124 bytes', '🎉'.repeat(31)]
  ])('refuses %s, naming its length in bytes', (_name, reason) => {
    expect(Buffer.byteLength(reason)).toBe(124);
    expect(() => assertCloseArgs(1000, reason)).toThrow(RangeError);
    expect(() => assertCloseArgs(1000, reason)).toThrow('124 bytes long, at most 123 allowed');
  });

  it.each([[undefined], [null], [42], [Buffer.from('x')]])('refuses the non-string reason %s', (reason) => {
    expect(() => assertCloseArgs(1000, reason)).toThrow(RangeError);
    expect(() => assertCloseArgs(1000, reason)).toThrow(`got ${typeof reason}`);
  });
});

describe('assertNumberOption', () => {
  it.each([
    [0, 0],
    [1, 1],
    [5, 1],
    [Infinity, 1],
    [0.5, 0]
  ])('accepts %d with min %d', (value, min) => {
    expect(() => assertNumberOption('someOption', value, min)).not.toThrow();
  });

  it.each([
    [0, 1],
    [-1, 0],
    [Number.NaN, 0],
    [-Infinity, 0],
    ['5', 0],
    [undefined, 0],
    [null, 0]
  ])('refuses %s with min %d, naming the option and the value', (value, min) => {
    expect(() => assertNumberOption('someOption', value, min)).toThrow(RangeError);
    expect(() => assertNumberOption('someOption', value, min)).toThrow(`Invalid option someOption: ${String(value)}`);
  });
});

describe('assertDuration: what a timer can wait (#25)', () => {
  it.each([1, 1.5, 1_000, MAX_TIMER_MS])('accepts %d ms', (value) => {
    expect(() => assertDuration('someTimeoutMs', value)).not.toThrow();
  });

  it('accepts 0 only where the option says what 0 means, and names it in the message otherwise', () => {
    expect(() => assertDuration('heartbeatIntervalMs', 0, 'off')).not.toThrow();
    expect(() => assertDuration('closeTimeoutMs', 0)).toThrow(
      new RangeError(`Invalid option closeTimeoutMs: 0 (expected milliseconds from 1 to ${MAX_TIMER_MS})`)
    );
  });

  // Node keeps no delay over 2^31 - 1 ms: a longer one, Infinity too, fires after 1 ms.
  it.each([MAX_TIMER_MS + 1, 3e9, Infinity, -1, 0.5, Number.NaN, -Infinity, '1000', null, undefined, 1000n])(
    'refuses %s, naming the option, the value and the range',
    (value) => {
      expect(() => assertDuration('heartbeatIntervalMs', value, 'off')).toThrow(
        new RangeError(`Invalid option heartbeatIntervalMs: ${String(value)} (expected milliseconds from 1 to ${MAX_TIMER_MS}, or 0 (off))`)
      );
    }
  );
});
