/**
 * A session server in a process of its own, for tests that must see it
 * survive (#20): nothing here catches what the server throws, so a frame
 * that crashes the server ends this process, and the test sees the exit
 * and its stderr. It speaks JSON lines: on stdout, `listening`, each
 * `delivery` (what `sessionMessage` was handed, by connection record) and
 * replies; on stdin, commands (`publish`, `positions`, `memory`).
 *
 * Usage: node --import tsx test/support/session-server-process.ts [--stall-records-ms N] [--max-payload N] [--max-frames-per-second N]
 */
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { WebSocketServer } from 'ws';
import { ConnectionManager } from '../../src/index.js';
import { sendVerdict, type SendVerdict } from '../../src/sessions/client-sends.js';
import { MemoryTopicStore, type SessionRecord, type SessionRecords, type TopicPosition, type TopicRead, type TopicStore } from '../../src/sessions/topic-store.js';
import { CONNECTION_PARAM, identifyRecorded } from './conformance-run.js';
import { PROCESS_ROOM, PROCESS_USERS } from './server-process.js';


function option(name: string): number | undefined {
  const index = process.argv.indexOf(name);
  return index < 0 ? undefined : Number(process.argv[index + 1]);
}

function emit(line: Record<string, unknown>): void {
  let text: string;
  try {
    text = JSON.stringify(line);
  } catch (error) {
    // Data too deep to write back: say so instead of crashing the harness (the server handed it over fine).
    const { data: _, ...rest } = line;
    text = JSON.stringify({ ...rest, unwritable: error instanceof Error ? error.message : String(error) });
  }
  process.stdout.write(`${text}\n`);
}

/**
 * Session records shared as a cluster's would be: every send is checked
 * against them asynchronously, as against Redis, and the first check
 * stalls for `stallMs` (a store that hiccups) while the client goes on
 * sending.
 */
class StallingRecords implements SessionRecords {
  readonly #records = new Map<string, SessionRecord>();
  readonly #sends = new Map<string, number>();
  #stallMs: number;

  constructor(stallMs: number) {
    this.#stallMs = stallMs;
  }

  #later<T>(value: () => T): Promise<T> {
    const stall = this.#stallMs;
    this.#stallMs = 0;
    return new Promise((resolve) => (stall > 0 ? setTimeout(() => resolve(value()), stall) : setImmediate(() => resolve(value()))));
  }

  create(token: string, userId: string | undefined): Promise<void> {
    this.#records.set(token, { userId });
    return Promise.resolve();
  }

  get(token: string): Promise<SessionRecord | undefined> {
    return Promise.resolve(this.#records.get(token));
  }

  touch(): Promise<void> {
    return Promise.resolve();
  }

  acceptSend(token: string, client: string, id: number): Promise<SendVerdict> {
    return this.#later(() => {
      const key = `${token}\u0000${client}`;
      const verdict = sendVerdict(this.#sends.get(key), id);
      if (verdict === 'deliver') this.#sends.set(key, id);
      return verdict;
    });
  }

  delivered(): Promise<void> {
    return Promise.resolve();
  }
}

/** A store of this process with shared-like session records: the hub checks sends as a cluster node does. */
class SharedLikeStore implements TopicStore {
  readonly sessions: SessionRecords;
  readonly #memory = new MemoryTopicStore();

  constructor(stallMs: number) {
    this.sessions = new StallingRecords(stallMs);
  }

  append(topic: string, payload: string | Buffer): TopicPosition {
    return this.#memory.append(topic, payload);
  }

  position(topic: string): TopicPosition {
    return this.#memory.position(topic);
  }

  readAfter(topic: string, epoch: string, offset: number): TopicRead {
    return this.#memory.readAfter(topic, epoch, offset);
  }

  forget(topic: string): void {
    this.#memory.forget(topic);
  }
}

const stallRecordsMs = option('--stall-records-ms');
const maxPayload = option('--max-payload') ?? 64 * 1024;
const store: TopicStore = stallRecordsMs === undefined ? new MemoryTopicStore() : new SharedLikeStore(stallRecordsMs);
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload });
await new Promise<void>((resolve) => wss.once('listening', resolve));
const maxFramesPerSecond = option('--max-frames-per-second');
const manager = new ConnectionManager({
  logger: pino({ level: 'silent' }),
  heartbeatIntervalMs: 0,
  sessions: { ttlMs: 60_000, store, ...(maxFramesPerSecond === undefined ? {} : { maxFramesPerSecond }) }
});
manager.attach(wss, { identify: identifyRecorded });
manager.on('sessionMessage', (connection, data) => {
  const conn = connection.metadata?.[CONNECTION_PARAM];
  emit({ event: 'delivery', connection: typeof conn === 'string' ? conn : `unrecorded ${connection.id}`, data });
});
for (const user of PROCESS_USERS) {
  const from = await store.position(PROCESS_ROOM);
  manager.subscribe(user, PROCESS_ROOM);
  emit({ event: 'joined', user, topic: PROCESS_ROOM, from });
}

interface Command {
  id: number;
  cmd: 'publish' | 'positions' | 'memory';
  topic?: string;
  count?: number;
  topics?: string[];
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const command = JSON.parse(line) as Command;
  if (command.cmd === 'publish') {
    const published: Array<Promise<unknown>> = [];
    for (let i = 0; i < (command.count ?? 1); i++) published.push(manager.publish(command.topic!, { n: i, text: 'ünï€😀' }));
    void Promise.all(published).then(() => emit({ reply: command.id }));
  } else if (command.cmd === 'positions') {
    void Promise.all((command.topics ?? []).map(async (topic) => [topic, await store.position(topic)] as const))
      .then((positions) => emit({ reply: command.id, positions: Object.fromEntries(positions) }));
  } else {
    emit({ reply: command.id, rss: process.memoryUsage().rss });
  }
});
process.stdin.on('end', () => {
  void manager.shutdown({ timeoutMs: 1_000 }).then(() => wss.close(() => process.exit(0)));
});
emit({ event: 'listening', port: (wss.address() as AddressInfo).port });
