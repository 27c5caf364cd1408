/**
 * The server side of the soak: a random mix of sends, broadcasts,
 * sendToUser, closes and terminates on the manager's live connections,
 * replies to client messages, and sends from inside close transitions.
 * Every promise it makes goes through a {@link SettleLedger}; every send
 * whose refusal is known in advance is checked.
 */
import type { CloseInfo, Connection, ConnectionManager, SendFailureReason, SendReport, SendResult } from '../../src/index.js';
import { ViolationLog, type Violations } from './checks.js';
import { SettleLedger, type LedgerSummary } from './ledger.js';
import type { SocketProbe } from './probe.js';
import { Pool } from './pool.js';
import { FLOOD_REQUEST } from './protocol.js';
import { weightedChooser, type Random } from './random.js';
import { tally } from './tally.js';

/** How often each operation is chosen, relative to the others. */
const OPERATION_WEIGHTS = {
  connectionSend: 30,
  managerSend: 20,
  sendBinary: 4,
  sendLarge: 2,
  sendUnknown: 1,
  sendUnserializable: 1,
  broadcast: 0.2,
  broadcastFiltered: 0.2,
  sendToUser: 8,
  closeThenSend: 2,
  terminateThenSend: 1
} as const;

type Operation = keyof typeof OPERATION_WEIGHTS;

/** The kinds of promise the driver tracks, one ledger each. */
export const TRACKED_KINDS = ['connection.send', 'manager.send', 'broadcast', 'sendToUser', 'connection.closed'] as const;
type TrackedKind = (typeof TRACKED_KINDS)[number];
type SingleSend = 'connection.send' | 'manager.send';

const SMALL_BINARY = Buffer.alloc(256, 7);
const LARGE_BINARY = Buffer.alloc(64 * 1024, 9);
/** A flood writes at most this many large frames (10 MiB), or until the connection leaves `connected`. */
const FLOOD_FRAMES = 160;
const RECENT_IDS = 64;
const CIRCULAR: Record<string, unknown> = {};
CIRCULAR.self = CIRCULAR;
const CLOSE_CODES = [1000, 1001, 1011, 4000] as const;

export interface DriverOptions {
  /** Users are `u1` .. `u<users>`. */
  users: number;
  /** Operations per timer tick (one tick about every millisecond). */
  opsPerTick: number;
  /** Operations are skipped while this many sends are pending. */
  maxPending: number;
}

/** What the driver did and saw. */
export interface DriverReport {
  operations: Record<Operation, number>;
  /** Single sends (connection.send, manager.send), by outcome. */
  sends: { ok: number; refused: Partial<Record<SendFailureReason, number>> };
  /** broadcast and sendToUser, summed over their reports. */
  fanOut: { broadcasts: number; sendsToUser: number; sent: number; rejected: Partial<Record<SendFailureReason, number>> };
  fanOutReports: Violations;
  refusals: Violations;
  ledgers: Record<TrackedKind, LedgerSummary>;
  accepted: number;
  closeEvents: number;
  closedTwice: number;
  /** Connections still in the driver's live list. */
  tracked: number;
  /** Most connections accepted and not yet closed at once. */
  peakLive: number;
  serverCloses: number;
  serverTerminates: number;
  replies: number;
  floods: number;
  /** How connections ended, by initiator and by code. */
  initiators: Record<string, number>;
  closeCodes: Record<string, number>;
}

export class SoakDriver {
  readonly #manager: ConnectionManager;
  readonly #random: Random;
  readonly #options: DriverOptions;
  readonly #choose: () => Operation;
  readonly #ledgers = Object.fromEntries(TRACKED_KINDS.map((k) => [k, new SettleLedger()])) as Record<TrackedKind, SettleLedger>;
  readonly #live = new Pool<Connection>();
  readonly #closed = new WeakSet<Connection>();
  readonly #recentIds: string[] = [];
  readonly #fanOutReports = new ViolationLog();
  readonly #refusals = new ViolationLog();
  readonly #operations = Object.fromEntries(Object.keys(OPERATION_WEIGHTS).map((k) => [k, 0])) as Record<Operation, number>;
  readonly #sends: DriverReport['sends'] = { ok: 0, refused: {} };
  readonly #fanOut: DriverReport['fanOut'] = { broadcasts: 0, sendsToUser: 0, sent: 0, rejected: {} };
  readonly #initiators: Record<string, number> = {};
  readonly #closeCodes: Record<string, number> = {};
  #timer: NodeJS.Timeout | undefined;
  #seq = 0;
  #accepted = 0;
  #closeEvents = 0;
  #closedTwice = 0;
  #serverCloses = 0;
  #serverTerminates = 0;
  #replies = 0;
  #floods = 0;
  #peakLive = 0;

