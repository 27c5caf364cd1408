/**
 * The connection machine read as a graph: its states and every transition,
 * taken from `machine.root`. Charts and the audit verifier both read the
 * machine through this module, so they cannot disagree with it.
 */
import { connectionMachine, type ConnectionState } from '../machines/connection.machine.js';

/** One transition of the chart. */
export interface ChartTransition {
  source: ConnectionState;
  /** Target state; `undefined` for a targetless transition (it runs actions only). */
  target: ConnectionState | undefined;
  /** The event as audit records and charts name it: `CLOSE`, `after closeTimeout`. */
  event: string;
  guard: string | undefined;
  /** The named delay of an `after` transition. */
  delay: string | undefined;
  actions: string[];
  reenter: boolean;
}

/** One state of the chart. */
export interface ChartState {
  name: ConnectionState;
  initial: boolean;
  final: boolean;
  /** Named actions the state runs on entry (XState's own timer bookkeeping left out). */
  entry: string[];
  transitions: ChartTransition[];
}

const AFTER_PREFIX = 'xstate.after.';

/**
 * The name of an event as audit records and charts show it: XState's
 * `xstate.after.closeTimeout.connection.closing` becomes `after closeTimeout`;
 * every other type is kept.
 *
 * @param {string} type An XState event type
 * @returns {string} The event's label
 */
export function eventLabel(type: string): string {
  if (!type.startsWith(AFTER_PREFIX)) return type;
  const delay = type.slice(AFTER_PREFIX.length, type.indexOf('.', AFTER_PREFIX.length));
  return `after ${delay}`;
}

/** XState's own actions (`xstate.raise` arming a delay, `xstate.cancel`), as opposed to the machine's named ones. */
function isBuiltIn(action: unknown): boolean {
  return typeof action === 'function' && String((action as { type?: unknown }).type).startsWith('xstate.');
}

function nameOf(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'function') return value.name || 'anonymous';
  if (value && typeof value === 'object' && 'type' in value) return String(value.type);
  return String(value);
}

/**
 * Read every state and transition of the connection machine.
 *
 * @returns {ChartState[]} The states in definition order, each with its transitions
 */
export function readChart(): ChartState[] {
  const root = connectionMachine.root;
  return Object.values(root.states).map((node) => {
    const transitions: ChartTransition[] = [];
    for (const [eventType, definitions] of node.transitions) {
      for (const definition of definitions) {
        const delay = (definition as { delay?: unknown }).delay;
        transitions.push({
          source: node.key as ConnectionState,
          target: definition.target?.[0]?.key as ConnectionState | undefined,
          event: eventLabel(eventType),
          guard: definition.guard === undefined ? undefined : nameOf(definition.guard),
          delay: delay === undefined ? undefined : String(delay),
          actions: definition.actions.map(nameOf),
          reenter: definition.reenter
        });
      }
    }
    return {
      name: node.key as ConnectionState,
      initial: root.config.initial === node.key,
      final: node.type === 'final',
      entry: node.entry.filter((action) => !isBuiltIn(action)).map(nameOf),
      transitions
    };
  });
}

/** `from|event|to` keys of every state-changing transition, for lookups. */
export function allowedTransitions(): Set<string> {
  const allowed = new Set<string>();
  for (const state of readChart()) {
    for (const t of state.transitions) {
      if (t.target !== undefined && t.target !== t.source) allowed.add(transitionKey(t.source, t.event, t.target));
    }
  }
  return allowed;
}

/**
 * The key {@link allowedTransitions} uses for one transition.
 *
 * @param {string} from Source state
 * @param {string} event Event label
 * @param {string} to Target state
 * @returns {string} `from|event|to`
 */
export function transitionKey(from: string, event: string, to: string): string {
  return `${from}|${event}|${to}`;
}

/** What one state does with events: see {@link stateEvents}. */
export interface StateEvents {
  /** Types of the events the state has a transition for (never guarded). */
  accepts: ReadonlySet<string>;
  /** Label of the state's delayed transition (`after closeTimeout`); `undefined` if it has none. */
  delayed: string | undefined;
}

/**
 * Per state, the events it takes and its delayed event, so the binding can
 * tell without asking the interpreter whether an event would be ignored,
 * and name the event behind a transition it did not send.
 *
 * @returns {Record<ConnectionState, StateEvents>} One entry per state
 * @throws {Error} If an event transition has a guard, or a state has two different delays
 */
export function stateEvents(): Record<ConnectionState, StateEvents> {
  const table = {} as Record<ConnectionState, StateEvents>;
  for (const state of readChart()) {
    const accepts = new Set<string>();
    const delays = new Set<string>();
    for (const t of state.transitions) {
      if (t.delay !== undefined) delays.add(t.event);
      else if (t.guard !== undefined) throw new Error(`${state.name}: ${t.event} has a guard (${t.guard}); stateEvents() cannot tell if it applies`);
      else accepts.add(t.event);
    }
    if (delays.size > 1) throw new Error(`${state.name} has more than one delay: ${[...delays].join(', ')}`);
    table[state.name] = { accepts, delayed: [...delays][0] };
  }
  return table;
}
