/** A set with O(1) add, delete and random pick, for choosing a live connection. */
import type { Random } from './random.js';

export class Pool<T> {
  readonly #items: T[] = [];
  readonly #index = new Map<T, number>();

  /** Items in the pool. */
  get size(): number {
    return this.#items.length;
  }

  /** Add an item (no-op if present). */
  add(item: T): void {
    if (this.#index.has(item)) return;
    this.#index.set(item, this.#items.length);
    this.#items.push(item);
  }

  /**
   * Remove an item by swapping the last one into its place.
   *
   * @returns {boolean} Whether it was there
   */
  delete(item: T): boolean {
    const i = this.#index.get(item);
    if (i === undefined) return false;
    const last = this.#items.pop()!;
    if (last !== item) {
      this.#items[i] = last;
      this.#index.set(last, i);
    }
    this.#index.delete(item);
    return true;
  }

  /**
   * @param {Random} random The stream to draw from
   * @returns {T | undefined} A random item, or `undefined` if the pool is empty
   */
  pick(random: Random): T | undefined {
    return this.#items.length === 0 ? undefined : this.#items[random.int(0, this.#items.length - 1)];
  }
}
