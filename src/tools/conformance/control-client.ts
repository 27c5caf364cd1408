/**
 * The server suite's side of the control endpoint (control.ts,
 * docs/conformance.md): one method per command, each bounded in time.
 * Whatever the endpoint answers is checked before it is believed: a
 * server under test may be anyone's.
 */
import type { Delivery, Position } from './records.js';

/** How long one control request may take. */
const REQUEST_TIMEOUT_MS = 10_000;
/** The largest answer read (the deliveries of a run are far below it). */
const MAX_ANSWER_BYTES = 8 * 1024 * 1024;

/** The control endpoint could not be reached, or refused a command. */
export class ControlError extends Error {
  override readonly name = 'ControlError';
}

function position(value: unknown, what: string): Position {
  const { epoch, offset } = (value ?? {}) as { epoch?: unknown; offset?: unknown };
  if (typeof epoch !== 'string' || !Number.isSafeInteger(offset)) throw new ControlError(`the control endpoint answered ${what} without a position {epoch, offset}`);
  return { epoch, offset: offset as number };
}

export class ControlClient {
  readonly #url: string;
  readonly #token: string;

  constructor(url: string, token: string) {
    this.#url = url;
    this.#token = token;
  }

  /** The server's hello timeout, in milliseconds. */
  async info(): Promise<{ helloTimeoutMs: number }> {
    const answer = await this.#ask({ do: 'info' });
    if (!(typeof answer.helloTimeoutMs === 'number' && answer.helloTimeoutMs > 0)) throw new ControlError('the control endpoint answered info without helloTimeoutMs');
    return { helloTimeoutMs: answer.helloTimeoutMs };
  }

  /** Publish `count` messages (`{n, pad}`, `bytes` of padding each), or `data` once; where the last one went. */
  async publish(topic: string, count = 1, options: { bytes?: number; data?: unknown } = {}): Promise<Position> {
    const command: Record<string, unknown> = { do: 'publish', topic, count, bytes: options.bytes ?? 0 };
    if ('data' in options) command.data = options.data;
    return position((await this.#ask(command)).last, 'publish');
  }

  async position(topic: string): Promise<Position> {
    return position((await this.#ask({ do: 'position', topic })).position, 'position');
  }

  /** Add the user to the room; where the room stood then (the membership begins after it). */
  async join(user: string, topic: string): Promise<Position> {
    return position((await this.#ask({ do: 'join', user, topic })).from, 'join');
  }

  /** Take the user out of the room; where the room stood then. */
  async leave(user: string, topic: string): Promise<Position> {
    return position((await this.#ask({ do: 'leave', user, topic })).until, 'leave');
  }

  /** Make the store unreachable (`false`) or reachable again. */
  async store(up: boolean): Promise<void> {
    await this.#ask({ do: 'store', up });
  }

  /** Lose the topic's history: it goes on in a new epoch. */
  async lose(topic: string): Promise<Position> {
    return position((await this.#ask({ do: 'lose', topic })).position, 'lose');
  }

  /** Trim the topic's history up to where it stands. */
  async trim(topic: string): Promise<Position> {
    return position((await this.#ask({ do: 'trim', topic })).position, 'trim');
  }

  /** What the application was handed from connections whose name starts with `prefix`, in order. */
  async deliveries(prefix: string): Promise<Delivery[]> {
    const list = (await this.#ask({ do: 'deliveries', prefix })).deliveries;
    if (!Array.isArray(list)) throw new ControlError('the control endpoint answered deliveries without a list');
    return list.map((item: unknown) => {
      const { connection, data } = (item ?? {}) as { connection?: unknown; data?: unknown };
      if (typeof connection !== 'string') throw new ControlError('a delivery without a connection name');
      return { connection, data };
    });
  }

  async #ask(command: Record<string, unknown>): Promise<Record<string, unknown>> {
    let response: Response;
    try {
      response = await fetch(this.#url, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.#token}`, 'content-type': 'application/json' },
        body: JSON.stringify(command),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS)
      });
    } catch (error) {
      throw new ControlError(`the control endpoint ${this.#url} cannot be reached: ${(error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message}`);
    }
    const text = await response.text().catch(() => '');
    if (text.length > MAX_ANSWER_BYTES) throw new ControlError(`the control endpoint's answer to ${String(command.do)} is over ${MAX_ANSWER_BYTES} characters`);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    const answer = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : undefined;
    if (!response.ok || answer === undefined || answer.ok !== true) {
      const why = typeof answer?.error === 'string' ? answer.error : text.slice(0, 200);
      throw new ControlError(`the control endpoint refused ${String(command.do)} (HTTP ${response.status}): ${why}`);
    }
    return answer;
  }
}
