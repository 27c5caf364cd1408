/**
 * The scripted load of examples/metrics.ts: plain connections that get
 * sends, broadcasts and a send to their user; refusals of five kinds; a
 * session tab that follows two rooms, drops off the network and resumes,
 * then closes and comes back after one of its rooms moved past what the
 * store keeps; a publish while the store is down.
 *
 * It returns what it did as its own side saw it: messages counted as the
 * clients received them, refusals as the send results said, recoveries as
 * the session client was told, closes as the clients saw them. Nothing
 * here reads a metric, so the exposition can be checked against it.
 */
import { WebSocket } from 'ws';
import type { Connection, ConnectionManager, SendResult } from '../../src/index.js';
import { SessionClient, type ClientSocketConstructor, type TopicCursor } from '../../src/client/session-client.js';
import type { OutageStore } from './outage-store.js';

/** The topic the example's metrics name (`topics: [NAMED_TOPIC]`); `news` is counted without its name. */
export const NAMED_TOPIC = 'prices';
export const OTHER_TOPIC = 'news';
/** The manager's `maxBufferedBytes` in the example: small, so a reader that stops is refused soon. */
export const MAX_BUFFERED_BYTES = 256 * 1024;
/** What the example's store keeps of a topic: a tab away for longer misses history (`trimmed`). */
export const KEPT_PER_TOPIC = 5;

/** What the load did, counted on its own side. */
export interface LoadTally {
  /** Client sockets open when the load ended. */
  openSockets: number;
  /** Messages the plain clients received (each was a send the server took). */
  received: number;
  /** Refused sends, by the reason their result gave. */
  refused: Record<string, number>;
  /** Each connection that ended: who ended it, and the close code its client saw. */
  closes: Array<{ initiator: 'server' | 'peer'; code: number }>;
  /** Calls made: broadcasts, sends to a user, publishes (and those to the named topic), publishes refused by reason. */
  calls: { broadcast: number; sendToUser: number; published: number; publishedNamed: number; publishFailed: Record<string, number> };
  /** Recovery frames the tab got, by result (`recovered` or the reason), in all and for the named topic. */
  recoveries: Record<string, number>;
  recoveriesNamed: Record<string, number>;
  /** Topic messages published while the tab was connected and live: each reached a connection as it was published. */
  live: number;
  liveNamed: number;
  /** The tab's drops (each detached its session) and resumes (each attached it again). */
  drops: number;
  resumes: number;
  /** Sessions with a connection at the end. */
  attachedSessions: number;
}

interface PlainClient {
  ws: WebSocket;
  received: number;
  closed: Promise<number>;
  connection: Connection;
}

interface Tab {
  client: SessionClient;
  /** Every socket it opened, the current one last. */
  sockets: WebSocket[];
  recoveries: number;
  messages: number;
}

const SLOW_MESSAGE = 'x'.repeat(64 * 1024);

