/**
 * A machine read as a graph: every state node (nested ones too) and every
 * transition, taken from `machine.root`. The charts, the audit verifier,
 * the inspector and the binding's derived tables all read machines through
 * this module, so none of them can disagree with what runs.
 *
 * Two levels are read. The chart is the whole tree, as XState defines it
 * (parents, guards, delays, invoked actors). The lifecycle is what the
 * audit trail records: the states that run `reportEntry` on entry, with
 * every transition that moves between two of them, inherited from a parent
 * or taken inside a child.
 */
import type { AnyStateMachine, AnyStateNode } from 'xstate';
import { connectionMachine } from '../../machines/connection.machine.js';

/** One transition of the chart. */
export interface ChartTransition {
  /** The id of the state that declares it. */
  source: string;
  /** The id of its target; `undefined` for a targetless transition (it runs actions only). */
  target: string | undefined;
  /** The event as audit records and charts name it: `CLOSE`, `after closeTimeout`. */
  event: string;
  guard: string | undefined;
  /** The named delay of an `after` transition. */
  delay: string | undefined;
  actions: string[];
  reenter: boolean;
}

/** One state node of the chart. */
export interface ChartState {
  /** The path of keys from the root, joined by dots: `live.connected.idle`. Unique. */
  id: string;
  /** Its key: `idle`. */
  name: string;
  /** The parent's id; `undefined` at the top level. */
  parent: string | undefined;
  /** 0 at the top level. */
  depth: number;
  kind: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  /** The initial child of its parent (or of the machine). */
  initial: boolean;
  final: boolean;
  tags: string[];
  meta: Readonly<Record<string, unknown>> | undefined;
  /** Named actions run on entry (XState's own timer bookkeeping left out). */
  entry: string[];
  /** Sources of the actors it invokes while active. */
  invoke: string[];
  /** It reports its entry: the audit trail records it (see {@link REPORT_ENTRY}). */
  audited: boolean;
  transitions: ChartTransition[];
}

/** The entry action that marks a state the audit trail records. */
export const REPORT_ENTRY = 'reportEntry';

const AFTER_PREFIX = 'xstate.after.';

/**
 * The name of an event as audit records and charts show it: XState's
 * `xstate.after.closeTimeout.connection.live.closing` becomes `after closeTimeout`;
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
  // An action with one parameter shows it, e.g. `startTimer(closeTimeout)`: which timer a state arms is the chart's to say.
  // reportEntry's parameter is the state it is in, so it says nothing.
  if (value && typeof value === 'object' && 'type' in value && 'params' in value) {
    const params = value.params;
    const values = params && typeof params === 'object' ? Object.values(params) : [];
    if (values.length === 1 && typeof values[0] === 'string' && String(value.type) !== REPORT_ENTRY) return `${String(value.type)}(${values[0]})`;
  }
  if (typeof value === 'function') return value.name || 'anonymous';
  if (value && typeof value === 'object' && 'type' in value) return String(value.type);
  if (value && typeof value === 'object' && 'src' in value) return String(value.src);
  return String(value);
}

function idOf(node: AnyStateNode): string {
  return node.path.join('.');
}

/**
 * Read every state node and transition of a machine, parents before their
 * children, in definition order.
 *
 * @param {AnyStateMachine} [machine] Default: the connection machine
 * @returns {ChartState[]} One entry per state node
 */
export function readChart(machine: AnyStateMachine = connectionMachine): ChartState[] {
  const states: ChartState[] = [];
  const visit = (node: AnyStateNode, parent: AnyStateNode | undefined): void => {
    const id = idOf(node);
    const transitions: ChartTransition[] = [];
    for (const [eventType, definitions] of node.transitions) {
      for (const definition of definitions) {
        const delay = (definition as { delay?: string | number }).delay;
        const target = definition.target?.[0];
        transitions.push({
          source: id,
          target: target === undefined ? undefined : idOf(target),
          event: eventLabel(eventType),
          guard: definition.guard === undefined ? undefined : nameOf(definition.guard),
          delay: delay === undefined ? undefined : String(delay),
          actions: definition.actions.map(nameOf),
          reenter: definition.reenter
        });
      }
    }
    const entry = node.entry.filter((action) => !isBuiltIn(action)).map(nameOf);
    const initialKey = (parent ?? machine.root).config.initial;
    states.push({
      id,
      name: node.key,
      parent: parent === undefined ? undefined : idOf(parent),
      depth: node.path.length - 1,
      kind: node.type,
      initial: initialKey === node.key,
      final: node.type === 'final',
      tags: [...node.tags],
      meta: node.meta as Record<string, unknown> | undefined,
      entry,
      invoke: node.invoke.map((definition: { src: unknown }) => nameOf(definition.src)),
      audited: entry.includes(REPORT_ENTRY),
      transitions
    });
    for (const child of Object.values(node.states)) visit(child, node);
  };
  for (const node of Object.values(machine.root.states)) visit(node, undefined);
  return states;
}

