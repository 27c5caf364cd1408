/**
 * Checks a value against a JSON Schema (draft 2020-12), the subset the
 * protocol's schema uses: `type`, `const`, `enum`, `minLength`/`maxLength`
 * (in code points, as JSON Schema counts), `minimum`/`maximum`, `pattern`,
 * `required`, `properties`, `additionalProperties`, `propertyNames`,
 * `items`, `uniqueItems`, `oneOf`, `not`, `if`/`then`/`else` and local
 * `$ref`s. The server parses client frames with it and the conformance
 * tools check server frames with it, so both read the one schema in
 * docs/protocol.schema.json (src/protocol/schema.ts). Never throws on the
 * value; a keyword it does not know in the schema is a bug here, and throws.
 */

export type Schema = boolean | SchemaObject;

export interface SchemaObject {
  $ref?: string;
  type?: 'string' | 'number' | 'integer' | 'boolean' | 'object' | 'array' | 'null';
  const?: unknown;
  enum?: readonly unknown[];
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  pattern?: string;
  required?: readonly string[];
  properties?: Readonly<Record<string, Schema>>;
  additionalProperties?: Schema;
  propertyNames?: Schema;
  items?: Schema;
  uniqueItems?: boolean;
  oneOf?: readonly Schema[];
  not?: Schema;
  if?: Schema;
  then?: Schema;
  else?: Schema;
  $defs?: Readonly<Record<string, Schema>>;
  [annotation: string]: unknown;
}

/** Why a value does not match: where (a JSON pointer into the value) and what. */
export interface SchemaError {
  path: string;
  message: string;
}

const KNOWN = new Set([
  '$ref', 'type', 'const', 'enum', 'minLength', 'maxLength', 'minimum', 'maximum', 'pattern', 'required', 'properties',
  'additionalProperties', 'propertyNames', 'items', 'uniqueItems', 'oneOf', 'not', 'if', 'then', 'else',
  '$defs', '$schema', '$id', 'title', 'description'
]);

/** How an error message names a value it refuses: {@link shown} or {@link described}. */
export type ValueNamer = (value: unknown) => string;

/**
 * A value as an error message shows it: short, whatever it holds. Never
 * throws and never recurses without bound: a value nested deeper than
 * `JSON.stringify` goes (a hostile frame) is named by its type.
 */
export function shown(value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    // Too deep, or not JSON: its type says enough.
  }
  text ??= typeof value === 'object' && value !== null ? (Array.isArray(value) ? '[an array]' : '{an object}') : typeof value;
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

/**
 * A value as an error message names it when the value may hold a secret
 * (a session token wrapped, padded or misplaced in a hello, whose error
 * goes to the log, the audit trail and the close reason): by its JSON type
 * and size, never by its text. A number, a boolean or null is shown: none
 * can hold a token.
 */
export function described(value: unknown): string {
  if (typeof value === 'string') return `a string of ${counted(codePoints(value, Infinity), 'character')}`;
  if (Array.isArray(value)) return `an array of ${counted(value.length, 'item')}`;
  if (typeof value === 'object' && value !== null) return `an object of ${counted(Object.keys(value).length, 'member')}`;
  return shown(value);
}

function counted(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function hasType(value: unknown, type: NonNullable<SchemaObject['type']>): boolean {
  switch (type) {
    case 'integer':
      return Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'array':
      return Array.isArray(value);
    case 'null':
      return value === null;
    default:
      return typeof value === type;
  }
}

/** Code points, as JSON Schema counts a string's length; stops counting past `limit`. */
function codePoints(text: string, limit: number): number {
  if (text.length <= limit) {
    let count = 0;
    for (let i = 0; i < text.length; i++) {
      const unit = text.charCodeAt(i);
      if (unit < 0xdc00 || unit > 0xdfff || i === 0 || text.charCodeAt(i - 1) < 0xd800 || text.charCodeAt(i - 1) > 0xdbff) count++;
    }
    return count;
  }
  let count = 0;
  for (const _ of text) if (++count > limit) break;
  return count;
}

/** `const` and `enum` equality; the protocol's are all plain values, and an object never equals one. */
function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  try {
    return JSON.stringify(a) === JSON.stringify(b);
  } catch {
    return false;
  }
}

export class SchemaChecker {
  readonly #root: SchemaObject;
  readonly #patterns = new Map<string, RegExp>();
  readonly #name: ValueNamer;

  /**
   * @param {SchemaObject} root The schema
   * @param {ValueNamer} [name] How messages name a refused value, and a member name that is the value's own (a topic
   *   key) in a path: {@link shown} by default, {@link described} for what may hold a secret
   */
  constructor(root: SchemaObject, name: ValueNamer = shown) {
    this.#root = root;
    this.#name = name;
  }

  /**
   * @param {unknown} value A parsed JSON value
   * @param {string} ref Where in the root schema to check it against, e.g. `#/$defs/clientFrame`
   * @returns {SchemaError | undefined} The first mismatch, or `undefined` when the value matches
   */
  check(value: unknown, ref: string): SchemaError | undefined {
    return this.#check(value, { $ref: ref }, '');
  }

