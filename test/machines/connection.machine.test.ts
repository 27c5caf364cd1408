/**
 * The pure connection machine, without sockets: every transition of the
 * chart, every timeout on a simulated clock (its timers run on the
 * binding's TimerLists, given XState's SimulatedClock), the data the I/O actions get,
 * the CloseInfo of every way of ending, and path coverage with @xstate/graph.
 * States are named by their chart id (`live.connected.idle`).
 */
import { getAdjacencyMap, getShortestPaths } from '@xstate/graph';
import { createActor, SimulatedClock, type AnyMachineSnapshot } from 'xstate';
import { describe, expect, it } from 'vitest';
import {
  ABNORMAL_CLOSURE,
  CONNECTION_STATES,
  connectionMachine,
  timerDuration,
  type CloseInfo,
  type ConnectionContext,
  type ConnectionEvent,
  type ConnectionMachineInput,
  type ConnectionState,
  type ConnectionTimer
} from '../../machines/connection.machine.js';
import { readRules } from '../../src/core/connection-rules.js';
import { eventLabel, lifecycleChart, readChart, type ChartTransition } from '../../src/core/machine-graph.js';
import { chartTimers, matchesId } from '../support/machine.js';

const INPUT: ConnectionMachineInput = { handshakeTimeoutMs: 1_000, closeTimeoutMs: 500, heartbeatIntervalMs: 200 };

/** The actions that do I/O; the binding provides them, the machine only names them. */
const IO_ACTIONS = ['closeTransport', 'terminateTransport', 'sendPing', 'checkWriteProgress'] as const;
type IoAction = (typeof IO_ACTIONS)[number];

interface IoCall {
  action: IoAction;
  context: ConnectionContext;
  event: ConnectionEvent;
}

/** One step of a scenario: an event, or time passing on the simulated clock. */
type Step = ConnectionEvent | { advance: number };

function runMachine(steps: Step[], input: ConnectionMachineInput = INPUT) {
  const calls: IoCall[] = [];
  const spy =
    (action: IoAction) =>
      ({ context, event }: { context: ConnectionContext; event: ConnectionEvent }): void => {
        calls.push({ action, context: { ...context }, event });
      };
  const clock = new SimulatedClock();
  // The timers as the binding runs them (src/core/connection.ts), on the simulated clock.
  const timers = chartTimers(clock, (context: ConnectionContext, timer) => timerDuration(context, timer as ConnectionTimer));
  const machine = connectionMachine.provide({
    actions: {
      closeTransport: spy('closeTransport'),
      terminateTransport: spy('terminateTransport'),
      sendPing: spy('sendPing'),
      checkWriteProgress: spy('checkWriteProgress'),
      ...timers.actions
    }
  });
  const actor = createActor(machine, { input }).start();
  timers.bind(actor);
  const apply = (step: Step): void => {
    if ('advance' in step) clock.increment(step.advance);
    else actor.send(step);
  };
  steps.forEach(apply);
  return { actor, clock, calls, apply, snapshot: () => actor.getSnapshot() };
}

const OPENED: ConnectionEvent = { type: 'OPENED' };
const CLOSE: ConnectionEvent = { type: 'CLOSE', code: 1000, reason: 'bye' };
const PEER_ACTIVE: ConnectionEvent = { type: 'PEER_ACTIVE' };
const PING_WRITTEN: ConnectionEvent = { type: 'PING_WRITTEN' };
const TERMINATE: ConnectionEvent = { type: 'TERMINATE' };
const WRITE_STALLED: ConnectionEvent = { type: 'WRITE_STALLED' };
const PEER_CLOSING: ConnectionEvent = { type: 'PEER_CLOSING' };
const ERROR: ConnectionEvent = { type: 'TRANSPORT_ERROR', message: 'ECONNRESET' };
const PROTOCOL_ERROR: ConnectionEvent = { type: 'TRANSPORT_ERROR', message: 'Invalid WebSocket frame: invalid opcode 5', code: 1002 };
const closedBy = (code: number, reason: string): ConnectionEvent => ({ type: 'TRANSPORT_CLOSED', code, reason });
const heartbeat = { advance: INPUT.heartbeatIntervalMs };
/** The heartbeat pings and the transport writes the ping at once. */
const pinged: Step[] = [heartbeat, PING_WRITTEN];

