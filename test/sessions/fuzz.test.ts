/**
 * The server survives any frame (#20): a session server in a child process
 * (nothing there catches what it throws), arbitrary text and binary frames
 * from hostile connections (non-ASCII, huge, deep, wrong types, invalid
 * UTF-8, every frame type in every state: before the hello, between the
 * hello and its welcome, after it; another user's token) while
 * well-behaved tabs (raw protocol clients and a `SessionClient`) follow
 * their topics and send on the same server. After each run the process is
 * alive, every offending connection was closed with the code
 * docs/protocol.md section 7 gives it, every other one still answers a
 * ping, and the conformance checker finds no breach in any frame the
 * server sent, to the well-behaved tabs or to the hostile ones. Beside it:
 * a client sending as fast as it can does not grow the server's memory
 * while the shared store stalls, and `SessionClient` survives any frame a
 * server sends it.
 */
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { WebSocketServer, type WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionClient, type ClientSocketConstructor } from '../../src/client/session-client.js';
import { SchemaChecker } from '../../src/protocol/schema-check.js';
import { PROTOCOL_SCHEMA } from '../../src/protocol/schema.js';
import { checkRun, describeViolations, type ConnectionRecord, type Position } from '../../src/tools/conformance/checker.js';
import { RawSessionClient } from '../../src/tools/conformance/raw-client.js';
import { recordingWebSocket } from '../../src/tools/conformance/recording-socket.js';
import { fastCheckSeed } from '../hardening/support/seed.js';
import { recordProcessFaults } from '../hardening/support/process-faults.js';
import { CONNECTION_PARAM } from '../support/conformance-run.js';
import { waitFor } from '../support/server.js';
import { PROCESS_ROOM, PROCESS_USERS, ServerProcess } from '../support/server-process.js';

const SEED = fastCheckSeed('test/sessions/fuzz.test.ts');
const PATH = process.env.FC_PATH;
const MAX_PAYLOAD = 64 * 1024;
const schema = new SchemaChecker(PROTOCOL_SCHEMA);
const TOPICS = ['broadcast', PROCESS_ROOM, ...PROCESS_USERS.map((user) => `user:${user}`)];

/** One frame a hostile client sends: text, bytes as a binary message, or bytes as a text message (valid UTF-8 or not). */
type Frame = { text: string } | { binary: Uint8Array } | { textBytes: Uint8Array } | { steal: true };

interface Attack {
  user: 'mallory' | 'alice' | undefined;
  /** Where the connection stands when the frames go: no hello yet, hello said but not answered, welcomed. */
  stage: 'fresh' | 'hello' | 'welcomed';
  frames: Frame[];
}

