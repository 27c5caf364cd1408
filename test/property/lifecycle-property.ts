/**
 * The lifecycle property: random interleavings of sends, broadcasts,
 * per-user sends, server closes and terminations and misbehaving peers, on
 * several real connections at once, must never write to a socket that is
 * not open, must settle every send once, must deliver in order to the
 * right user only, and must close everything within the close timeout.
 *
 * The subject is a parameter, so the same property can be shown to fail on
 * a naive sender.
 */
import { inspect } from 'node:util';
import fc from 'fast-check';
import { type WebSocket } from 'ws';
import type { CloseInfo, SendReport, SendResult } from '../../src/index.js';
import { openClient } from '../support/client.js';
import { auditSends, isNotOpenError, type SendAudit } from '../support/send-audit.js';
import type { TestClient } from '../support/server.js';
import type { LifecycleSubject, SubjectConnection, SubjectFactory } from './subject.js';

/** Close handshake limit given to the subject. */
export const CLOSE_TIMEOUT_MS = 200;
/**
 * Slack on top of the close timeout for "closed in time": timers and I/O on
 * a loaded machine. A close that never completes overshoots it by far.
 */
export const CLOSE_MARGIN_MS = 1_000;

/** What runs between one operation and the next, so real I/O can interleave. */
export type Gap = 'sync' | 'microtask' | 'immediate' | 'timer';

/** One generated operation; `tab` and `user` are taken modulo the counts. */
export type Op =
  | { kind: 'send'; via: 'manager' | 'connection'; tab: number; pad: number; gap: Gap }
  | { kind: 'broadcast'; pad: number; gap: Gap }
  | { kind: 'sendToUser'; user: number; pad: number; gap: Gap }
  | { kind: 'serverClose'; via: 'manager' | 'connection'; tab: number; code: number; gap: Gap }
  | { kind: 'serverTerminate'; tab: number; gap: Gap }
  | { kind: 'peerClose'; tab: number; code: number; gap: Gap }
  | { kind: 'peerTerminate'; tab: number; gap: Gap }
  | { kind: 'peerPause'; tab: number; gap: Gap };

/** Users, tabs per user, and what happens to them. */
export interface Scenario {
  users: number;
  tabs: number;
  ops: Op[];
}

const gap = fc.constantFrom<Gap>('sync', 'sync', 'sync', 'sync', 'microtask', 'immediate', 'immediate', 'timer');
const tab = fc.nat({ max: 11 });
/** Padding in bytes: mostly tiny frames, some large enough that writes are still pending when a close lands. */
const pad = fc.constantFrom(0, 0, 0, 4_096, 262_144);

/** Operations, weighted towards sends so closes race with traffic. */
export const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('send' as const), via: fc.constantFrom('manager' as const, 'connection' as const), tab, pad, gap }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('broadcast' as const), pad, gap }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('sendToUser' as const), user: fc.nat({ max: 3 }), pad, gap }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('serverClose' as const),
      via: fc.constantFrom('manager' as const, 'connection' as const),
      tab,
      code: fc.constantFrom(1000, 1001, 4000),
      gap
    })
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('serverTerminate' as const), tab, gap }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('peerClose' as const), tab, code: fc.integer({ min: 4100, max: 4199 }), gap }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('peerTerminate' as const), tab, gap }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('peerPause' as const), tab, gap }) }
);

/** 3-4 users with 2-3 tabs each, and up to 50 operations. */
export const scenarioArbitrary: fc.Arbitrary<Scenario> = fc.record({
  users: fc.integer({ min: 3, max: 4 }),
  tabs: fc.integer({ min: 2, max: 3 }),
  ops: fc.array(opArbitrary, { minLength: 1, maxLength: 50, size: 'max' })
});

/** The payload of every message: a unique id and whom it is for. */
interface Payload {
  id: number;
  /** A user id, or `all` for a broadcast. */
  to: string;
  /** The connection id, for a send to one connection. */
  conn?: string;
  pad?: string;
}