  /**
   * Listens to the manager at once: every accepted connection is watched
   * by `probe` and tracked, even while the random operations are stopped.
   *
   * @param {ConnectionManager} manager The manager under test
   * @param {Random} random The seeded stream choosing operations
   * @param {SocketProbe} probe Instruments each accepted socket
   * @param {DriverOptions} options Users, pace and bounds
   */
  constructor(manager: ConnectionManager, random: Random, probe: SocketProbe, options: DriverOptions) {
    this.#manager = manager;
    this.#random = random;
    this.#options = options;
    this.#choose = weightedChooser(random, OPERATION_WEIGHTS);
    manager.on('connection', (connection) => {
      probe.watch(connection);
      this.#accepted++;
      this.#live.add(connection);
      if (this.#live.size > this.#peakLive) this.#peakLive = this.#live.size;
      void this.#ledgers['connection.closed'].track(connection.closed);
    });
    manager.on('close', (connection, info) => this.#onClose(connection, info));
    manager.on('message', (connection, data) => this.#onMessage(connection, data));
    manager.on('transition', (connection, record) => {
      // The state changed before this listener runs: a send from here must be refused.
      if (record.to === 'closing' || record.to === 'closed') {
        this.#expectRefusal('connection.send', connection.send('from transition'), record.to, `send in transition to ${record.to}`);
      }
    });
  }

  /** Connections accepted so far. */
  get accepted(): number {
    return this.#accepted;
  }

  /** Sends still waiting for ws to report the write. */
  get pendingSends(): number {
    let pending = 0;
    for (const kind of TRACKED_KINDS) if (kind !== 'connection.closed') pending += this.#ledgers[kind].pending;
    return pending;
  }

  /** Start the random operations (about one tick per millisecond). */
  start(): void {
    if (this.#timer) return;
    const loop = (): void => {
      this.#tick();
      this.#timer = setTimeout(loop, 1);
    };
    this.#timer = setTimeout(loop, 1);
  }

  /** Stop the random operations; replies and transition sends go on while connections live. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** A snapshot of what the driver did and saw. */
  report(): DriverReport {
    const ledgers = Object.fromEntries(TRACKED_KINDS.map((k) => [k, this.#ledgers[k].summary()])) as Record<TrackedKind, LedgerSummary>;
    const snapshot = (v: ViolationLog): Violations => ({ checked: v.checked, wrong: v.wrong, samples: v.samples.slice() });
    return {
      operations: { ...this.#operations },
      sends: { ok: this.#sends.ok, refused: { ...this.#sends.refused } },
      fanOut: { ...this.#fanOut, rejected: { ...this.#fanOut.rejected } },
      fanOutReports: snapshot(this.#fanOutReports),
      refusals: snapshot(this.#refusals),
      ledgers,
      accepted: this.#accepted,
      closeEvents: this.#closeEvents,
      closedTwice: this.#closedTwice,
      tracked: this.#live.size,
      peakLive: this.#peakLive,
      serverCloses: this.#serverCloses,
      serverTerminates: this.#serverTerminates,
      replies: this.#replies,
      floods: this.#floods,
      initiators: { ...this.#initiators },
      closeCodes: { ...this.#closeCodes }
    };
  }

  #tick(): void {
    for (let i = 0; i < this.#options.opsPerTick && this.pendingSends < this.#options.maxPending; i++) {
      const operation = this.#choose();
      this.#operations[operation]++;
      this.#run(operation);
    }
  }

  #run(operation: Operation): void {
    const manager = this.#manager;
    const random = this.#random;
    if (operation === 'broadcast') {
      this.#fanOut.broadcasts++;
      this.#trackReport('broadcast', manager.size, manager.broadcast({ type: 'broadcast', seq: ++this.#seq }));
      return;
    }
    if (operation === 'broadcastFiltered') {
      this.#fanOut.broadcasts++;
      let selected = 0;
      const filter = (): boolean => {
        if (random.chance(0.001)) throw new Error('broadcast filter failure');
        const keep = random.chance(0.5);
        if (keep) selected++;
        return keep;
      };
      const report = manager.broadcast(`filtered ${++this.#seq}`, filter);
      this.#trackReport('broadcast', selected, report);
      return;
    }
    if (operation === 'sendToUser') {
      this.#fanOut.sendsToUser++;
      const userId = `u${random.int(1, this.#options.users)}`;
      this.#trackReport('sendToUser', manager.connectionsOf(userId).length, manager.sendToUser(userId, { to: userId, seq: ++this.#seq }));
      return;
    }
    if (operation === 'sendUnknown') {
      const id = this.#recentIds.length > 0 ? random.pick(this.#recentIds) : 'no-such-connection';
      this.#expectRefusal('manager.send', manager.send(id, 'to nobody'), 'not_found', `manager.send to closed id ${id}`);
      return;
    }
    const connection = this.#live.pick(random);
    if (!connection) return;
    switch (operation) {
      case 'connectionSend':
        return this.#trackSend('connection.send', connection.send({ type: 'event', seq: ++this.#seq }));
      case 'managerSend':
        return this.#trackSend('manager.send', manager.send(connection.id, `text ${++this.#seq}`));
      case 'sendBinary':
        return this.#trackSend('connection.send', connection.send(SMALL_BINARY));
      case 'sendLarge':
        return this.#trackSend('connection.send', connection.send(LARGE_BINARY));
      case 'sendUnserializable':
        return this.#expectRefusal(
          'connection.send',
          connection.send(CIRCULAR),
          connection.state === 'connected' ? 'serialization_failed' : stateRefusal(connection),
          `unserializable send in ${connection.state}`
        );
      case 'closeThenSend': {
        if (connection.state === 'connecting' || connection.state === 'connected') this.#serverCloses++;
        const code = random.pick(CLOSE_CODES);
        if (random.chance(0.5)) void manager.close(connection.id, code, 'soak close');
        else void connection.close(code, 'soak close');
        this.#expectRefusal('connection.send', connection.send('after close'), 'closing', 'send right after close');
        return;
      }
      case 'terminateThenSend':
        this.#serverTerminates++;
        void connection.terminate();
        this.#expectRefusal('connection.send', connection.send('after terminate'), 'closed', 'send right after terminate');
        return;
    }
  }

  #onMessage(connection: Connection, data: string | Buffer): void {
    if (data === FLOOD_REQUEST) {
      // Write until the send buffer limit closes the connection (backpressurePolicy 'close').
      this.#floods++;
      for (let i = 0; i < FLOOD_FRAMES && connection.state === 'connected'; i++) {
        this.#trackSend('connection.send', connection.send(LARGE_BINARY));
      }
      return;
    }
    if (this.#random.chance(0.5)) {
      this.#replies++;
      this.#trackSend('connection.send', connection.send(`echo ${String(data)}`));
    }
  }

  #onClose(connection: Connection, info: CloseInfo): void {
    this.#closeEvents++;
    if (this.#closed.has(connection)) this.#closedTwice++;
    this.#closed.add(connection);
    this.#live.delete(connection);
    if (this.#recentIds.length < RECENT_IDS) this.#recentIds.push(connection.id);
    else this.#recentIds[this.#closeEvents % RECENT_IDS] = connection.id;
    tally(this.#initiators, info.initiator);
    tally(this.#closeCodes, String(info.code));
  }

  #trackSend(kind: SingleSend, promise: Promise<SendResult>): void {
    void this.#ledgers[kind].track(promise).then((result) => this.#countResult(result));
  }

  #countResult(result: SendResult): void {
    if (result.ok) this.#sends.ok++;
    else this.#sends.refused[result.reason] = (this.#sends.refused[result.reason] ?? 0) + 1;
  }

  #expectRefusal(kind: SingleSend, promise: Promise<SendResult>, expected: SendFailureReason, what: string): void {
    void this.#ledgers[kind].track(promise).then((result) => {
      this.#countResult(result);
      this.#refusals.record(!result.ok && result.reason === expected, () => `${what}: expected ${expected}, got ${describe(result)}`);
    });
  }

  #trackReport(kind: 'broadcast' | 'sendToUser', targets: number, promise: Promise<SendReport>): void {
    void this.#ledgers[kind].track(promise).then((report) => {
      this.#fanOut.sent += report.sent;
      for (const [reason, n] of Object.entries(report.reasons)) {
        const r = reason as SendFailureReason;
        this.#fanOut.rejected[r] = (this.#fanOut.rejected[r] ?? 0) + n;
      }
      this.#fanOutReports.record(
        report.sent + report.rejected === targets,
        () => `${kind} to ${targets} targets reported ${report.sent} sent + ${report.rejected} rejected`
      );
    });
  }
}

function stateRefusal(connection: Connection): SendFailureReason {
  return connection.state === 'connecting' ? 'not_connected' : connection.state === 'closing' ? 'closing' : 'closed';
}

function describe(result: SendResult): string {
  return result.ok ? 'ok' : result.reason;
}