/** Strings that break naive code: multi-byte characters (a close reason cut by characters, not bytes, overflows), quotes, NUL. */
const weird = fc.oneof(
  fc.string({ unit: fc.constantFrom('€', '😀', 'ü', '日', 'a', 'Z', '"', '\\', '\u0000', '\n', ' ', '\ud800'), maxLength: 90 }),
  // Long, three bytes of UTF-8 per UTF-16 unit (the most there is): what overflows a limit counted in bytes (a close reason: 123) when code counts characters.
  fc.string({ unit: fc.constantFrom('€', '日', '—', '\u2028'), minLength: 30, maxLength: 200 })
);
const anyValue: fc.Arbitrary<unknown> = fc.oneof(fc.jsonValue({ maxDepth: 2 }), weird, fc.integer(), fc.double(), fc.boolean(), fc.constant(null));
const typeName = fc.oneof(fc.constantFrom('hello', 'send', 'ping', 'welcome', 'ack', 'message', 'recovery', 'unsubscribed', 'pong', 'error', '', 'HELLO'), weird);
const cursor = fc.record({ epoch: fc.oneof(weird, anyValue), offset: fc.oneof(fc.nat(), anyValue) }, { requiredKeys: [] });
const frameObject = fc.record(
  {
    type: fc.oneof({ weight: 4, arbitrary: typeName }, { weight: 1, arbitrary: anyValue }),
    id: fc.oneof(fc.integer({ min: -2, max: 6 }), anyValue),
    data: anyValue,
    session: fc.oneof(weird, anyValue),
    client: fc.oneof(fc.stringMatching(/^[A-Za-z0-9_-]{1,70}$/), weird, anyValue),
    topics: fc.oneof(fc.dictionary(fc.oneof(weird, fc.constantFrom(...TOPICS)), cursor, { maxKeys: 4 }), anyValue)
  },
  { requiredKeys: ['type'] }
);
const deep = (depth: number, inner = ''): string => `${'['.repeat(depth)}${inner}${']'.repeat(depth)}`;
const text: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: frameObject.map((value) => JSON.stringify(value)) },
  { weight: 3, arbitrary: fc.record({ type: fc.constant('send'), id: fc.integer({ min: 1, max: 4 }), data: anyValue }).map((value) => JSON.stringify(value)) },
  { weight: 1, arbitrary: fc.constantFrom('{"type":"ping"}', '{"type":"hello"}', '{"type":"hello","session":null,"client":null,"topics":null}') },
  { weight: 1, arbitrary: fc.jsonValue().map((value) => JSON.stringify(value) ?? 'null') },
  { weight: 1, arbitrary: weird },
  { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 30_000 }).map((depth) => deep(depth)) },
  { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 20_000 }).map((depth) => `{"type":"send","id":1,"data":${deep(depth, '"ü"')}}`) },
  // A member other than data nested deep: what a report of the offending value has to show without recursing.
  {
    weight: 3,
    arbitrary: fc.tuple(fc.constantFrom('type', 'id', 'session', 'client', 'topics'), fc.constantFrom('hello', 'send', 'ping'), fc.integer({ min: 1_000, max: 20_000 }))
      .map(([member, type, depth]) => (member === 'type' ? `{"type":${deep(depth)}}` : `{"type":"${type}","id":1,"${member}":${deep(depth)}}`))
  },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 2_000 }).map((n) => JSON.stringify({ type: 'hello', topics: Object.fromEntries(Array.from({ length: n }, (_, i) => [`room:ü-${i}`, { epoch: 'e', offset: i }])) })) },
  { weight: 1, arbitrary: fc.constantFrom(MAX_PAYLOAD - 64, MAX_PAYLOAD + 1).map((size) => JSON.stringify({ type: 'send', id: 1, data: 'ü'.repeat(size / 2) })) }
);
const frame: fc.Arbitrary<Frame> = fc.oneof(
  { weight: 10, arbitrary: text.map((t) => ({ text: t })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((binary) => ({ binary })) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 16 }).map((textBytes) => ({ textBytes })) },
  { weight: 1, arbitrary: fc.constant({ steal: true as const }) }
);
const attack: fc.Arbitrary<Attack> = fc.record({
  user: fc.constantFrom('mallory' as const, 'alice' as const, undefined),
  stage: fc.constantFrom('fresh' as const, 'hello' as const, 'welcomed' as const),
  frames: fc.array(frame, { minLength: 1, maxLength: 5 })
});

const utf8 = new TextDecoder('utf-8', { fatal: true });
/** The records of hostile connections. */
const hostileNames = /^(attack|crash) /;

/** Whether a frame matches its type's schema; one the checker cannot even describe (nested too deep) does not. */
function matches(value: unknown, type: string): boolean {
  try {
    return schema.check(value, `#/$defs/${type}`) === undefined;
  } catch {
    return false;
  }
}

/**
 * What docs/protocol.md says the server must do with an attack: close it
 * with one of these codes (the frame that offends first decides), or, when
 * nothing offends, keep it open.
 */
function closeCodesFor(attack: Attack, stolenFrom: string | undefined): number[] | undefined {
  const offence = firstOffence(attack, stolenFrom);
  if (offence === undefined) return undefined;
  const [codes, at] = offence;
  // ws checks a frame's size and UTF-8 as it reads it, before the hub handles a frame it holds (after the
  // hello until the welcome, 1.4; past the frame rate or with the send buffer full, 8.3): a later frame's
  // transport error may end the connection first. Both are final; the first offence's code is not promised then.
  return [...codes, ...attack.frames.slice(at + 1).flatMap(transportCode)];
}

/** The close ws itself gives a frame (1007 for text that is not UTF-8, 1009 past the size limit), if any. */
function transportCode(item: Attack['frames'][number]): number[] {
  if ('textBytes' in item) {
    try {
      return Buffer.byteLength(utf8.decode(item.textBytes)) > MAX_PAYLOAD ? [1009] : [];
    } catch {
      return [1007];
    }
  }
  return 'text' in item && Buffer.byteLength(item.text) > MAX_PAYLOAD ? [1009] : [];
}