/** One client tab and its server-side counterpart. */
interface Tab {
  label: string;
  userId: string;
  client: TestClient;
  connection: SubjectConnection;
  audit: SendAudit;
  /** Code of the server close that started from `connected`, if any. */
  serverCloseCode?: number;
  /** The peer closed, terminated or paused. */
  peerActed: boolean;
  serverTerminated: boolean;
  info?: CloseInfo;
}

/** A send the scenario made, and how it settled. */
interface TrackedSend {
  id: number;
  /** The tab of a send to one connection; absent for broadcast and sendToUser. */
  tab?: Tab;
  /** Connections a broadcast or sendToUser addressed when it was called. */
  targets: number;
  label: string;
  settlements: number;
  /** Resolves when the send settles either way. */
  done: Promise<void>;
  value?: SendResult | SendReport;
  rejection?: unknown;
}

interface Timeline {
  transitions: string[];
  closingAt?: number;
  closedAt?: number;
}

/**
 * Run one scenario against a fresh subject and return every violation
 * found; an empty list means all checks held. Everything opened is closed
 * before it returns.
 *
 * @param {SubjectFactory} factory Starts the subject under test
 * @param {Scenario} scenario The generated users, tabs and operations
 * @param {RunStats} [stats] Accumulates what the run exercised
 * @returns {Promise<string[]>} Violations, each prefixed with its check (a)-(e)
 */
export async function runScenario(factory: SubjectFactory, scenario: Scenario, stats?: RunStats): Promise<string[]> {
  const subject = await factory({ closeTimeoutMs: CLOSE_TIMEOUT_MS });
  const violations: string[] = [];
  const tabs: Tab[] = [];
  const sends: TrackedSend[] = [];
  const timelines = new Map<string, Timeline>();
  const audits = new WeakMap<WebSocket, SendAudit>();
  let nextMessageId = 0;
  let accepted: ((ws: WebSocket) => void) | undefined;

  subject.wss.on('connection', (ws: WebSocket) => {
    // Registered after the subject's own listener: the subject has the socket now.
    audits.set(ws, auditSends(ws, () => subject.connectionOf(ws)?.state ?? 'unknown'));
    accepted?.(ws);
  });
  subject.onTransition((id, from, to) => {
    const timeline = timelines.get(id) ?? { transitions: [] };
    timelines.set(id, timeline);
    timeline.transitions.push(`${from}->${to}`);
    const now = performance.now();
    if ((from === 'closing' || from === 'closed') && to === 'connected') violations.push(`(d) ${id} went ${from} -> connected`);
    if (to === 'closing') timeline.closingAt ??= now;
    if (to === 'closed') timeline.closedAt = now;
  });

  try {
    for (let u = 0; u < scenario.users; u++) {
      for (let t = 0; t < scenario.tabs; t++) {
        const userId = `u${u}`;
        const serverSocket = new Promise<WebSocket>((resolve) => (accepted = resolve));
        const client = await openClient(subject.port, userId);
        const ws = await serverSocket;
        const connection = subject.connectionOf(ws);
        const audit = audits.get(ws);
        if (!connection || !audit) throw new Error(`No connection for the socket of ${userId} tab ${t}`);
        tabs.push({ label: `${userId}#${t}`, userId, client, connection, audit, peerActed: false, serverTerminated: false });
      }
    }

    const track = (send: Omit<TrackedSend, 'settlements' | 'done'>, promise: Promise<SendResult | SendReport>): void => {
      const tracked: TrackedSend = { ...send, settlements: 0, done: Promise.resolve() };
      sends.push(tracked);
      tracked.done = promise.then(
        (value) => {
          tracked.settlements++;
          tracked.value = value;
        },
        (error: unknown) => {
          tracked.settlements++;
          tracked.rejection = error;
        }
      );
    };

    for (const op of scenario.ops) {
      const id = ++nextMessageId;
      switch (op.kind) {
        case 'send': {
          const target = tabs[op.tab % tabs.length]!;
          const payload: Payload = { id, to: target.userId, conn: target.connection.id, ...padding(op.pad) };
          const promise = op.via === 'manager' ? subject.send(target.connection.id, payload) : target.connection.send(payload);
          track({ id, tab: target, targets: 1, label: `${op.via} send ${id} to ${target.label}` }, promise);
          break;
        }
        case 'broadcast': {
          const payload: Payload = { id, to: 'all', ...padding(op.pad) };
          track({ id, targets: subject.size, label: `broadcast ${id}` }, subject.broadcast(payload));
          break;
        }
        case 'sendToUser': {
          const userId = `u${op.user % scenario.users}`;
          const payload: Payload = { id, to: userId, ...padding(op.pad) };
          track({ id, targets: subject.userSize(userId), label: `sendToUser ${id} to ${userId}` }, subject.sendToUser(userId, payload));
          break;
        }
        case 'serverClose': {
          const target = tabs[op.tab % tabs.length]!;
          if (target.serverCloseCode === undefined && target.connection.state === 'connected') target.serverCloseCode = op.code;
          if (op.via === 'manager') subject.close(target.connection.id, op.code, 'server close');
          else target.connection.close(op.code, 'server close');
          break;
        }
        case 'serverTerminate': {
          const target = tabs[op.tab % tabs.length]!;
          target.serverTerminated = true;
          target.connection.terminate();
          break;
        }
        case 'peerClose':
        case 'peerTerminate':
        case 'peerPause': {
          const target = tabs[op.tab % tabs.length]!;
          target.peerActed = true;
          if (op.kind === 'peerClose') target.client.ws.close(op.code, 'peer close');
          else if (op.kind === 'peerTerminate') target.client.ws.terminate();
          else target.client.ws.pause();
          break;
        }
      }
      const pause = wait(op.gap);
      if (pause) await pause;
    }

    // Close whatever is still open, then give every close its time limit.
    for (const target of tabs) {
      if (target.connection.state === 'connected') {
        target.serverCloseCode ??= 1000;
        subject.close(target.connection.id, 1000, 'drain');
      }
    }
    await within(
      Promise.all(tabs.map((target) => target.connection.closed.then((info) => (target.info = info)))),
      CLOSE_TIMEOUT_MS + CLOSE_MARGIN_MS
    );
    // A paused peer reads nothing, not even the server's FIN: only terminate ends it.
    for (const target of tabs) if (target.client.ws.isPaused) target.client.ws.terminate();
    await within(Promise.all(tabs.map((target) => target.client.closed)), CLOSE_MARGIN_MS);
    await within(Promise.all(sends.map((send) => send.done)), CLOSE_MARGIN_MS);

    if (stats) tally(stats, tabs, sends);
    checkWrites(tabs, violations);
    checkSettlement(tabs, sends, violations);
    for (const target of tabs) checkDelivery(target, violations);
    checkClosing(tabs, timelines, subject, violations);
    for (const target of tabs) checkRecipients(target, violations);
  } finally {
    for (const target of tabs) target.client.ws.terminate();
    for (const ws of subject.wss.clients) ws.terminate();
    await Promise.all(tabs.map((target) => target.client.closed));
    await subject.stop();
  }
  return violations;
}