/** The lifecycle state of a snapshot: the audited state it is in. */
function lifecycleOf(snapshot: AnyMachineSnapshot): ConnectionState {
  const state = CONNECTION_STATES.find((name) => matchesId(snapshot, LIFECYCLE_IDS[name]));
  if (state === undefined) throw new Error(`No lifecycle state in ${JSON.stringify(snapshot.value)}`);
  return state;
}

interface Scenario {
  /** Steps from a fresh actor to the transition's source state (and its guard). */
  given: Step[];
  /** The step that takes the transition. */
  when: Step;
  /** The I/O actions the transition runs, in order, with what they must see. */
  io: Array<{ action: IoAction; context?: Partial<ConnectionContext>; event?: ConnectionEvent }>;
  /** Context after the transition. */
  context?: Partial<ConnectionContext>;
  /** Output, when the transition ends in `closed`. */
  output?: CloseInfo;
}

const terminated = (code: number, initiator: string) => ({ action: 'terminateTransport' as const, context: { code, initiator } as Partial<ConnectionContext> });

/**
 * One scenario per transition of the chart, keyed by {@link scenarioKey}. A
 * transition added to the machine without a scenario here fails the suite.
 */
const SCENARIOS: Record<string, Scenario> = {
  'live --TERMINATE--> closed': {
    given: [OPENED],
    when: TERMINATE,
    io: [terminated(ABNORMAL_CLOSURE, 'server')],
    output: { code: ABNORMAL_CLOSURE, reason: '', initiator: 'server' }
  },
  'live --TRANSPORT_CLOSED [afterTransportError]--> closed': {
    given: [OPENED, PROTOCOL_ERROR],
    when: closedBy(ABNORMAL_CLOSURE, ''),
    io: [],
    output: { code: 1002, reason: 'Invalid WebSocket frame: invalid opcode 5', initiator: 'error' }
  },
  'live --TRANSPORT_CLOSED [serverCloseUnanswered]--> closed': {
    given: [OPENED, CLOSE],
    when: closedBy(ABNORMAL_CLOSURE, ''),
    io: [],
    output: { code: ABNORMAL_CLOSURE, reason: '', initiator: 'peer' }
  },
  'live --TRANSPORT_CLOSED--> closed': {
    given: [],
    when: closedBy(1002, 'protocol error'),
    io: [],
    output: { code: 1002, reason: 'protocol error', initiator: 'peer' }
  },
  'live.connecting --OPENED--> live.connected': {
    given: [],
    when: OPENED,
    io: [],
    context: { code: null, initiator: null, ping: 'none' }
  },
  'live.connecting --CLOSE--> live.closing': {
    given: [],
    when: { type: 'CLOSE', code: 4000, reason: 'auth' },
    io: [{ action: 'closeTransport', context: { code: 4000, reason: 'auth', initiator: 'server' } }],
    context: { code: 4000, reason: 'auth', initiator: 'server' }
  },
  'live.connecting --TRANSPORT_ERROR--> live.closing': {
    given: [],
    when: ERROR,
    io: [],
    context: { code: null, initiator: 'error' }
  },
  'live.connecting --after handshakeTimeout--> closed': {
    given: [],
    when: { advance: INPUT.handshakeTimeoutMs },
    io: [terminated(ABNORMAL_CLOSURE, 'timeout')],
    output: { code: ABNORMAL_CLOSURE, reason: '', initiator: 'timeout' }
  },
  'live.connected --CLOSE--> live.closing': {
    given: [OPENED],
    when: CLOSE,
    io: [{ action: 'closeTransport', context: { code: 1000, reason: 'bye', initiator: 'server' } }],
    context: { code: 1000, reason: 'bye', initiator: 'server' }
  },
  'live.connected --PEER_CLOSING--> live.closing': {
    given: [OPENED, ...pinged],
    when: PEER_CLOSING,
    io: [],
    context: { code: null, initiator: 'peer' }
  },
  'live.connected --TRANSPORT_ERROR--> live.closing': {
    given: [OPENED],
    when: ERROR,
    io: [],
    context: { code: null, initiator: 'error' }
  },
  'live.connected --PEER_ACTIVE--> (stays)': {
    given: [OPENED, ...pinged],
    when: PEER_ACTIVE,
    io: [],
    context: { ping: 'none' }
  },
  'live.connected --PING_WRITTEN--> live.connected': {
    given: [OPENED, heartbeat],
    when: PING_WRITTEN,
    io: [],
    context: { ping: 'written' }
  },
  'live.connected --after heartbeatInterval [pongOverdue]--> closed': {
    given: [OPENED, ...pinged],
    when: heartbeat,
    io: [terminated(ABNORMAL_CLOSURE, 'timeout')],
    output: { code: ABNORMAL_CLOSURE, reason: '', initiator: 'timeout' }
  },
  'live.connected --after heartbeatInterval [pingDue]--> live.connected': {
    given: [OPENED],
    when: heartbeat,
    io: [{ action: 'sendPing', context: { ping: 'queued' } }],
    context: { ping: 'queued' }
  },
  // The ping still queued behind this side's data a whole interval later: the binding checks the queue moves (#25).
  'live.connected --after heartbeatInterval [pingQueued]--> live.connected': {
    given: [OPENED, heartbeat],
    when: heartbeat,
    io: [{ action: 'checkWriteProgress', context: { ping: 'queued' } }],
    context: { ping: 'queued' }
  },
  'live.connected --WRITE_STALLED--> closed': {
    given: [OPENED, heartbeat, heartbeat],
    when: WRITE_STALLED,
    io: [terminated(ABNORMAL_CLOSURE, 'timeout')],
    output: { code: ABNORMAL_CLOSURE, reason: '', initiator: 'timeout' }
  },
  'live.closing --after closeTimeout--> closed': {
    given: [OPENED, CLOSE],
    when: { advance: INPUT.closeTimeoutMs },
    io: [terminated(ABNORMAL_CLOSURE, 'timeout')],
    output: { code: ABNORMAL_CLOSURE, reason: 'bye', initiator: 'timeout' }
  }
};