/** Wait for `ready`, polling; bounded, so a load that goes wrong ends with an error naming what it waited for. */
async function until(ready: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`metrics example: timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Run the load against a manager serving `url`.
 *
 * @param {string} url Where the manager accepts WebSockets (`?user=` names the user)
 * @param {ConnectionManager} manager The manager: sends, broadcasts, publishes, rooms
 * @param {OutageStore} store Its topic store, taken down for one publish
 * @returns {Promise<{ tally: LoadTally, end: () => void }>} What the load did, with its clients still connected (`end` closes them)
 */
export async function runLoad(url: string, manager: ConnectionManager, store: OutageStore): Promise<{ tally: LoadTally; end: () => void }> {
  const tally: LoadTally = {
    openSockets: 0,
    received: 0,
    refused: {},
    closes: [],
    calls: { broadcast: 0, sendToUser: 0, published: 0, publishedNamed: 0, publishFailed: {} },
    recoveries: {},
    recoveriesNamed: {},
    live: 0,
    liveNamed: 0,
    drops: 0,
    resumes: 0,
    attachedSessions: 0
  };
  const plain: PlainClient[] = [];
  const tabs: Tab[] = [];
  const end = (): void => {
    for (const client of plain) client.ws.terminate();
    for (const t of tabs) t.client.close();
  };
  /** Messages the plain clients must receive: what the send results and the fan-outs say was taken. */
  let owed = 0;
  const sent = (result: SendResult): void => {
    if (result.ok) owed++;
    else tally.refused[result.reason] = (tally.refused[result.reason] ?? 0) + 1;
  };
  const publish = async (topic: string, message: unknown): Promise<void> => {
    const result = await manager.publish(topic, message);
    tally.calls.published++;
    if (topic === NAMED_TOPIC) tally.calls.publishedNamed++;
    if (!result.ok) tally.calls.publishFailed[result.reason ?? 'invalid'] = (tally.calls.publishFailed[result.reason ?? 'invalid'] ?? 0) + 1;
  };
  try {
    // A tab of carol's in two rooms; her sessions also follow `broadcast` and `user:carol`.
    manager.subscribe('carol', NAMED_TOPIC);
    manager.subscribe('carol', OTHER_TOPIC);
    let tab = openTab(url, tally, tabs);
    await until(() => tab.recoveries === 4, 'the tab to hear where it stands in its four topics');
    const live = async (topic: string, times: number, publishOne: (i: number) => Promise<unknown>): Promise<void> => {
      const before = tab.messages;
      for (let i = 0; i < times; i++) await publishOne(i);
      tally.live += times;
      if (topic === NAMED_TOPIC) tally.liveNamed += times;
      await until(() => tab.messages === before + times, `the tab to get ${times} live messages of ${topic}`);
    };

    const [alice1, alice2, bob, dave, eve] = [
      await openPlain(url, 'alice', manager, plain),
      await openPlain(url, 'alice', manager, plain),
      await openPlain(url, 'bob', manager, plain),
      await openPlain(url, 'dave', manager, plain),
      await openPlain(url, 'eve', manager, plain)
    ] as [PlainClient, PlainClient, PlainClient, PlainClient, PlainClient];

    // Sends, through the manager and through the connection.
    for (const client of [alice1, alice2, bob, dave]) for (let i = 0; i < 3; i++) sent(await manager.send(client.connection.id, { hello: i }));
    for (let i = 0; i < 2; i++) sent(await alice1.connection.send({ direct: i }));
    // To every plain connection (5), and to the tab through `broadcast`; to alice's two connections, and to carol's topic.
    await live('broadcast', 2, async (i) => {
      await manager.broadcast({ everyone: i });
      tally.calls.broadcast++;
      owed += plain.length;
    });
    await manager.sendToUser('alice', { toAlice: true });
    owed += 2;
    await live('user:carol', 1, () => manager.sendToUser('carol', { toCarol: true }));
    tally.calls.sendToUser += 2;
    await live(NAMED_TOPIC, 3, (i) => publish(NAMED_TOPIC, { price: i }));
    await live(OTHER_TOPIC, 2, (i) => publish(OTHER_TOPIC, { story: i }));

    // Refusals: an unknown id, a value JSON cannot write, a connection closing, then closed.
    sent(await manager.send('no-such-connection', { lost: true }));
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    sent(await bob.connection.send(circular));
    const daveClosed = dave.connection.close(1000, 'done');
    sent(await dave.connection.send({ late: true }));
    await daveClosed;
    sent(await dave.connection.send({ later: true }));
    tally.closes.push({ initiator: 'server', code: await dave.closed });
    await manager.close(bob.connection.id, 4001, 'bye');
    tally.closes.push({ initiator: 'server', code: await bob.closed });
    alice2.ws.close(1000, 'leaving');
    tally.closes.push({ initiator: 'peer', code: await alice2.closed });

    // Backpressure: eve stops reading; sends go on, one a turn, until her socket holds maxBufferedBytes and the next is refused.
    pauseReading(eve.ws);
    const slow: Array<Promise<SendResult>> = [];
    for (let i = 0; i < 4_000 && eve.connection.socket.bufferedAmount < MAX_BUFFERED_BYTES; i++) {
      slow.push(eve.connection.send(SLOW_MESSAGE));
      await nextTurn();
    }
    slow.push(eve.connection.send(SLOW_MESSAGE));
    resumeReading(eve.ws);
    for (const result of await Promise.all(slow)) sent(result);

    // A drop: the network loses the tab's connection (no close frame either way); the client comes back by itself and resumes.
    // Cut at the server's end, so the server has seen the drop before the client, 100 ms later, resumes.
    const dropped = tab.sockets.at(-1)!;
    const droppedClose = new Promise<number>((resolve) => dropped.once('close', resolve));
    const recovered = tab.recoveries;
    cutTcp(manager.connectionsOf('carol')[0]!.socket);
    tally.closes.push({ initiator: 'peer', code: await droppedClose });
    tally.drops++;
    await until(() => tab.recoveries === recovered + 4, 'the tab to resume after the drop');
    tally.resumes++;
    await live(NAMED_TOPIC, 1, () => publish(NAMED_TOPIC, { price: 'after the drop' }));

    // The tab closes; while it is away `news` moves past what the store keeps and `prices` does not; it comes back.
    const { session, cursors } = tab.client;
    const closedSocket = tab.sockets.at(-1)!;
    const closed = new Promise<number>((resolve) => closedSocket.once('close', resolve));
    tab.client.close();
    tally.closes.push({ initiator: 'peer', code: await closed });
    tally.drops++;
    await until(() => manager.sessionSnapshot(0).sessions.detached === 1, 'the session to be detached');
    for (let i = 0; i < 2; i++) await publish(NAMED_TOPIC, { away: i });
    for (let i = 0; i <= KEPT_PER_TOPIC; i++) await publish(OTHER_TOPIC, { away: i });
    tab = openTab(url, tally, tabs, { session: session!, cursors });
    await until(() => tab.recoveries === 4, 'the tab to resume its four topics');
    tally.resumes++;
    tally.attachedSessions = 1;

    // The store goes down for one publish.
    store.down = true;
    await publish(NAMED_TOPIC, { outage: true });
    store.down = false;

    const received = (): number => plain.reduce((sum, client) => sum + client.received, 0);
    await until(() => received() === owed, `the plain clients to receive the ${owed} messages the server took`);
    tally.received = received();
    const sockets = [...plain.map((client) => client.ws), ...tabs.flatMap((t) => t.sockets)];
    tally.openSockets = sockets.filter((ws) => ws.readyState === WebSocket.OPEN).length;
    return { tally, end };
  } catch (error) {
    end();
    throw error;
  }
}

async function openPlain(url: string, user: string, manager: ConnectionManager, plain: PlainClient[]): Promise<PlainClient> {
  const ws = new WebSocket(`${url}?user=${user}`);
  let received = 0;
  ws.on('message', () => received++);
  ws.on('error', () => {});
  const closed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  // The server took the socket before it answered the upgrade: its connection is the one no other client has.
  const taken = new Set(plain.map((other) => other.connection));
  const connection = manager.connectionsOf(user).find((candidate) => !taken.has(candidate));
  if (connection === undefined) throw new Error(`metrics example: no server connection for ${user}`);
  const client: PlainClient = {
    ws,
    closed,
    connection,
    get received() {
      return received;
    }
  };
  plain.push(client);
  return client;
}

/** A session tab of carol's: a SessionClient whose sockets are kept, so the load can cut one. */
function openTab(url: string, tally: LoadTally, tabs: Tab[], resume?: { session: string; cursors: Record<string, TopicCursor> }): Tab {
  const sockets: WebSocket[] = [];
  const KeptSocket = class extends WebSocket {
    constructor(address: string, protocols: string[]) {
      super(address, protocols);
      sockets.push(this);
    }
  } as unknown as ClientSocketConstructor;
  // A fixed reconnect delay, long enough for the server to see the drop before the resume.
  const client = new SessionClient({ url: `${url}?user=carol`, WebSocket: KeptSocket, minDelayMs: 100, random: () => 1, resume });
  const tab: Tab = { client, sockets, recoveries: 0, messages: 0 };
  client.on('recovery', (recovery) => {
    tab.recoveries++;
    const result = recovery.recovered ? 'recovered' : (recovery.reason ?? 'unknown');
    tally.recoveries[result] = (tally.recoveries[result] ?? 0) + 1;
    if (recovery.topic === NAMED_TOPIC) tally.recoveriesNamed[result] = (tally.recoveriesNamed[result] ?? 0) + 1;
  });
  client.on('message', () => tab.messages++);
  tabs.push(tab);
  client.start();
  return tab;
}

/** Destroy the TCP socket under a ws socket, as a lost network does: no close frame, no close handshake. */
function cutTcp(ws: WebSocket): void {
  (ws as unknown as { _socket: { destroy(): void } })._socket.destroy();
}

function pauseReading(ws: WebSocket): void {
  (ws as unknown as { _socket: { pause(): void } })._socket.pause();
}

function resumeReading(ws: WebSocket): void {
  (ws as unknown as { _socket: { resume(): void } })._socket.resume();
}