/** What the runs exercised, so a reader can see the races really happened. */
export interface RunStats {
  runs: number;
  connections: number;
  sendsOk: number;
  /** Refusals and failures by reason, for sends to one connection and to many. */
  refused: Record<string, number>;
  written: number;
  received: number;
  /** Final close initiators. */
  closedBy: Record<string, number>;
}

/** An empty {@link RunStats}. */
export function newStats(): RunStats {
  return { runs: 0, connections: 0, sendsOk: 0, refused: {}, written: 0, received: 0, closedBy: {} };
}

function tally(stats: RunStats, tabs: Tab[], sends: TrackedSend[]): void {
  stats.runs++;
  stats.connections += tabs.length;
  for (const send of sends) {
    const value = send.value;
    if (value === undefined) continue;
    if ('ok' in value) {
      if (value.ok) stats.sendsOk++;
      else stats.refused[value.reason] = (stats.refused[value.reason] ?? 0) + 1;
    } else {
      stats.sendsOk += value.sent;
      for (const [reason, count] of Object.entries(value.reasons)) stats.refused[reason] = (stats.refused[reason] ?? 0) + count;
    }
  }
  for (const target of tabs) {
    stats.written += target.audit.attempts.length;
    stats.received += target.client.received.length;
    const by = target.info?.initiator ?? 'not closed';
    stats.closedBy[by] = (stats.closedBy[by] ?? 0) + 1;
  }
}