function scenarioKey(t: ChartTransition): string {
  const guard = t.guard === undefined ? '' : ` [${t.guard}]`;
  return `${t.source} --${t.event}${guard}--> ${t.target ?? '(stays)'}`;
}

const CHART = readChart();
const TRANSITIONS = CHART.flatMap((state) => state.transitions);
const LIFECYCLE = lifecycleChart(CHART);
const LIFECYCLE_IDS = Object.fromEntries(CHART.filter((s) => s.audited).map((s) => [s.name, s.id])) as Record<ConnectionState, string>;

describe('connection machine: every transition of the chart', () => {
  it('has a scenario for every transition and no scenario without a transition', () => {
    const keys = TRANSITIONS.map(scenarioKey);
    expect(new Set(keys).size).toBe(keys.length);
    expect(Object.keys(SCENARIOS).sort()).toEqual([...keys].sort());
  });

  it.each(TRANSITIONS.map((t) => [scenarioKey(t), t] as const))('%s', (key, t) => {
    const scenario = SCENARIOS[key];
    if (!scenario) throw new Error(`No scenario for transition ${key}`);
    const run = runMachine(scenario.given);
    expect(matchesId(run.snapshot(), t.source), `given steps reach ${t.source}`).toBe(true);
    run.calls.length = 0;
    run.apply(scenario.when);

    const after = run.snapshot();
    expect(matchesId(after, t.target ?? t.source), `ends in ${t.target ?? t.source}`).toBe(true);
    const ioOfChart = t.actions.filter((name): name is IoAction => (IO_ACTIONS as readonly string[]).includes(name));
    expect(run.calls.map((c) => c.action)).toEqual(ioOfChart);
    expect(run.calls.map((c) => c.action)).toEqual(scenario.io.map((c) => c.action));
    scenario.io.forEach((expected, i) => {
      if (expected.context) expect(run.calls[i]!.context).toMatchObject(expected.context);
      if (expected.event) expect(run.calls[i]!.event).toEqual(expected.event);
    });
    if (scenario.context) expect(after.context).toMatchObject(scenario.context);
    if (t.target === 'closed') {
      expect(after.status).toBe('done');
      expect(after.output).toEqual(scenario.output);
    } else {
      expect(after.status).toBe('active');
      expect(scenario.output).toBeUndefined();
    }
  });

  it("applies live's shared transitions in every state inside it", () => {
    for (const given of [[], [OPENED], [OPENED, ...pinged], [OPENED, CLOSE]] as Step[][]) {
      expect(runMachine([...given, TERMINATE]).snapshot().output).toMatchObject({ code: ABNORMAL_CLOSURE });
      expect(runMachine([...given, closedBy(1000, '')]).snapshot().status).toBe('done');
    }
  });
});