/** The codes the first frame that offends calls for, and its index; `undefined` when none does. */
function firstOffence(attack: Attack, stolenFrom: string | undefined): [number[], number] | undefined {
  let hello = attack.stage !== 'fresh';
  // The attack's client id is new to its session: its first send id is where its numbering stands (3.3).
  let last: number | undefined;
  for (const [at, item] of attack.frames.entries()) {
    if ('binary' in item) return [[4400], at];
    if ('steal' in item) {
      if (hello) return [[4400], at];
      // Another user's token: refused, nothing of that session sent (the same user resumes it, which is fine).
      if (attack.user !== stolenFrom) return [[4403], at];
      hello = true;
      continue;
    }
    let frameText: string;
    if ('textBytes' in item) {
      try {
        frameText = utf8.decode(item.textBytes);
      } catch {
        return [[1007], at];
      }
    } else frameText = item.text;
    if (Buffer.byteLength(frameText) > MAX_PAYLOAD) return [[1009], at];
    let value: unknown;
    try {
      value = JSON.parse(frameText);
    } catch {
      return [[4400], at];
    }
    const type = (value as { type?: unknown } | null)?.type;
    if (typeof value !== 'object' || value === null || Array.isArray(value) || typeof type !== 'string') return [[4400], at];
    if (!['hello', 'send', 'ping'].includes(type) || !matches(value, type)) return [[4400], at];
    if (type === 'hello') {
      if (hello) return [[4400], at];
      hello = true;
      continue;
    }
    if (!hello) return [[4400], at];
    if (type === 'send') {
      const id = (value as { id: number }).id;
      // Ids rise on a connection, by exactly one (3.3): a skip and an id at or below one sent on it are refused.
      if (last !== undefined && (id > last + 1 || id <= last)) return [[4400], at];
      last = id;
    }
  }
  return undefined;
}