  #resolve(ref: string): Schema {
    if (!ref.startsWith('#/')) throw new Error(`Unsupported $ref ${ref}`);
    let node: unknown = this.#root;
    for (const part of ref.slice(2).split('/')) node = (node as Record<string, unknown>)[part];
    if (node === undefined) throw new Error(`Unresolved $ref ${ref}`);
    return node as Schema;
  }

  #check(value: unknown, schema: Schema, path: string): SchemaError | undefined {
    if (schema === true) return undefined;
    if (schema === false) return { path, message: 'is not allowed' };
    for (const key of Object.keys(schema)) if (!KNOWN.has(key)) throw new Error(`Unsupported schema keyword ${key}`);
    if (schema.$ref !== undefined) {
      const error = this.#check(value, this.#resolve(schema.$ref), path);
      if (error) return error;
    }
    if (schema.type !== undefined && !hasType(value, schema.type)) return { path, message: `${this.#name(value)} is ${typeOf(value)}, expected ${schema.type}` };
    if ('const' in schema && !equal(value, schema.const)) return { path, message: `${this.#name(value)} is not ${shown(schema.const)}` };
    if (schema.enum !== undefined && !schema.enum.some((option) => equal(value, option))) {
      return { path, message: `${this.#name(value)} is not one of ${schema.enum.map(shown).join(', ')}` };
    }
    if (typeof value === 'string') {
      const error = this.#string(value, schema, path);
      if (error) return error;
    }
    if (typeof value === 'number') {
      if (schema.minimum !== undefined && value < schema.minimum) return { path, message: `${value} is below the minimum ${schema.minimum}` };
      if (schema.maximum !== undefined && value > schema.maximum) return { path, message: `${value} is above the maximum ${schema.maximum}` };
    }
    if (hasType(value, 'object')) {
      const error = this.#object(value as Record<string, unknown>, schema, path);
      if (error) return error;
    }
    if (Array.isArray(value)) {
      const error = this.#array(value, schema, path);
      if (error) return error;
    }
    return this.#combined(value, schema, path);
  }

  #string(value: string, schema: SchemaObject, path: string): SchemaError | undefined {
    if (schema.minLength !== undefined && codePoints(value, schema.minLength) < schema.minLength) {
      return { path, message: `${this.#name(value)} is shorter than ${schema.minLength} characters` };
    }
    if (schema.maxLength !== undefined && codePoints(value, schema.maxLength) > schema.maxLength) {
      return { path, message: `${this.#name(value)} is longer than ${schema.maxLength} characters` };
    }
    if (schema.pattern !== undefined) {
      let pattern = this.#patterns.get(schema.pattern);
      if (pattern === undefined) this.#patterns.set(schema.pattern, (pattern = new RegExp(schema.pattern, 'u')));
      if (!pattern.test(value)) return { path, message: `${this.#name(value)} does not match ${schema.pattern}` };
    }
    return undefined;
  }

  #object(value: Record<string, unknown>, schema: SchemaObject, path: string): SchemaError | undefined {
    for (const name of schema.required ?? []) {
      if (!Object.hasOwn(value, name)) return { path, message: `has no ${name}` };
    }
    const properties = schema.properties ?? {};
    for (const [name, member] of Object.entries(value)) {
      // A name the schema declares is the schema's; any other is the value's own (a topic), named as values are.
      const at = `${path}/${Object.hasOwn(properties, name) || this.#name === shown ? name : `(${this.#name(name)})`}`;
      if (schema.propertyNames !== undefined) {
        const error = this.#check(name, schema.propertyNames, at);
        if (error) return { path: at, message: `name ${error.message}` };
      }
      const own = Object.hasOwn(properties, name) ? properties[name] : schema.additionalProperties;
      if (own !== undefined) {
        const error = this.#check(member, own, at);
        if (error) return error;
      }
    }
    return undefined;
  }

  #array(value: unknown[], schema: SchemaObject, path: string): SchemaError | undefined {
    if (schema.items !== undefined) {
      for (let i = 0; i < value.length; i++) {
        const error = this.#check(value[i], schema.items, `${path}/${i}`);
        if (error) return error;
      }
    }
    if (schema.uniqueItems === true) {
      let seen: Set<string | undefined>;
      try {
        seen = new Set(value.map((item) => JSON.stringify(item)));
      } catch {
        return { path, message: 'holds an item too deep to compare' };
      }
      if (seen.size !== value.length) return { path, message: 'holds an item twice' };
    }
    return undefined;
  }

  #combined(value: unknown, schema: SchemaObject, path: string): SchemaError | undefined {
    if (schema.oneOf !== undefined) {
      const errors = schema.oneOf.map((option) => this.#check(value, option, path));
      const matched = errors.filter((error) => error === undefined).length;
      if (matched === 0) return errors.find((error) => error !== undefined && error.path !== path) ?? errors[0];
      if (matched > 1) return { path, message: 'matches more than one of its forms' };
    }
    if (schema.not !== undefined && this.#check(value, schema.not, path) === undefined) return { path, message: 'has a form that is not allowed' };
    if (schema.if !== undefined) {
      const branch = this.#check(value, schema.if, path) === undefined ? schema.then : schema.else;
      if (branch !== undefined) return this.#check(value, branch, path);
    }
    return undefined;
  }
}