describe('connection machine: timeouts on a simulated clock', () => {
  it('terminates a connection still connecting after handshakeTimeoutMs, not a millisecond before', () => {
    const run = runMachine([{ advance: INPUT.handshakeTimeoutMs - 1 }]);
    expect(lifecycleOf(run.snapshot())).toBe('connecting');
    expect(run.calls).toEqual([]);
    run.apply({ advance: 1 });
    expect(lifecycleOf(run.snapshot())).toBe('closed');
    expect(run.calls.map((c) => c.action)).toEqual(['terminateTransport']);
    expect(run.snapshot().output).toEqual({ code: ABNORMAL_CLOSURE, reason: '', initiator: 'timeout' });
  });

  it('cancels the handshake timeout once connected', () => {
    const run = runMachine([OPENED, { advance: INPUT.handshakeTimeoutMs * 3 }], { ...INPUT, heartbeatIntervalMs: 0 });
    expect(lifecycleOf(run.snapshot())).toBe('connected');
    expect(run.calls).toEqual([]);
  });

  it('terminates a close handshake that lasts closeTimeoutMs, not a millisecond before', () => {
    const run = runMachine([OPENED, CLOSE, { advance: INPUT.closeTimeoutMs - 1 }]);
    expect(lifecycleOf(run.snapshot())).toBe('closing');
    expect(run.calls.map((c) => c.action)).toEqual(['closeTransport']);
    run.apply({ advance: 1 });
    expect(lifecycleOf(run.snapshot())).toBe('closed');
    expect(run.calls.map((c) => c.action)).toEqual(['closeTransport', 'terminateTransport']);
    expect(run.snapshot().output).toEqual({ code: ABNORMAL_CLOSURE, reason: 'bye', initiator: 'timeout' });
  });

  it('applies closeTimeout to a close that started while connecting', () => {
    const run = runMachine([CLOSE, { advance: INPUT.closeTimeoutMs }]);
    expect(run.snapshot().output).toEqual({ code: ABNORMAL_CLOSURE, reason: 'bye', initiator: 'timeout' });
  });

  it('stops the heartbeat when the connection leaves connected', () => {
    const run = runMachine([OPENED, PEER_CLOSING, { advance: INPUT.heartbeatIntervalMs * 2 }]);
    expect(lifecycleOf(run.snapshot())).toBe('closing');
    expect(run.calls.filter((c) => c.action === 'sendPing')).toEqual([]);
  });

  it('sends a ping each heartbeatIntervalMs while the peer answers, and an answer clears the wait', () => {
    const run = runMachine([OPENED, { advance: INPUT.heartbeatIntervalMs - 1 }]);
    expect(run.calls).toEqual([]);
    for (let i = 1; i <= 5; i++) {
      run.apply({ advance: i === 1 ? 1 : INPUT.heartbeatIntervalMs });
      expect(run.calls.filter((c) => c.action === 'sendPing')).toHaveLength(i);
      expect(run.snapshot().context.ping).toBe('queued');
      run.apply(PING_WRITTEN);
      expect(run.snapshot().context.ping).toBe('written');
      run.apply(PEER_ACTIVE);
      expect(run.snapshot().context.ping).toBe('none');
      expect(lifecycleOf(run.snapshot())).toBe('connected');
    }
    expect(run.calls.map((c) => c.action)).toEqual(Array(5).fill('sendPing'));
  });

  it('terminates one interval after the unanswered ping is written, not before', () => {
    const run = runMachine([OPENED, ...pinged, PEER_ACTIVE, heartbeat, { advance: 50 }, PING_WRITTEN]);
    run.apply({ advance: INPUT.heartbeatIntervalMs - 1 });
    expect(lifecycleOf(run.snapshot())).toBe('connected');
    run.apply({ advance: 1 });
    expect(lifecycleOf(run.snapshot())).toBe('closed');
    expect(run.calls.map((c) => c.action)).toEqual(['sendPing', 'sendPing', 'terminateTransport']);
    expect(run.snapshot().output).toEqual({ code: ABNORMAL_CLOSURE, reason: '', initiator: 'timeout' });
  });

  it('never judges the peer while its ping is still queued, and never queues a second ping (#10); asks every interval whether the queue moves (#25)', () => {
    const run = runMachine([OPENED, heartbeat]);
    for (let i = 0; i < 20; i++) run.apply(heartbeat);
    expect(lifecycleOf(run.snapshot())).toBe('connected');
    expect(run.snapshot().context.ping).toBe('queued');
    const checks = Array.from({ length: 20 }, () => 'checkWriteProgress');
    expect(run.calls.map((c) => c.action)).toEqual(['sendPing', ...checks]);
    // Written at last: the peer now has one whole interval.
    run.apply(PING_WRITTEN);
    run.apply({ advance: INPUT.heartbeatIntervalMs - 1 });
    expect(lifecycleOf(run.snapshot())).toBe('connected');
    run.apply(PEER_ACTIVE);
    run.apply({ advance: 1 });
    expect(lifecycleOf(run.snapshot())).toBe('connected');
    expect(run.calls.map((c) => c.action)).toEqual(['sendPing', ...checks, 'sendPing']);
  });

  it('never pings with heartbeatIntervalMs 0', () => {
    const run = runMachine([OPENED], { ...INPUT, heartbeatIntervalMs: 0 });
    for (let i = 0; i < 10; i++) run.apply({ advance: 10_000 });
    expect(run.snapshot().context.ping).toBe('none');
    expect(run.calls).toEqual([]);
  });
});

