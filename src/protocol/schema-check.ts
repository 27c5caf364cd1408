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

/** Where in the value a check is: a JSON pointer, or `null` in a first pass that only asks whether the value matches. */
type Path = string | null;

interface Mismatch {
  path: Path;
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

/** A compiled schema node: the first mismatch of a value at `path`, or `undefined`. */
type Check = (value: unknown, path: Path) => Mismatch | undefined;

const MATCHES: Check = () => undefined;

/** Runs `steps` in order and returns the first mismatch. */
function allOf(steps: readonly Check[]): Check {
  if (steps.length === 0) return MATCHES;
  if (steps.length === 1) return steps[0]!;
  return (value, path) => {
    for (const step of steps) {
      const error = step(value, path);
      if (error) return error;
    }
    return undefined;
  };
}

/**
 * Each schema node is compiled once, on first use, into a closure that
 * tests only the keywords it has: the client checks every frame it reads,
 * and walking every keyword of every node per value made a message frame's
 * check 3.3 us (the sessions benchmark's client spent half its time there);
 * compiled, with paths built only for a value that does not match, it is
 * about 0.2 us.
 */
export class SchemaChecker {
  readonly #root: SchemaObject;
  readonly #name: ValueNamer;
  readonly #compiled = new Map<Schema, Check>();
  readonly #refs = new Map<string, Check>();

  /**
   * @param {SchemaObject} root The schema
   * @param {ValueNamer} [name] How messages name a refused value, and a member name that is the value's own (a topic
   *   key) in a path: {@link shown} by default, {@link described} for what may hold a secret
   */
  constructor(root: SchemaObject, name: ValueNamer = shown) {
    vet(root);
    this.#root = root;
    this.#name = name;
  }

  /**
   * @param {unknown} value A parsed JSON value
   * @param {string} ref Where in the root schema to check it against, e.g. `#/$defs/clientFrame`
   * @returns {SchemaError | undefined} The first mismatch, or `undefined` when the value matches
   */
  check(value: unknown, ref: string): SchemaError | undefined {
    let check = this.#refs.get(ref);
    if (check === undefined) this.#refs.set(ref, (check = this.#compile(this.#resolve(ref))));
    // Most values match: a first pass builds no paths, and only a value that does not is checked again to say where.
    if (check(value, null) === undefined) return undefined;
    return check(value, '') as SchemaError;
  }

  #resolve(ref: string): Schema {
    if (!ref.startsWith('#/')) throw new Error(`Unsupported $ref ${ref}`);
    let node: unknown = this.#root;
    for (const part of ref.slice(2).split('/')) node = (node as Record<string, unknown>)[part];
    if (node === undefined) throw new Error(`Unresolved $ref ${ref}`);
    return node as Schema;
  }