/** (a) No write unless `connected` and OPEN; no "WebSocket is not open" anywhere. */
function checkWrites(tabs: Tab[], violations: string[]): void {
  for (const target of tabs) {
    for (const attempt of target.audit.attempts) {
      if (!attempt.legal) violations.push(`(a) ws.send on ${target.label} with ${attempt.seen}: ${brief(attempt.text)}`);
      if (isNotOpenError(attempt.error)) violations.push(`(a) ${target.label}: send callback error "${attempt.error!.message}"`);
    }
    for (const error of target.audit.errors) {
      if (isNotOpenError(error)) violations.push(`(a) ${target.label}: 'error' event "${error.message}"`);
    }
  }
}

/** (b) Every send settled exactly once, never rejected, and agrees with what reached the sockets. */
function checkSettlement(tabs: Tab[], sends: TrackedSend[], violations: string[]): void {
  const attemptsById = new Map<number, Array<{ tab: Tab; ok: boolean }>>();
  for (const target of tabs) {
    for (const attempt of target.audit.attempts) {
      if (attempt.callbacks !== 1) violations.push(`(b) ws called back ${attempt.callbacks} times for ${brief(attempt.text)} on ${target.label}`);
      const id = (JSON.parse(attempt.text) as Payload).id;
      const list = attemptsById.get(id) ?? [];
      attemptsById.set(id, list);
      list.push({ tab: target, ok: attempt.callbacks === 1 && attempt.error === undefined });
    }
  }
  for (const send of sends) {
    if (send.settlements !== 1) {
      violations.push(`(b) ${send.label} settled ${send.settlements} times`);
      continue;
    }
    if (send.rejection !== undefined) {
      violations.push(`(b) ${send.label} rejected: ${inspect(send.rejection)}`);
      continue;
    }
    const attempts = attemptsById.get(send.id) ?? [];
    const written = attempts.filter((attempt) => attempt.ok).length;
    if (send.tab) {
      const result = send.value as SendResult;
      if (!result.ok && isNotOpenError(result.error)) violations.push(`(a) ${send.label} failed with "${result.error!.message}"`);
      const expected = result.ok ? 1 : !result.ok && result.reason === 'transport_error' ? attempts.length : 0;
      if (written !== (result.ok ? 1 : 0) || attempts.length !== expected || attempts.some((a) => a.tab !== send.tab)) {
        violations.push(`(b) ${send.label} resolved ${JSON.stringify(result)} but ws.send saw ${attempts.length} attempts, ${written} written`);
      }
    } else {
      const report = send.value as SendReport;
      if (report.sent !== written || report.sent + report.rejected !== send.targets) {
        violations.push(`(b) ${send.label} reported ${JSON.stringify(report)} for ${send.targets} targets; ${written} written`);
      }
    }
  }
}

/**
 * (c) The peer got, in order, a prefix of what was written to its socket:
 * nothing else, no gap before the last message it got, and everything when
 * the server's close handshake completed.
 */
function checkDelivery(target: Tab, violations: string[]): void {
  const attempts = target.audit.attempts.map((attempt) => ({
    id: (JSON.parse(attempt.text) as Payload).id,
    ok: attempt.callbacks === 1 && attempt.error === undefined
  }));
  const received = target.client.received.map((text) => (JSON.parse(text) as Payload).id);
  let next = 0;
  for (const id of received) {
    const at = attempts.findIndex((attempt, index) => index >= next && attempt.id === id);
    if (at < 0) {
      violations.push(`(c) ${target.label} received ${id}, not written after ${attempts[next - 1]?.id ?? 'the start'}`);
      return;
    }
    const skipped = attempts.slice(next, at).filter((attempt) => attempt.ok);
    if (skipped.length > 0) violations.push(`(c) ${target.label} received ${id} but not ${skipped.map((a) => a.id).join(', ')} before it`);
    next = at + 1;
  }
  const info = target.info;
  const cleanServerClose =
    target.serverCloseCode !== undefined &&
    !target.peerActed &&
    !target.serverTerminated &&
    info?.initiator === 'server' &&
    info.code === target.serverCloseCode;
  if (cleanServerClose) {
    const missing = attempts.slice(next).filter((attempt) => attempt.ok);
    if (missing.length > 0) violations.push(`(c) ${target.label} closed cleanly but never got ${missing.map((a) => a.id).join(', ')}`);
  }
}

