/** Reading machine snapshots by chart id (`live.connected.idle`), for tests of any machine. */
import type { AnyMachineSnapshot, StateValue } from 'xstate';

/**
 * @param {string} id A state id from `readChart()`
 * @returns {StateValue} The state value that matches it: `{ live: { connected: 'idle' } }`
 */
export function valueOf(id: string): StateValue {
  const keys = id.split('.');
  const leaf = keys.at(-1)!;
  return keys.slice(0, -1).reduceRight<StateValue>((inner, key) => ({ [key]: inner }), leaf);
}

/**
 * @param {AnyMachineSnapshot} snapshot A snapshot
 * @param {string} id A state id from `readChart()`
 * @returns {boolean} Whether that state is active in it
 */
export function matchesId(snapshot: AnyMachineSnapshot, id: string): boolean {
  return snapshot.matches(valueOf(id));
}