describe('connection machine: how each way of ending is reported', () => {
  const endings: Array<[string, Step[], CloseInfo]> = [
    ['server close completed', [OPENED, CLOSE, closedBy(1000, 'bye')], { code: 1000, reason: 'bye', initiator: 'server' }],
    ['server close while connecting, completed', [CLOSE, closedBy(1000, 'bye')], { code: 1000, reason: 'bye', initiator: 'server' }],
    ['peer close seen first as PEER_CLOSING', [OPENED, PEER_CLOSING, closedBy(1001, 'away')], { code: 1001, reason: 'away', initiator: 'peer' }],
    ['peer close reported at once', [OPENED, closedBy(4001, 'done')], { code: 4001, reason: 'done', initiator: 'peer' }],
    ['peer vanished (1006) after a server close', [OPENED, CLOSE, closedBy(ABNORMAL_CLOSURE, '')], { code: ABNORMAL_CLOSURE, reason: '', initiator: 'peer' }],
    ['handshake timeout', [{ advance: INPUT.handshakeTimeoutMs }], { code: ABNORMAL_CLOSURE, reason: '', initiator: 'timeout' }],
    ['heartbeat timeout', [OPENED, ...pinged, heartbeat], { code: ABNORMAL_CLOSURE, reason: '', initiator: 'timeout' }],
    ['close timeout', [OPENED, CLOSE, { advance: INPUT.closeTimeoutMs }], { code: ABNORMAL_CLOSURE, reason: 'bye', initiator: 'timeout' }],
    ['transport error, then closed', [OPENED, ERROR, closedBy(ABNORMAL_CLOSURE, '')], { code: ABNORMAL_CLOSURE, reason: 'ECONNRESET', initiator: 'error' }],
    ['transport error while connecting', [ERROR, closedBy(ABNORMAL_CLOSURE, '')], { code: ABNORMAL_CLOSURE, reason: 'ECONNRESET', initiator: 'error' }],
    ['transport error, never closed', [OPENED, ERROR, { advance: INPUT.closeTimeoutMs }], { code: ABNORMAL_CLOSURE, reason: 'ECONNRESET', initiator: 'timeout' }],
    [
      'transport error without a code, then closed with one',
      [OPENED, ERROR, closedBy(1011, 'internal error')],
      { code: 1011, reason: 'ECONNRESET', initiator: 'error' }
    ],
    [
      'protocol error answered with 1002, peer then vanished',
      [OPENED, PROTOCOL_ERROR, closedBy(ABNORMAL_CLOSURE, '')],
      { code: 1002, reason: 'Invalid WebSocket frame: invalid opcode 5', initiator: 'error' }
    ],
    [
      'protocol error answered with 1002, peer echoed it',
      [OPENED, PROTOCOL_ERROR, closedBy(1002, '')],
      { code: 1002, reason: 'Invalid WebSocket frame: invalid opcode 5', initiator: 'error' }
    ],
    ['TERMINATE while connected', [OPENED, TERMINATE], { code: ABNORMAL_CLOSURE, reason: '', initiator: 'server' }],
    ['TERMINATE while closing', [OPENED, CLOSE, TERMINATE], { code: ABNORMAL_CLOSURE, reason: 'bye', initiator: 'server' }]
  ];

  it.each(endings)('%s', (_name, steps, info) => {
    const run = runMachine(steps);
    expect(lifecycleOf(run.snapshot())).toBe('closed');
    expect(run.snapshot().status).toBe('done');
    expect(run.snapshot().output).toEqual(info);
  });
});

