/**
 * The conformance control endpoint (#24): what a server under test lets
 * the server suite do besides speaking the protocol, over a small HTTP API
 * (docs/conformance.md): publish to a topic, add a user to a room and take
 * them out, break its store and mend it, and tell what its application was
 * handed. A test server mounts it on purpose, behind a bearer token; the
 * runtime never loads this file.
 *
 * Every request is `POST` with one JSON object, `{"do": <command>, ...}`;
 * every answer is one JSON object, `{"ok": true, ...}` or `{"error": "..."}`
 * with a 4xx status naming the offending value.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ConnectionManager } from '../../manager/connection-manager.js';
import type { TopicPosition } from '../../sessions/topic-store.js';
import type { ConformanceStore } from './conformance-store.js';
import type { Delivery } from './records.js';

/** The query parameter of the upgrade URL that names a connection in the deliveries. */
export const CONNECTION_QUERY = 'conn';
/** The query parameter of the upgrade URL that says who the user is (none: anonymous). */
export const USER_QUERY = 'user';

/** Largest request body read. */
const MAX_BODY_BYTES = 64 * 1024;
/** Deliveries kept (the oldest go first): a run of the suite hands over a few hundred. */
const MAX_DELIVERIES = 20_000;
const MAX_PUBLISH_COUNT = 10_000;
const MAX_PAD_BYTES = 1024 * 1024;

export interface ConformanceControlOptions {
  /** The bearer token every request must carry (`Authorization: Bearer <token>`). At least 16 characters. */
  token: string;
  /** The store the manager was given as `sessions.store`: the control breaks and mends it. */
  store: ConformanceStore;
  /** The manager's `sessions.helloTimeoutMs`, told to the suite so it knows how long to wait. */
  helloTimeoutMs: number;
  /** The path the endpoint answers on. Default `/conformance`. */
  path?: string;
}

/** An HTTP request listener: answers on its path, and returns false for any other (for the server's other routes). */
export type ConformanceControl = (request: IncomingMessage, response: ServerResponse) => boolean;

/** A command the endpoint cannot do, with the status it is answered with. */
class Refusal extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/**
 * The identify of a server under test: the user from the `user` query
 * parameter (none: anonymous), the connection's name from `conn`.
 *
 * @param {{ url?: string }} request The upgrade request
 * @returns The identity to accept the connection with
 */
export function conformanceIdentify(request: { url?: string }): { userId?: string; metadata: Record<string, unknown> } {
  const query = new URL(request.url ?? '/', 'http://localhost').searchParams;
  const user = query.get(USER_QUERY);
  const conn = query.get(CONNECTION_QUERY);
  return { ...(user === null || user === '' ? {} : { userId: user }), metadata: conn === null ? {} : { [CONNECTION_QUERY]: conn } };
}

/**
 * @param {ConnectionManager} manager The server under test
 * @param {ConformanceControlOptions} options Its token, store and hello timeout
 * @returns {ConformanceControl} The request listener to mount
 * @throws {RangeError} If the token is shorter than 16 characters
 */
export function conformanceControl(manager: ConnectionManager, options: ConformanceControlOptions): ConformanceControl {
  if (typeof options.token !== 'string' || options.token.length < 16) throw new RangeError('conformanceControl needs a token of at least 16 characters');
  const path = options.path ?? '/conformance';
  const token = Buffer.from(`Bearer ${options.token}`);
  const deliveries: Delivery[] = [];
  manager.on('sessionMessage', (connection, data) => {
    const conn = connection.metadata?.[CONNECTION_QUERY];
    deliveries.push({ connection: typeof conn === 'string' ? conn : `unnamed ${connection.id}`, data });
    if (deliveries.length > MAX_DELIVERIES) deliveries.splice(0, deliveries.length - MAX_DELIVERIES);
  });
  const commands = new Commands(manager, options, deliveries);
  return (request, response) => {
    if (new URL(request.url ?? '/', 'http://localhost').pathname !== path) return false;
    const header = Buffer.from(request.headers.authorization ?? '');
    if (header.length !== token.length || !timingSafeEqual(header, token)) {
      answer(response, 401, { error: 'missing or wrong bearer token' });
      request.resume();
      return true;
    }
    if (request.method !== 'POST') {
      answer(response, 405, { error: `method ${request.method ?? ''} not allowed: POST a JSON command` });
      request.resume();
      return true;
    }
    readBody(request).then((command) => commands.run(command)).then(
      (result) => answer(response, 200, { ok: true, ...result }),
      (error: unknown) => {
        const message = error instanceof Error ? error.message : String(error);
        answer(response, error instanceof Refusal ? error.status : 500, { error: message });
      }
    );
    return true;
  };
}

function answer(response: ServerResponse, status: number, body: Record<string, unknown>): void {
  if (response.headersSent) return;
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  response.end(text);
}

