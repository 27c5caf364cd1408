/**
 * The protocol's schema (src/protocol/schema.ts): docs/protocol.schema.json
 * is written from it, and the checker the server parses with
 * (src/protocol/schema-check.ts) agrees with a full JSON Schema
 * implementation (Ajv, draft 2020-12) on frames of every type, well formed
 * and broken.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { schemaText, SCHEMA_FILE } from '../../scripts/protocol-schema.js';
import { SchemaChecker } from '../../src/protocol/schema-check.js';
import { PROTOCOL_SCHEMA } from '../../src/protocol/schema.js';

const SEED = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);

describe('protocol schema', () => {
  it('docs/protocol.schema.json is written from src/protocol/schema.ts (npm run protocol-schema)', () => {
    expect(readFileSync(SCHEMA_FILE, 'utf8')).toBe(schemaText());
  });

  it('the checker the server uses agrees with Ajv on every frame type, valid or broken', () => {
    const ajv = new Ajv2020({ strict: false });
    ajv.addSchema(PROTOCOL_SCHEMA, 'protocol');
    const refs = ['clientFrame', 'serverFrame', 'hello', 'send', 'welcome', 'recovery', 'message', 'error'].map((name) => `#/$defs/${name}`);
    const validators = new Map(refs.map((ref) => [ref, ajv.compile({ $ref: `protocol${ref}` })]));
    const checker = new SchemaChecker(PROTOCOL_SCHEMA);
    const name = fc.oneof(
      fc.string({ minLength: 0, maxLength: 3 }),
      fc.string({ unit: 'binary', minLength: 198, maxLength: 202 }),
      fc.constantFrom('user:€', 'broadcast')
    );
    const offset = fc.oneof(fc.integer({ min: -2, max: 5 }), fc.constantFrom(2 ** 53 - 1, 2 ** 53, 1.5), fc.constant('3'));
    const field = fc.oneof(name, offset, fc.boolean(), fc.constant(null), fc.constant([]), fc.dictionary(name, fc.record({ epoch: name, offset })));
    const type = fc.constantFrom('hello', 'send', 'ping', 'welcome', 'recovery', 'message', 'replayed', 'unsubscribed', 'ack', 'pong', 'error', 'nope');
    const keys = ['client', 'session', 'topics', 'id', 'data', 'b64', 'topic', 'epoch', 'offset', 'recovered', 'reason', 'resumed', 'ttlMs', 'heartbeatMs', 'version', 'limits', 'code', 'message'];
    const frame = fc
      .record({ type, fields: fc.dictionary(fc.constantFrom(...keys), field, { maxKeys: 8 }) })
      .map(({ type: t, fields }) => ({ type: t, ...fields }));
    console.log(`schema.test.ts: fast-check seed=${SEED} (replay with FC_SEED=${SEED})`);
    let valid = 0;
    fc.assert(
      fc.property(frame, fc.constantFrom(...refs), (value, ref) => {
        const ours = checker.check(value, ref) === undefined;
        const theirs = validators.get(ref)!(value);
        if (ours) valid++;
        expect(ours, `${ref} ${JSON.stringify(value)}`).toBe(theirs);
      }),
      { seed: SEED, numRuns: 3_000 }
    );
    // Both kinds were generated: a checker that refused everything would not pass.
    expect(valid).toBeGreaterThan(10);
  });

  it('names what is wrong and where', () => {
    const checker = new SchemaChecker(PROTOCOL_SCHEMA);
    expect(checker.check({ type: 'send', id: 0 }, '#/$defs/send')).toEqual({ path: '/id', message: '0 is below the minimum 1' });
    expect(checker.check({ type: 'hello', topics: { a: { epoch: 'e' } } }, '#/$defs/hello')?.path).toBe('/topics/a');
    expect(checker.check({ type: 'message', topic: 't', epoch: 'e', offset: 1, data: 1, b64: 'AA==' }, '#/$defs/message')).toBeDefined();
    expect(checker.check({ type: 'message', topic: 't', epoch: 'e', offset: 1, data: null }, '#/$defs/message')).toBeUndefined();
  });

  it('refuses a schema with a keyword it does not know when it is made, wherever the keyword is, not when a value first reaches it', () => {
    expect(() => new SchemaChecker({ $defs: { a: { properties: { b: { type: 'string', format: 'email' } } } } })).toThrow('Unsupported schema keyword format');
    expect(() => new SchemaChecker({ oneOf: [true, { not: { minItems: 1 } }] })).toThrow('Unsupported schema keyword minItems');
  });

  it('follows a $ref back to the node it is in (a recursive schema)', () => {
    const checker = new SchemaChecker({ $defs: { tree: { type: 'object', additionalProperties: { $ref: '#/$defs/tree' } } } });
    expect(checker.check({ a: { b: {} } }, '#/$defs/tree')).toBeUndefined();
    expect(checker.check({ a: { b: 1 } }, '#/$defs/tree')).toEqual({ path: '/a/b', message: '1 is number, expected object' });
  });

  it('refuses a name holding an unpaired surrogate (Redis stores names as UTF-8, where it reads as U+FFFD), as Ajv does; a pair is a character', () => {
    const checker = new SchemaChecker(PROTOCOL_SCHEMA);
    const ajv = new Ajv2020({ strict: false });
    ajv.addSchema(PROTOCOL_SCHEMA, 'protocol');
    const hello = ajv.compile({ $ref: 'protocol#/$defs/hello' });
    const refused = [
      { type: 'hello', topics: { 'room:\ud800': { epoch: 'e', offset: 0 } } },
      { type: 'hello', topics: { 'room:\udc00\ud800': { epoch: 'e', offset: 0 } } },
      { type: 'hello', topics: { room: { epoch: 'e\udbff', offset: 0 } } },
      { type: 'hello', session: '\ud83d' }
    ];
    for (const frame of refused) {
      expect(checker.check(frame, '#/$defs/hello'), JSON.stringify(frame)).toMatchObject({ message: expect.stringMatching(/does not match/) });
      expect(hello(frame)).toBe(false);
    }
    const paired = { type: 'hello', session: 's', topics: { 'room:\ud83d\ude00': { epoch: '\ud83d\ude00', offset: 0 } } };
    expect(checker.check(paired, '#/$defs/hello')).toBeUndefined();
    expect(hello(paired)).toBe(true);
  });
});
