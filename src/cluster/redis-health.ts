/**
 * Whether a node can use its Redis (#23), whatever the deployment: it can
 * once a probe published through Redis comes back through the node's own
 * subscriptions (the broker's `probe`), and, on a Redis Cluster, every
 * primary serves its slots; so "ready" means the node can both write and
 * hear, on one server, behind Sentinel or on a Redis Cluster.
 * A connection that failed makes the node lost at once; an error that may
 * not matter (a Sentinel that died, a replica's connection) is checked
 * with one probe first; while lost, the probe runs again every interval
 * and as soon as the clients say they are back, until one comes back.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface HealthEvents {
  /** Redis cannot be used (refuse, tell the load balancer). */
  lost(): void;
  /** It can again: a probe came back. */
  back(): void;
}

type HealthState = 'idle' | 'up' | 'down' | 'stopped';

export class RedisHealth {
  readonly #probe: () => Promise<boolean>;
  readonly #events: HealthEvents;
  readonly #intervalMs: number;
  #state: HealthState = 'idle';
  #probing: Promise<boolean> | undefined;
  #looping = false;

  /**
   * @param {() => Promise<boolean>} probe True once a probe went round through Redis (bounded in time by the caller)
   * @param {HealthEvents} events What to tell when health changes
   * @param {number} intervalMs How often a lost node probes again
   */
  constructor(probe: () => Promise<boolean>, events: HealthEvents, intervalMs: number) {
    this.#probe = probe;
    this.#events = events;
    this.#intervalMs = intervalMs;
  }

  /** The node is connected and subscribed: from now on the signals count. */
  start(): void {
    if (this.#state === 'idle') this.#state = 'up';
  }

  /** Stop probing; nothing is told any more. */
  stop(): void {
    this.#state = 'stopped';
  }

  /** A connection failed: lost now, back once a probe comes back. */
  lost(): void {
    if (this.#state !== 'up') return;
    this.#state = 'down';
    this.#events.lost();
    void this.#recover();
  }

  /** Something failed that may not matter: one probe decides. */
  suspect(): void {
    if (this.#state !== 'up') return;
    void this.#check().then((ok) => {
      if (!ok) this.lost();
    });
  }

  /** The clients say they are connected again: probe now rather than at the next interval. */
  hint(): void {
    if (this.#state === 'down') void this.#attempt();
  }

  async #recover(): Promise<void> {
    if (this.#looping) return;
    this.#looping = true;
    try {
      while (this.#state === 'down') {
        await sleep(this.#intervalMs, undefined, { ref: false });
        await this.#attempt();
      }
    } finally {
      this.#looping = false;
    }
  }

  async #attempt(): Promise<void> {
    if (this.#state !== 'down') return;
    const ok = await this.#check();
    if (ok && this.#state === 'down') {
      this.#state = 'up';
      this.#events.back();
    }
  }

  /** One probe at a time; a second caller shares the one under way. */
  #check(): Promise<boolean> {
    this.#probing ??= this.#probe()
      .catch(() => false)
      .finally(() => {
        this.#probing = undefined;
      });
    return this.#probing;
  }
}