function readBody(request: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) return void chunks.push(chunk);
      // Refused at once; the rest is read and dropped, so the answer reaches the client.
      chunks = [];
      reject(new Refusal(413, `request body over ${MAX_BODY_BYTES} bytes`));
    });
    request.on('error', reject);
    request.on('end', () => {
      if (size > MAX_BODY_BYTES) return;
      let value: unknown;
      try {
        value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return reject(new Refusal(400, 'the body is not JSON'));
      }
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return reject(new Refusal(400, 'the body is not a JSON object'));
      resolve(value as Record<string, unknown>);
    });
  });
}

function stringField(command: Record<string, unknown>, name: string): string {
  const value = command[name];
  if (typeof value !== 'string' || value === '') throw new Refusal(400, `${name} must be a non-empty string, got ${JSON.stringify(value) ?? 'nothing'}`);
  return value;
}

function countField(command: Record<string, unknown>, name: string, fallback: number, max: number): number {
  const value = command[name] ?? fallback;
  if (!Number.isSafeInteger(value) || (value as number) < 0 || (value as number) > max) throw new Refusal(400, `${name} must be an integer from 0 to ${max}, got ${JSON.stringify(value)}`);
  return value as number;
}

/** What each command does, against the manager and its store. */
class Commands {
  readonly #manager: ConnectionManager;
  readonly #options: ConformanceControlOptions;
  readonly #deliveries: Delivery[];

  constructor(manager: ConnectionManager, options: ConformanceControlOptions, deliveries: Delivery[]) {
    this.#manager = manager;
    this.#options = options;
    this.#deliveries = deliveries;
  }

  async run(command: Record<string, unknown>): Promise<Record<string, unknown>> {
    const store = this.#options.store;
    switch (command.do) {
      case 'info':
        return { helloTimeoutMs: this.#options.helloTimeoutMs };
      case 'publish':
        return this.#publish(command);
      case 'position':
        return { position: await store.position(stringField(command, 'topic')) };
      case 'join':
        return { from: await this.#member(command, true) };
      case 'leave':
        return { until: await this.#member(command, false) };
      case 'store':
        if (typeof command.up !== 'boolean') throw new Refusal(400, `store needs up: true or false, got ${JSON.stringify(command.up) ?? 'nothing'}`);
        store.setDown(!command.up);
        return {};
      case 'lose':
        return { position: await store.lose(stringField(command, 'topic')) };
      case 'trim':
        return { position: await store.trim(stringField(command, 'topic')) };
      case 'deliveries': {
        const prefix = typeof command.prefix === 'string' ? command.prefix : '';
        return { deliveries: this.#deliveries.filter((delivery) => delivery.connection.startsWith(prefix)) };
      }
      default:
        throw new Refusal(400, `unknown command ${JSON.stringify(command.do) ?? '(no do)'} (expected info, publish, position, join, leave, store, lose, trim, deliveries)`);
    }
  }

  /** Publish `count` messages (each `data`, or `{"n": i, "pad": ...}` of `bytes` padding), in order; where the first and last went. */
  async #publish(command: Record<string, unknown>): Promise<Record<string, unknown>> {
    const topic = stringField(command, 'topic');
    const count = countField(command, 'count', 1, MAX_PUBLISH_COUNT);
    const pad = 'x'.repeat(countField(command, 'bytes', 0, MAX_PAD_BYTES));
    // Called one after another in one step: the store gives them consecutive offsets in this order.
    const published = Array.from({ length: count }, (_, i) => this.#manager.publish(topic, 'data' in command ? command.data : { n: i + 1, pad }));
    const results = await Promise.all(published);
    const refused = results.find((result) => !result.ok);
    if (refused !== undefined) throw new Refusal(503, `publish to ${JSON.stringify(topic)} refused: ${refused.error?.message ?? refused.reason ?? 'unknown'}`);
    const at = (r: TopicPosition | undefined): TopicPosition | null => (r === undefined ? null : { epoch: r.epoch, offset: r.offset });
    return { first: at(results[0]), last: at(results.at(-1)) };
  }

  /** Add the user to the room or take them out, where the room stands in the store at that moment. */
  async #member(command: Record<string, unknown>, join: boolean): Promise<TopicPosition> {
    const user = stringField(command, 'user');
    const topic = stringField(command, 'topic');
    const act = (position: TopicPosition): TopicPosition => {
      try {
        if (join) this.#manager.subscribe(user, topic);
        else this.#manager.unsubscribe(user, topic);
      } catch (error) {
        throw new Refusal(400, (error as Error).message);
      }
      return position;
    };
    // Read and acted on in one synchronous step when the store answers at once: no message slips in between.
    const position = this.#options.store.position(topic);
    return position instanceof Promise ? act(await position) : act(position);
  }
}