  #compile(schema: Schema): Check {
    const known = this.#compiled.get(schema);
    if (known !== undefined) return known;
    // A $ref back to a node being compiled gets this, which finds the node built by the time a value comes.
    this.#compiled.set(schema, (value, path) => this.#compiled.get(schema)!(value, path));
    const built = this.#build(schema);
    this.#compiled.set(schema, built);
    return built;
  }

  /** The keywords in the order they are checked: $ref, type, const, enum, string, number, object, array, oneOf, not, if. */
  #build(schema: Schema): Check {
    if (schema === true) return MATCHES;
    if (schema === false) return (_value, path) => ({ path, message: 'is not allowed' });
    const name = this.#name;
    const steps: Check[] = [];
    if (schema.$ref !== undefined) steps.push(this.#compile(this.#resolve(schema.$ref)));
    const { type } = schema;
    if (type !== undefined) {
      steps.push((value, path) => (hasType(value, type) ? undefined : { path, message: `${name(value)} is ${typeOf(value)}, expected ${type}` }));
    }
    if ('const' in schema) {
      const expected = schema.const;
      steps.push((value, path) => (equal(value, expected) ? undefined : { path, message: `${name(value)} is not ${shown(expected)}` }));
    }
    const options = schema.enum;
    if (options !== undefined) {
      steps.push((value, path) =>
        options.some((option) => equal(value, option)) ? undefined : { path, message: `${name(value)} is not one of ${options.map(shown).join(', ')}` }
      );
    }
    const string = this.#string(schema);
    if (string) steps.push((value, path) => (typeof value === 'string' ? string(value, path) : undefined));
    const { minimum, maximum } = schema;
    if (minimum !== undefined || maximum !== undefined) {
      steps.push((value, path) => {
        if (typeof value !== 'number') return undefined;
        if (minimum !== undefined && value < minimum) return { path, message: `${value} is below the minimum ${minimum}` };
        if (maximum !== undefined && value > maximum) return { path, message: `${value} is above the maximum ${maximum}` };
        return undefined;
      });
    }
    const object = this.#object(schema);
    if (object) steps.push((value, path) => (hasType(value, 'object') ? object(value, path) : undefined));
    const array = this.#array(schema);
    if (array) steps.push((value, path) => (Array.isArray(value) ? array(value, path) : undefined));
    steps.push(...this.#combined(schema));
    return allOf(steps);
  }

  #string({ minLength, maxLength, pattern: source }: SchemaObject): Check | undefined {
    if (minLength === undefined && maxLength === undefined && source === undefined) return undefined;
    const name = this.#name;
    const pattern = source === undefined ? undefined : new RegExp(source, 'u');
    return (value, path) => {
      const text = value as string;
      if (minLength !== undefined && codePoints(text, minLength) < minLength) {
        return { path, message: `${name(text)} is shorter than ${minLength} characters` };
      }
      if (maxLength !== undefined && codePoints(text, maxLength) > maxLength) {
        return { path, message: `${name(text)} is longer than ${maxLength} characters` };
      }
      if (pattern !== undefined && !pattern.test(text)) return { path, message: `${name(text)} does not match ${source}` };
      return undefined;
    };
  }

  #object(schema: SchemaObject): Check | undefined {
    const { required = [], properties = {} } = schema;
    const constrained = required.length > 0 || Object.keys(properties).length > 0;
    if (!constrained && schema.additionalProperties === undefined && schema.propertyNames === undefined) return undefined;
    const declared = new Map(Object.entries(properties).map(([key, member]) => [key, this.#compile(member)]));
    const additional = schema.additionalProperties === undefined ? undefined : this.#compile(schema.additionalProperties);
    const names = schema.propertyNames === undefined ? undefined : this.#compile(schema.propertyNames);
    const name = this.#name;
    return (value, path) => {
      const members = value as Record<string, unknown>;
      for (const key of required) if (!Object.hasOwn(members, key)) return { path, message: `has no ${key}` };
      for (const key of Object.keys(members)) {
        const own = declared.get(key);
        // A name the schema declares is the schema's; any other is the value's own (a topic), named as values are.
        const at = path === null ? null : `${path}/${own !== undefined || name === shown ? key : `(${name(key)})`}`;
        if (names !== undefined) {
          const error = names(key, at);
          if (error) return { path: at, message: `name ${error.message}` };
        }
        const check = own ?? additional;
        if (check !== undefined) {
          const error = check(members[key], at);
          if (error) return error;
        }
      }
      return undefined;
    };
  }

  #array({ items, uniqueItems }: SchemaObject): Check | undefined {
    if (items === undefined && uniqueItems !== true) return undefined;
    const item = items === undefined ? undefined : this.#compile(items);
    return (value, path) => {
      const list = value as unknown[];
      if (item !== undefined) {
        for (let i = 0; i < list.length; i++) {
          const error = item(list[i], path === null ? null : `${path}/${i}`);
          if (error) return error;
        }
      }
      if (uniqueItems === true) {
        let seen: Set<string | undefined>;
        try {
          seen = new Set(list.map((member) => JSON.stringify(member)));
        } catch {
          return { path, message: 'holds an item too deep to compare' };
        }
        if (seen.size !== list.length) return { path, message: 'holds an item twice' };
      }
      return undefined;
    };
  }

  #combined(schema: SchemaObject): Check[] {
    const steps: Check[] = [];
    if (schema.oneOf !== undefined) {
      const options = schema.oneOf.map((option) => this.#compile(option));
      steps.push((value, path) => {
        let matched = 0;
        let first: Mismatch | undefined;
        let deeper: Mismatch | undefined;
        for (const option of options) {
          const error = option(value, path);
          if (error === undefined) matched++;
          else {
            first ??= error;
            // The option that got furthest into the value says best what is wrong.
            if (deeper === undefined && error.path !== path) deeper = error;
          }
        }
        if (matched === 0) return deeper ?? first;
        if (matched > 1) return { path, message: 'matches more than one of its forms' };
        return undefined;
      });
    }
    if (schema.not !== undefined) {
      const not = this.#compile(schema.not);
      steps.push((value, path) => (not(value, path) === undefined ? { path, message: 'has a form that is not allowed' } : undefined));
    }
    if (schema.if !== undefined) {
      const when = this.#compile(schema.if);
      const then = schema.then === undefined ? undefined : this.#compile(schema.then);
      const otherwise = schema.else === undefined ? undefined : this.#compile(schema.else);
      steps.push((value, path) => (when(value, path) === undefined ? then : otherwise)?.(value, path));
    }
    return steps;
  }
}

/** A keyword this checker does not know is a bug in the schema or here: found when the checker is made. */
function vet(schema: Schema): void {
  if (typeof schema === 'boolean') return;
  for (const key of Object.keys(schema)) if (!KNOWN.has(key)) throw new Error(`Unsupported schema keyword ${key}`);
  const { properties, $defs, additionalProperties, propertyNames, items, oneOf, not, if: when, then, else: otherwise } = schema;
  for (const member of [...Object.values(properties ?? {}), ...Object.values($defs ?? {}), ...(oneOf ?? [])]) vet(member);
  for (const member of [additionalProperties, propertyNames, items, not, when, then, otherwise]) if (member !== undefined) vet(member);
}