/** Every event type the machine knows, with data; its timers' events included. */
const GRAPH_EVENTS: ConnectionEvent[] = [
  OPENED,
  CLOSE,
  TERMINATE,
  PEER_CLOSING,
  closedBy(1000, 'bye'),
  closedBy(ABNORMAL_CLOSURE, ''),
  ERROR,
  PROTOCOL_ERROR,
  PEER_ACTIVE,
  PING_WRITTEN,
  WRITE_STALLED,
  { type: 'after handshakeTimeout' },
  { type: 'after heartbeatInterval' },
  { type: 'after closeTimeout' }
];

/** A vertex per (state, context, source state, event), so self-loops and every edge get a path of their own. */
function serializeStep(state: AnyMachineSnapshot, event: ConnectionEvent | undefined, prev: AnyMachineSnapshot | undefined): string {
  return JSON.stringify({ value: state.value, context: state.context, from: prev?.value, via: event?.type });
}

/** `source --event--> target` of the chart transitions a step could have taken (guards aside). */
function stepKeys(prev: AnyMachineSnapshot, event: ConnectionEvent, next: AnyMachineSnapshot): string[] {
  const label = eventLabel(event.type);
  return TRANSITIONS.filter(
    (t) =>
      t.event === label &&
      matchesId(prev, t.source) &&
      (t.target === undefined ? JSON.stringify(prev.value) === JSON.stringify(next.value) : matchesId(next, t.target))
  ).map((t) => `${t.source} --${t.event}--> ${t.target ?? '(stays)'}`);
}

