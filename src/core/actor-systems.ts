/**
 * Connection and session actors share XState actor systems instead of each
 * creating one: a system costs about 3 KiB per actor. A system is shared by
 * at most {@link ACTORS_PER_SYSTEM} live actors because stopping an actor
 * scans every event its system has scheduled. Since #14 neither machine
 * schedules any (their timers are the binding's, src/core/timer-lists.ts), and
 * one system for all connections measured no different in CPU; the bound
 * stays for a machine that uses XState's own delays.
 */
import { createEmptyActor, type AnyActorRef } from 'xstate';

/**
 * Live actors per shared system at most. Fewer means shorter scans when an
 * actor stops (64 took about 10% off a connection's lifecycle next to 256)
 * and more systems (each about 3 KiB: 64 actors share one for about 50 B each).
 */
export const ACTORS_PER_SYSTEM = 64;

/** One shared system: its root actor and how many live actors it holds. */
export interface ActorSystemSlot {
  readonly root: AnyActorRef;
  live: number;
}

/** Hands out shared actor systems. */
export class ActorSystemPool {
  readonly #slots: ActorSystemSlot[] = [];
  #current: ActorSystemSlot | undefined;

  /**
   * A system with room for one more actor; pass its `root` as the actor's
   * `parent`, and give the slot back with {@link release}.
   *
   * @returns {ActorSystemSlot} The slot, already counted
   */
  acquire(): ActorSystemSlot {
    let slot = this.#current;
    if (slot === undefined || slot.live >= ACTORS_PER_SYSTEM) {
      slot = this.#slots.find((s) => s.live < ACTORS_PER_SYSTEM) ?? this.#create();
      this.#current = slot;
    }
    slot.live++;
    return slot;
  }

  /** @param {ActorSystemSlot} slot A slot from {@link acquire} whose actor stopped */
  release(slot: ActorSystemSlot): void {
    slot.live--;
  }

  #create(): ActorSystemSlot {
    const root = createEmptyActor();
    root.start();
    const slot = { root, live: 0 };
    this.#slots.push(slot);
    return slot;
  }
}
