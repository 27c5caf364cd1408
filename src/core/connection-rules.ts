/**
 * What the connection machine says about sends and inbound messages, read
 * from its definition once at load: the send fast path and the delivery
 * check in src/core/connection.ts look these tables up instead of restating the
 * machine (#9). A state tagged `writable` accepts sends; any other state
 * names its refusal in `meta.sendRefusal`; a state tagged `delivering`
 * hands inbound messages to the application.
 */
import { CONNECTION_STATES, type ConnectionState } from '../../machines/connection.machine.js';
import { lifecycleChart, readChart, type ChartState } from './machine-graph.js';
import { SEND_FAILURE_REASONS, type SendFailureReason } from './send-result.js';

export interface ConnectionRules {
  /** Per state, the refusal a send gets there; `undefined` where sends are accepted. */
  sendRefusal: Readonly<Record<ConnectionState, SendFailureReason | undefined>>;
  /** Per state, whether inbound messages reach the application. */
  delivering: Readonly<Record<ConnectionState, boolean>>;
}

/**
 * Read the rules from a machine's audited states.
 *
 * @param {ChartState[]} [lifecycle] Default: the connection machine's `lifecycleChart()`
 * @returns {ConnectionRules} Frozen tables, one entry per state
 * @throws {Error} If the states are not {@link CONNECTION_STATES}, or a state
 *   is both `writable` and has a refusal, or neither, or names an unknown refusal
 */
export function readRules(lifecycle: readonly ChartState[] = lifecycleChart(readChart())): ConnectionRules {
  const names = lifecycle.map((state) => state.name);
  if (names.join() !== CONNECTION_STATES.join()) {
    throw new Error(`The connection machine's audited states are ${names.join(', ')}; expected ${CONNECTION_STATES.join(', ')}`);
  }
  const sendRefusal = {} as Record<ConnectionState, SendFailureReason | undefined>;
  const delivering = {} as Record<ConnectionState, boolean>;
  for (const state of lifecycle) {
    const name = state.name as ConnectionState;
    const writable = state.tags.includes('writable');
    const refusal = state.meta?.sendRefusal;
    if (writable === (refusal !== undefined)) {
      throw new Error(`State ${name} must either be tagged writable or name a meta.sendRefusal, not ${writable ? 'both' : 'neither'}`);
    }
    if (refusal !== undefined && !(SEND_FAILURE_REASONS as readonly unknown[]).includes(refusal)) {
      throw new Error(`State ${name} has meta.sendRefusal ${JSON.stringify(refusal)}, which is not a send failure reason`);
    }
    sendRefusal[name] = refusal as SendFailureReason | undefined;
    delivering[name] = state.tags.includes('delivering');
  }
  return { sendRefusal: Object.freeze(sendRefusal), delivering: Object.freeze(delivering) };
}
