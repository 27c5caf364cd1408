/**
 * A server with sessions and everything a test of the session promise
 * drives and reads (#20): raw protocol clients and `SessionClient` tabs
 * whose every frame is recorded, a store whose reads can lag or fail (a
 * feed behind its store, a store cut during a replay), and the run record
 * the conformance checker reads. Everything it starts, `stop()` ends.
 */
import { SessionClient, type ClientSocketConstructor } from '../../src/client/session-client.js';
import type { ConnectionManagerOptions } from '../../src/index.js';
import { MemoryTopicStore, type TopicPosition, type TopicRead, type TopicStore } from '../../src/sessions/topic-store.js';
import { RawSessionClient, type RawClientOptions } from '../../src/tools/conformance/raw-client.js';
import { recordingWebSocket } from '../../src/tools/conformance/recording-socket.js';
import { CONNECTION_PARAM, ConformanceRun, identifyRecorded } from './conformance-run.js';
import { startServer, waitFor, type TestServer } from './server.js';

/** Non-ASCII text for every payload: the frames must carry it byte for byte. */
export const TEXT = 'ünï€😀 \u2028 "quoted" \\';

/**
 * A `MemoryTopicStore` whose reads can be slowed (a feed that lags what
 * the store holds) or made to fail (the store cut during a replay).
 */
export class FlakyStore implements TopicStore {
  readonly memory: MemoryTopicStore;
  /** Every read answers this much later. */
  readDelayMs = 0;
  /** This many reads from now fail as an unreachable store would. */
  failReads = 0;

  constructor(memory: MemoryTopicStore) {
    this.memory = memory;
  }

  append(topic: string, payload: string | Buffer): TopicPosition {
    return this.memory.append(topic, payload);
  }

  position(topic: string): TopicPosition {
    return this.memory.position(topic);
  }

  readAfter(topic: string, epoch: string, offset: number): TopicRead | Promise<TopicRead> {
    if (this.failReads > 0) {
      this.failReads--;
      return Promise.reject(new Error('store unreachable (cut by the test)'));
    }
    if (this.readDelayMs === 0) return this.memory.readAfter(topic, epoch, offset);
    // Read when the delay is over, as a store answering late would.
    return new Promise((resolve) => setTimeout(() => resolve(this.memory.readAfter(topic, epoch, offset)), this.readDelayMs));
  }

  forget(topic: string): void {
    this.memory.forget(topic);
  }
}

export class SessionLab {
  readonly server: TestServer;
  readonly store: FlakyStore;
  readonly run: ConformanceRun;
  readonly raws: RawSessionClient[] = [];
  readonly clients: SessionClient[] = [];
  readonly #names = new Map<SessionClient, string>();
  #instances = 0;
  #sent = 0;
  #published = 0;

  private constructor(server: TestServer, store: FlakyStore) {
    this.server = server;
    this.store = store;
    this.run = new ConformanceRun([server.manager], (topic) => store.position(topic));
  }

  /** A server on 127.0.0.1 whose connections are told apart by their records' names. */
  static async start(options: ConnectionManagerOptions & { history?: number } = {}): Promise<SessionLab> {
    const { history = 1_000, ...rest } = options;
    const store = new FlakyStore(new MemoryTopicStore({ maxEntriesPerTopic: history }));
    const server = await startServer({ ...rest, sessions: { ...rest.sessions, store } });
    server.detach();
    server.manager.attach(server.wss, { identify: identifyRecorded });
    return new SessionLab(server, store);
  }

  url(user: string): string {
    return `ws://127.0.0.1:${this.server.port}/?user=${encodeURIComponent(user)}`;
  }

  /** A raw client of `user`, recorded, reconnecting by itself; not yet connected. */
  raw(user: string, options: Partial<RawClientOptions> = {}): RawSessionClient {
    const client = new RawSessionClient({
      url: this.url(user),
      user,
      name: `raw ${++this.#instances} (${user})`,
      reconnectMs: 10,
      connectionParam: CONNECTION_PARAM,
      records: this.run.records,
      ...options
    });
    this.raws.push(client);
    return client;
  }

  /** A name for a client made elsewhere (a reload, a duplicate), kept in `raws`. */
  adopt(make: (name: string) => RawSessionClient, user: string): RawSessionClient {
    const client = make(`raw ${++this.#instances} (${user})`);
    this.raws.push(client);
    return client;
  }

  /** A `SessionClient` tab of `user`, recorded at its socket; started. */
  client(user: string, resume?: { session: string; cursors: Record<string, TopicPosition> }): SessionClient {
    const name = `client ${++this.#instances} (${user})`;
    const Socket = recordingWebSocket({ name, user, records: this.run.records, connectionParam: CONNECTION_PARAM });
    const client = new SessionClient({
      url: this.url(user),
      WebSocket: Socket as unknown as ClientSocketConstructor,
      minDelayMs: 2,
      maxDelayMs: 20,
      ...(resume === undefined ? {} : { resume })
    }).start();
    this.clients.push(client);
    this.#names.set(client, name);
    return client;
  }

  /** The name of a `SessionClient`'s records (each is `<name> #<n>`). */
  nameOf(client: SessionClient): string {
    return `${this.#names.get(client)!} #`;
  }

  /** Application data no other send of the run has. */
  data(from: string): { from: string; n: number; text: string } {
    return { from, n: ++this.#sent, text: TEXT };
  }

  /**
   * Publish `count` messages to a topic (of `bytes` padding each); offsets
   * are given as each is called. Resolves once every one was delivered here.
   */
  publish(topic: string, count: number, bytes = 0): Promise<void> {
    const published: Array<Promise<unknown>> = [];
    for (let i = 0; i < count; i++) published.push(this.server.manager.publish(topic, { n: ++this.#published, text: TEXT, pad: 'x'.repeat(bytes) }));
    return Promise.all(published).then(() => {});
  }

  /** Whether the application was handed this data (once or more). */
  delivered(data: unknown): number {
    const text = JSON.stringify(data);
    return this.run.deliveries.filter((d) => JSON.stringify(d.data) === text).length;
  }

  /** Wait until the cursors (of a raw client or a `SessionClient`) reach where each topic stands. */
  async caughtUp(cursorsOf: () => Record<string, TopicPosition>, topics: readonly string[], what: string, timeoutMs = 5_000): Promise<void> {
    await waitFor(() => topics.every((topic) => {
      const { epoch, offset } = this.store.position(topic);
      const cursor = cursorsOf()[topic];
      return offset === 0 || (cursor?.epoch === epoch && cursor.offset === offset);
    }), timeoutMs, `${what} caught up with ${topics.join(', ')}`);
  }

  async stop(): Promise<void> {
    for (const client of this.clients) client.close();
    for (const raw of this.raws) raw.stop();
    await this.server.stop();
  }
}