describe('the server survives any frame', () => {
  let server: ServerProcess;
  const records: ConnectionRecord[] = [];
  const tabs: RawSessionClient[] = [];
  let client: SessionClient;
  let attacks = 0;
  let sent = 0;

  const url = (user: string | undefined): string => `ws://127.0.0.1:${server.port}/${user === undefined ? '' : `?user=${user}`}`;
  const conformance = (): string => {
    const violations = checkRun({ connections: records, memberships: server.memberships, deliveries: server.deliveries });
    // A hostile client breaks the client's rules on purpose: only what the server sent is judged on its connections.
    return describeViolations(violations.filter((v) => !(v.rule === 'client' && hostileNames.test(v.connection))));
  };

  beforeAll(async () => {
    server = await ServerProcess.start(['--max-payload', String(MAX_PAYLOAD)]);
    for (const user of PROCESS_USERS) {
      tabs.push(new RawSessionClient({ url: url(user), user, name: `tab (${user})`, reconnectMs: 10, connectionParam: CONNECTION_PARAM, records }).connect());
    }
    const Socket = recordingWebSocket({ name: 'client (alice)', user: 'alice', records, connectionParam: CONNECTION_PARAM });
    client = new SessionClient({ url: url('alice'), WebSocket: Socket as unknown as ClientSocketConstructor, minDelayMs: 2, maxDelayMs: 20 }).start();
    await waitFor(() => tabs.every((tab) => tab.open) && client.state === 'open', 10_000, 'the well-behaved tabs open');
  }, 30_000);

  afterAll(async () => {
    client?.close();
    for (const tab of tabs) tab.stop();
    await server?.stop();
  });

  async function attackOnce(one: Attack): Promise<void> {
    const stolenFrom = 'alice';
    const expected = closeCodesFor(one, stolenFrom);
    const hostile = new RawSessionClient({ url: url(one.user), user: one.user, name: `attack ${++attacks}`, holdHello: one.stage === 'fresh', connectionParam: CONNECTION_PARAM, records });
    hostile.connect();
    const ready = one.stage === 'fresh' ? () => hostile.socketOpen : one.stage === 'hello' ? () => hostile.current!.sent.length > 0 : () => hostile.open;
    await waitFor(() => ready() || hostile.current?.close !== undefined, 5_000, `attack ${attacks} ready (${one.stage})`);
    if (expected !== undefined) hostile.expectClose(expected);
    for (const item of one.frames) {
      if ('binary' in item) hostile.sendRaw(item.binary);
      else if ('textBytes' in item) hostile.sendTextBytes(item.textBytes);
      else if ('steal' in item) hostile.sendRaw({ type: 'hello', client: 'thief', session: tabs[0]!.session, topics: { [`user:${stolenFrom}`]: { epoch: 'e', offset: 0 } } });
      else hostile.sendRaw(item.text);
    }
    const record = hostile.current!;
    if (expected !== undefined) {
      await waitFor(() => record.close !== undefined, 5_000, `attack ${attacks} closed`).catch(() => {});
    } else if (one.stage !== 'fresh' || one.frames.some((f) => 'steal' in f || ('text' in f && f.text.includes('hello')))) {
      // Nothing offended: the connection still answers (once the hello is answered, a ping gets its pong).
      await waitFor(() => hostile.open || record.close !== undefined, 5_000, `attack ${attacks} welcomed`).catch(() => {});
      hostile.ping();
      await waitFor(() => record.received.some((f) => f === '{"type":"pong"}') || record.close !== undefined, 5_000, `attack ${attacks} answered`).catch(() => {});
      expect(record.close, `attack ${attacks} offended nothing, yet was closed`).toBeUndefined();
    }
    hostile.stop();
  }

  it('stays up through arbitrary frames in every state; every offender is closed with its code; the other tabs lose nothing', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(attack, { minLength: 1, maxLength: 4 }), async (batch) => {
        for (const one of batch) {
          await attackOnce(one);
          expect(server.death).toBeUndefined();
        }
        // The well-behaved tabs go on: publishes reach them, their sends are delivered.
        for (const topic of TOPICS) await server.publish(topic, 2);
        for (const tab of tabs) tab.send({ from: tab.name, n: ++sent, text: 'ünï€😀' });
        void client.send({ from: 'client', n: ++sent });
        const found = conformance();
        expect(found, `breaches of docs/protocol.md (attacks ${JSON.stringify(batch, (_, v: unknown) => (v instanceof Uint8Array ? [...v] : typeof v === 'string' && v.length > 200 ? `${v.slice(0, 200)}... (${v.length})` : v))})`).toBe('');
      }),
      { seed: SEED, path: PATH, numRuns: 25, endOnFailure: true }
    );
    // Everything settles: the well-behaved tabs caught up with every topic, every send acknowledged and delivered.
    const positions = await server.positions(TOPICS);
    const caughtUp = (cursors: Record<string, Position>, user: string): boolean =>
      ['broadcast', PROCESS_ROOM, `user:${user}`].every((topic) => cursors[topic]?.offset === positions[topic]!.offset && cursors[topic].epoch === positions[topic]!.epoch);
    await waitFor(() => tabs.every((tab) => caughtUp(tab.cursors, tab.user!) && tab.pending.length === 0) && caughtUp(client.cursors, 'alice') && client.queued === 0, 10_000, 'the tabs caught up');
    for (const tab of tabs) tab.markComplete();
    expect(conformance()).toBe('');
    expect(tabs.flatMap((tab) => tab.faults)).toEqual([]);
    expect(server.death).toBeUndefined();
  }, 120_000);

  it('closes the frames that crash the process with 4400, and a reason cut to 123 bytes: a long non-ASCII type (#20 item 1), a member nested deeper than the stack', async () => {
    const frames = [
      ...['€'.repeat(40), '😀'.repeat(100), `${'a'.repeat(120)}€`].map((type) => JSON.stringify({ type })),
      `{"type":${deep(10_000)}}`,
      `{"type":"hello","session":${deep(10_000)}}`
    ];
    for (const [i, frame] of frames.entries()) {
      const hostile = new RawSessionClient({ url: url('mallory'), user: 'mallory', name: `crash ${i}`, holdHello: true, connectionParam: CONNECTION_PARAM, records });
      hostile.connect();
      await waitFor(() => hostile.socketOpen, 5_000, 'the hostile socket open');
      hostile.expectClose([4400]);
      hostile.sendRaw(frame);
      await waitFor(() => hostile.current!.close !== undefined, 5_000, 'the close');
      expect(hostile.current!.close).toMatchObject({ code: 4400, by: 'server' });
      expect(Buffer.byteLength(hostile.current!.close!.reason)).toBeLessThanOrEqual(123);
      expect(server.death).toBeUndefined();
    }
    expect(conformance()).toBe('');
  }, 30_000);
});