describe('connection machine: graph', () => {
  type Adjacency = Record<string, { state: AnyMachineSnapshot; transitions: Record<string, { event: ConnectionEvent; state: AnyMachineSnapshot }> }>;
  const adjacency = getAdjacencyMap(connectionMachine, { input: INPUT, events: GRAPH_EVENTS, serializeState: serializeStep }) as unknown as Adjacency;
  const vertices = Object.entries(adjacency).map(([key, v]) => ({ key, state: v.state }));
  const edges = Object.entries(adjacency).flatMap(([key, v]) =>
    Object.values(v.transitions).map((t) => ({
      from: key,
      fromState: lifecycleOf(v.state),
      toState: lifecycleOf(t.state),
      to: serializeStep(t.state, t.event, v.state)
    }))
  );

  it('traverses with every event type of the machine, its timers\' included', () => {
    expect(new Set(GRAPH_EVENTS.map((e) => e.type))).toEqual(new Set([...connectionMachine.events, ...TRANSITIONS.map((t) => t.event)]));
    expect(TRANSITIONS.filter((t) => t.delay !== undefined)).toEqual([]);
  });

  it('reaches every state and takes every transition of the chart on some shortest path', () => {
    const paths = getShortestPaths(connectionMachine, { input: INPUT, events: GRAPH_EVENTS, serializeState: serializeStep });
    const statesSeen = new Set<string>();
    const taken = new Set<string>();
    for (const path of paths) {
      path.steps.forEach((step, i) => {
        for (const state of CHART) if (matchesId(step.state, state.id)) statesSeen.add(state.id);
        if (i === 0) return;
        const prev = path.steps[i - 1]!.state;
        const keys = stepKeys(prev, step.event, step.state);
        for (const key of keys) taken.add(key);
        if (keys.length === 0) expect(JSON.stringify(step.state.value), `changed state on ${step.event.type} without a transition`).toBe(JSON.stringify(prev.value));
      });
    }
    expect([...statesSeen].sort()).toEqual(CHART.map((s) => s.id).sort());
    const all = new Set(TRANSITIONS.map((t) => `${t.source} --${t.event}--> ${t.target ?? '(stays)'}`));
    expect([...taken].sort()).toEqual([...all].sort());
  });

  it('has closed as its only final state, with no way out', () => {
    expect(CHART.filter((s) => s.final).map((s) => s.id)).toEqual(['closed']);
    expect(CHART.find((s) => s.id === 'closed')!.transitions).toEqual([]);
    const closed = vertices.filter((v) => lifecycleOf(v.state) === 'closed');
    expect(closed.length).toBeGreaterThan(0);
    for (const v of closed) {
      expect(v.state.status).toBe('done');
      for (const event of GRAPH_EVENTS) expect(v.state.can(event)).toBe(false);
    }
  });

  it('ends every path in closed: closed is reachable from every reachable snapshot', () => {
    const canClose = new Set(vertices.filter((v) => lifecycleOf(v.state) === 'closed').map((v) => v.key));
    let grew = true;
    while (grew) {
      grew = false;
      for (const e of edges) {
        if (!canClose.has(e.from) && canClose.has(e.to)) {
          canClose.add(e.from);
          grew = true;
        }
      }
    }
    const stuck = vertices.filter((v) => !canClose.has(v.key)).map((v) => v.key);
    expect(stuck).toEqual([]);
  });

  it('never goes from closing or closed back to connecting or connected', () => {
    const ending: readonly string[] = ['closing', 'closed'];
    for (const e of edges) {
      if (ending.includes(e.fromState)) expect(ending).toContain(e.toState);
    }
    for (const t of LIFECYCLE.flatMap((state) => state.transitions)) {
      if (ending.includes(t.source)) expect(ending).toContain(t.target ?? t.source);
    }
  });

  it('agrees with the derived rules: sends accepted exactly where the snapshot has the writable tag', () => {
    const rules = readRules(LIFECYCLE);
    for (const v of vertices) {
      const state = lifecycleOf(v.state);
      expect(rules.sendRefusal[state] === undefined, `${v.key} writable`).toBe(v.state.hasTag('writable'));
      expect(rules.delivering[state], `${v.key} delivering`).toBe(v.state.hasTag('delivering'));
    }
  });

  it('lists its audited states in CONNECTION_STATES order, starting in connecting', () => {
    expect(LIFECYCLE.map((s) => s.name)).toEqual([...CONNECTION_STATES]);
    expect(LIFECYCLE.filter((s) => s.initial).map((s) => s.name)).toEqual(['connecting']);
  });
});