/**
 * The audited level of a chart: one state per audited node (named by its
 * key) with every transition that leaves it, as the audit trail sees them.
 * A transition declared on a parent applies to each audited state inside
 * it; one declared inside an audited state is that state's; one that stays
 * within an audited state keeps no target (it changes nothing the trail
 * records).
 *
 * @param {ChartState[]} [chart] Default: `readChart()`
 * @returns {ChartState[]} The audited states, in definition order, flat (`id` is the name)
 * @throws {Error} If two audited states share a name, or none is initial
 */
export function lifecycleChart(chart: readonly ChartState[] = readChart()): ChartState[] {
  const byId = new Map(chart.map((state) => [state.id, state]));
  const audited = chart.filter((state) => state.audited);
  const names = new Set<string>();
  for (const state of audited) {
    if (names.has(state.name)) throw new Error(`Two audited states are named ${state.name}: audit records could not tell them apart`);
    names.add(state.name);
  }
  /** The audited state a node belongs to: itself or its nearest audited ancestor. */
  const ownerOf = (id: string | undefined): ChartState | undefined => {
    for (let node = id === undefined ? undefined : byId.get(id); node; node = node.parent === undefined ? undefined : byId.get(node.parent)) {
      if (node.audited) return node;
    }
    return undefined;
  };
  /** Where entering a node lands, at the audited level: its owner, or its initial descendants' first audited one. */
  const landingOf = (id: string): ChartState | undefined => {
    const owner = ownerOf(id);
    if (owner) return owner;
    const initialChild = chart.find((state) => state.parent === id && state.initial);
    return initialChild === undefined ? undefined : landingOf(initialChild.id);
  };
  /** The audited states a transition declared on `id` applies to. */
  const sourcesOf = (id: string): ChartState[] => {
    const owner = ownerOf(id);
    if (owner) return [owner];
    return audited.filter((state) => isInside(state, id, byId) && ownerOf(state.parent) === undefined);
  };
  const flat = new Map<string, ChartState>(
    audited.map((state) => [state.name, { ...state, id: state.name, parent: undefined, depth: 0, transitions: [] }])
  );
  for (const state of chart) {
    for (const t of state.transitions) {
      const target = t.target === undefined ? undefined : landingOf(t.target);
      for (const source of sourcesOf(state.id)) {
        const moves = target !== undefined && target !== source;
        flat.get(source.name)!.transitions.push({ ...t, source: source.name, target: moves ? target.name : undefined });
      }
    }
  }
  const initial = landingOf(chart.find((state) => state.parent === undefined && state.initial)?.id ?? '');
  if (initial === undefined) throw new Error('The machine has no audited initial state');
  for (const state of flat.values()) state.initial = state.name === initial.name;
  return [...flat.values()];
}

function isInside(state: ChartState, ancestorId: string, byId: ReadonlyMap<string, ChartState>): boolean {
  for (let id = state.parent; id !== undefined; id = byId.get(id)?.parent) {
    if (id === ancestorId) return true;
  }
  return false;
}

/**
 * `from|event|to` keys of every transition the audit trail may record.
 *
 * @param {ChartState[]} [lifecycle] Default: the connection machine's {@link lifecycleChart}
 * @returns {Set<string>} Keys made by {@link transitionKey}
 */
export function allowedTransitions(lifecycle: readonly ChartState[] = lifecycleChart()): Set<string> {
  const allowed = new Set<string>();
  for (const state of lifecycle) {
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