/** (d) Never back to `connected`, one `closing` at most, `closed` in time, registry empty. */
function checkClosing(tabs: Tab[], timelines: Map<string, Timeline>, subject: LifecycleSubject, violations: string[]): void {
  for (const target of tabs) {
    const timeline = timelines.get(target.connection.id);
    const path = timeline?.transitions.join(', ') ?? 'none';
    if (target.connection.state !== 'closed' || timeline?.closedAt === undefined) {
      violations.push(`(d) ${target.label} not closed within ${CLOSE_TIMEOUT_MS} + ${CLOSE_MARGIN_MS} ms (transitions: ${path})`);
      continue;
    }
    if (timeline.transitions.filter((step) => step.endsWith('->closing')).length > 1) {
      violations.push(`(d) ${target.label} entered closing twice (transitions: ${path})`);
    }
    const took = timeline.closedAt - (timeline.closingAt ?? timeline.closedAt);
    if (took > CLOSE_TIMEOUT_MS + CLOSE_MARGIN_MS) violations.push(`(d) ${target.label} took ${Math.round(took)} ms from closing to closed`);
  }
  if (subject.size !== 0) violations.push(`(d) ${subject.size} connections still registered`);
}

/** (e) Every message a peer got was meant for its user (or everyone) and, if addressed, for its connection. */
function checkRecipients(target: Tab, violations: string[]): void {
  for (const text of target.client.received) {
    const payload = JSON.parse(text) as Payload;
    if ((payload.to !== 'all' && payload.to !== target.userId) || (payload.conn !== undefined && payload.conn !== target.connection.id)) {
      violations.push(`(e) ${target.label} (${target.connection.id}) received ${brief(text)}`);
    }
  }
}

/** A frame's start, enough to name it in a message. */
function brief(text: string): string {
  return text.length > 80 ? `${text.slice(0, 80)}...` : text;
}

function padding(bytes: number): { pad?: string } {
  return bytes > 0 ? { pad: 'x'.repeat(bytes) } : {};
}

function wait(kind: Gap): Promise<void> | undefined {
  switch (kind) {
    case 'sync':
      return undefined;
    case 'microtask':
      return Promise.resolve();
    case 'immediate':
      return new Promise((resolve) => setImmediate(resolve));
    case 'timer':
      return new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Wait for `promise` at most `ms`; the timer never outlives the wait. */
async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The property over one subject: every generated scenario yields no violation.
 *
 * @param {SubjectFactory} factory Starts the subject under test
 * @param {RunStats} [stats] Accumulates what the runs exercised
 * @returns {fc.IAsyncPropertyWithHooks<[Scenario]>} The property
 */
export function lifecycleProperty(factory: SubjectFactory, stats?: RunStats): fc.IAsyncPropertyWithHooks<[Scenario]> {
  return fc.asyncProperty(scenarioArbitrary, async (scenario) => {
    const violations = await runScenario(factory, scenario, stats);
    if (violations.length > 0) throw new Error(`${violations.length} violations:\n${violations.slice(0, 20).join('\n')}`);
  });
}

/**
 * fast-check parameters for a replayable run: the seed comes from FC_SEED
 * (else a fresh one) and the path from FC_PATH; both are printed.
 *
 * @param {string} name What is being checked, for the printed line
 * @returns {{ seed: number; path?: string }} The parameters to pass on
 */
export function replayParameters(name: string): { seed: number; path?: string } {
  const seed = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : (Date.now() ^ (Math.random() * 0x100000000)) | 0;
  if (!Number.isInteger(seed)) throw new Error(`FC_SEED must be an integer, got ${process.env.FC_SEED}`);
  const path = process.env.FC_PATH;
  console.log(`[${name}] fast-check seed=${seed}${path ? ` path=${path}` : ''} (replay: FC_SEED=${seed}${path ? ` FC_PATH=${path}` : ''})`);
  return path ? { seed, path } : { seed };
}