describe('a client sending as fast as it can', () => {
  it('does not grow the server\'s memory while the shared store stalls (#20 item 10), and every send is delivered once', async () => {
    // No frame rate limit: what bounds the server here must be the sends it checks at once, nothing else.
    const server = await ServerProcess.start(['--stall-records-ms', '1000', '--max-payload', String(MAX_PAYLOAD), '--max-frames-per-second', '0']);
    const records: ConnectionRecord[] = [];
    const flooder = new RawSessionClient({ url: `ws://127.0.0.1:${server.port}/?user=alice`, user: 'alice', name: 'flooder', connectionParam: CONNECTION_PARAM, records });
    try {
      flooder.connect();
      await waitFor(() => flooder.open, 10_000, 'the flooder welcomed');
      const before = await server.rss();
      const FRAMES = 2_000;
      const pad = 'ü'.repeat(8 * 1024);
      for (let i = 0; i < FRAMES; i++) flooder.send({ i, pad });
      // The first check stalls: the server reads no more than its bound meanwhile (TCP holds the rest back).
      await new Promise((resolve) => setTimeout(resolve, 700));
      const during = await server.rss();
      console.log(`[flood] server RSS ${Math.round(before / 2 ** 20)} MiB before, ${Math.round(during / 2 ** 20)} MiB with ${FRAMES} frames of 16 KiB sent during a stall`);
      expect(during - before, 'the server\'s RSS growth while the store stalls').toBeLessThan(24 * 2 ** 20);
      await waitFor(() => flooder.pending.length === 0, 30_000, 'every send acknowledged');
      await waitFor(() => server.deliveries.length >= FRAMES, 10_000, 'every send delivered');
      flooder.markComplete();
      expect(describeViolations(checkRun({ connections: records, deliveries: server.deliveries, memberships: server.memberships }))).toBe('');
      expect(server.death).toBeUndefined();
    } finally {
      flooder.stop();
      await server.stop();
    }
  }, 60_000);
});

describe('SessionClient survives any frame a server sends', () => {
  it('never throws out of a socket handler, and resumes after a frame that breaks the protocol (#20 item 9)', async () => {
    const faults = recordProcessFaults();
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (protocols) => [...protocols][0] ?? false });
    await new Promise<void>((resolve) => wss.once('listening', resolve));
    const peers: WebSocket[] = [];
    wss.on('connection', (ws) => {
      peers.push(ws);
      ws.on('message', (data) => {
        const hello = JSON.parse(data.toString()) as { type?: string };
        if (hello.type !== 'hello') return;
        ws.send(JSON.stringify({ type: 'welcome', session: 'S1', resumed: peers.length > 1, ttlMs: 1000, heartbeatMs: 0, version: 1, topics: ['broadcast'], limits: { maxFrameBytes: 1 << 20, maxNameLength: 200, maxInFlight: 16, maxFramesPerSecond: 0 } }));
        ws.send(JSON.stringify({ type: 'recovery', topic: 'broadcast', recovered: false, epoch: 'e', offset: 0, reason: 'unknown_session' }));
      });
    });
    const port = (wss.address() as AddressInfo).port;
    const { WebSocket: NodeWebSocket } = await import('ws');
    const WebSocketClass = NodeWebSocket as unknown as ClientSocketConstructor;
    const client = new SessionClient({ url: `ws://127.0.0.1:${port}/`, WebSocket: WebSocketClass, minDelayMs: 2, maxDelayMs: 10 }).start();
    const serverFrame = fc.oneof(text.map((t) => ({ text: t })), fc.uint8Array({ maxLength: 32 }).map((binary) => ({ binary })));
    try {
      await fc.assert(
        fc.asyncProperty(serverFrame, async (hostile) => {
          await waitFor(() => client.state === 'open', 5_000, 'the client open');
          const peer = peers.at(-1)!;
          if ('binary' in hostile) peer.send(hostile.binary, { binary: true });
          else peer.send(hostile.text);
          await new Promise((resolve) => setTimeout(resolve, 2));
          expect(faults.faults).toEqual([]);
          expect(client.state).not.toBe('closed');
        }),
        { seed: SEED, path: PATH, numRuns: 60, endOnFailure: true }
      );
      // Still a client: it is (back) open and follows its topic.
      await waitFor(() => client.state === 'open', 5_000, 'the client open at the end');
      peers.at(-1)!.send(JSON.stringify({ type: 'message', topic: 'broadcast', epoch: 'e', offset: 1, data: 'ü' }));
      await waitFor(() => client.cursors.broadcast?.offset === 1, 5_000, 'a message after it all');
      expect(faults.faults).toEqual([]);
    } finally {
      client.close();
      faults.dispose();
      for (const peer of peers) peer.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    }
  }, 60_000);
});
