/**
 * Reading Redis replies whatever shape the client gives them, and running
 * Lua scripts by their SHA: what the store, the session records and
 * presence share.
 */
import type { RedisCommander } from './redis-store.js';

/** A Redis reply as text (replies come as strings or, binary-safe, as Buffers). */
export function text(value: unknown): string {
  return Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
}

/**
 * An HGETALL reply as a Map, whichever shape the client gives it (a flat
 * array in RESP2, a map or an object in RESP3).
 */
export function hashReply(reply: unknown): Map<string, string> {
  const record = new Map<string, string>();
  if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) record.set(text(reply[i]), text(reply[i + 1]));
  } else if (reply instanceof Map) {
    for (const [key, value] of reply) record.set(text(key), text(value));
  } else if (typeof reply === 'object' && reply !== null) {
    for (const [key, value] of Object.entries(reply)) record.set(key, text(value));
  }
  return record;
}

/** Runs the scripts by their SHA and loads one again when Redis forgot it (a restart). */
export class Scripts<S extends Readonly<Record<string, string>>> {
  readonly #redis: RedisCommander;
  readonly #sources: S;
  readonly #shas = new Map<keyof S, string>();

  constructor(redis: RedisCommander, sources: S) {
    this.#redis = redis;
    this.#sources = sources;
  }

  async run<T>(name: keyof S & string, keys: string[], args: Array<string | Buffer>, options?: object): Promise<T> {
    const sha = this.#shas.get(name);
    if (sha !== undefined) {
      try {
        return await this.#redis.sendCommand<T>(['EVALSHA', sha, String(keys.length), ...keys, ...args], options);
      } catch (error) {
        if (!String((error as Error).message).startsWith('NOSCRIPT')) throw error;
      }
    }
    this.#shas.set(name, text(await this.#redis.sendCommand(['SCRIPT', 'LOAD', this.#sources[name]!])));
    return this.#redis.sendCommand<T>(['EVALSHA', this.#shas.get(name)!, String(keys.length), ...keys, ...args], options);
  }
}
