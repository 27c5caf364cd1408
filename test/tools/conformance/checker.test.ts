/**
 * The conformance checker on hand-made frame sequences: every rule of
 * docs/protocol.md it checks is shown failing on a sequence that breaks it
 * and passing on the same sequence put right.
 */
import { describe, expect, it } from 'vitest';
import { checkRun, describeViolations, type ConnectionRecord, type Membership, type Rule, type RunRecord } from '../../../src/tools/conformance/checker.js';

const E = 'e1';
const LIMITS = { maxFrameBytes: 1 << 20, maxNameLength: 200, maxInFlight: 16, maxFramesPerSecond: 0 };
const ALICE = 'user:alice';

const frame = (value: Record<string, unknown>): string => JSON.stringify(value);
const welcome = (extra: Record<string, unknown> = {}): string =>
  frame({ type: 'welcome', session: 'S1', resumed: false, ttlMs: 1000, heartbeatMs: 0, version: 1, topics: ['broadcast', ALICE], limits: LIMITS, ...extra });
const recovery = (topic: string, offset: number, reason = 'unknown_session', epoch = E): string => frame({ type: 'recovery', topic, recovered: false, epoch, offset, reason });
const recovered = (topic: string, offset: number, epoch = E): string => frame({ type: 'recovery', topic, recovered: true, epoch, offset });
const message = (topic: string, offset: number, epoch = E): string => frame({ type: 'message', topic, epoch, offset, data: { n: offset, text: 'ünï€😀' } });
const replayed = (topic: string, offset: number): string => frame({ type: 'replayed', topic, offset });
const ack = (id: number): string => frame({ type: 'ack', id });
const hello = (extra: Record<string, unknown> = {}): string => frame({ type: 'hello', client: 'c1', ...extra });
const send = (id: number, data: unknown): string => frame({ type: 'send', id, data });

/** A new session's connection of alice: welcome and both recoveries, then `more`. */
function fresh(more: Array<string | Uint8Array>, extra: Partial<ConnectionRecord> = {}): ConnectionRecord {
  return { id: 'tab', user: 'alice', sent: [hello()], received: [welcome(), recovery('broadcast', 0), recovery(ALICE, 3), ...more], ...extra };
}

/** A resumed connection of session S1 from alice's cursor at 3. */
function resumed(more: string[], extra: Partial<ConnectionRecord> = {}): ConnectionRecord {
  return {
    id: 'tab',
    user: 'alice',
    sent: [hello({ session: 'S1', topics: { [ALICE]: { epoch: E, offset: 3 } } })],
    received: [welcome({ resumed: true }), recovery('broadcast', 0, 'new_topic'), ...more],
    ...extra
  };
}

function rulesOf(run: RunRecord | ConnectionRecord): Rule[] {
  const record: RunRecord = 'connections' in run ? run : { connections: [run] };
  return checkRun(record).map((violation) => violation.rule);
}

/** The run breaks `rule` (and the message says so in words); the fixed run breaks nothing. */
function expectRule(broken: RunRecord | ConnectionRecord, fixed: RunRecord | ConnectionRecord, rule: Rule, words: RegExp): void {
  const record: RunRecord = 'connections' in broken ? broken : { connections: [broken] };
  const violations = checkRun(record);
  expect(violations.map((v) => v.rule)).toContain(rule);
  expect(violations.filter((v) => v.rule === rule).map((v) => v.message).join('\n')).toMatch(words);
  expect(describeViolations(checkRun('connections' in fixed ? fixed : { connections: [fixed] }))).toBe('');
}

describe('conformance checker: frames (2, 4)', () => {
  it('passes a well-formed new session with non-ASCII data', () => {
    expect(rulesOf(fresh([message(ALICE, 4), message(ALICE, 5)]))).toEqual([]);
  });

  it('fails text that is not a JSON object, and binary frames', () => {
    expectRule(fresh(['{"type":"message"']), fresh([]), 'frame', /not JSON/);
    expectRule(fresh(['[1,2]']), fresh([]), 'frame', /not a JSON object/);
    expectRule(fresh([new Uint8Array([1, 2, 3])]), fresh([]), 'frame', /binary message \(3 bytes\)/);
    expectRule(fresh([frame({ kind: 'message' })]), fresh([]), 'frame', /no string member type/);
  });

  it('fails a frame that does not match the schema, and ignores a frame type it does not know (9)', () => {
    expectRule(fresh([frame({ type: 'message', topic: ALICE, epoch: E, offset: 4 })]), fresh([message(ALICE, 4)]), 'frame', /message .*(data|b64)/);
    expectRule(fresh([frame({ type: 'message', topic: ALICE, epoch: E, offset: 4, data: 1, b64: 'AA==' })]), fresh([message(ALICE, 4)]), 'frame', /message has a form that is not allowed/);
    const old = fresh([]);
    old.received = [frame({ type: 'welcome', session: 'S1', resumed: false, ttlMs: 1000 }), ...old.received.slice(1)];
    expectRule(old, fresh([]), 'frame', /welcome has no heartbeatMs/);
    expectRule(fresh([frame({ type: 'error', code: 'malformed', message: 'x'.repeat(201) })], { close: { code: 4400, reason: '', by: 'server' } }), fresh([]), 'frame', /longer than 200/);
    expect(rulesOf(fresh([frame({ type: 'presence', users: 3 })]))).toEqual([]);
  });
});

describe('conformance checker: the welcome (1.4, 4.1, 6.1)', () => {
  it('fails anything but the welcome first, and a second welcome', () => {
    const early = fresh([]);
    early.received = [recovery(ALICE, 3), welcome(), recovery('broadcast', 0)];
    expectRule(early, fresh([]), 'welcome', /before the welcome/);
    expectRule(fresh([welcome()]), fresh([]), 'welcome', /second welcome/);
  });

  it('fails a welcome that contradicts the hello, or lacks the user\'s own topics', () => {
    expectRule(resumed([], { received: [welcome({ resumed: true, session: 'S2' }), recovery('broadcast', 0, 'new_topic')] }), resumed([recovered(ALICE, 3), replayed(ALICE, 3)]), 'welcome', /resumed: true with session "S2", but the hello named "S1"/);
    expectRule(fresh([], { received: [welcome({ resumed: true })] }), fresh([]), 'welcome', /hello named no session/);
    expectRule(fresh([], { received: [welcome({ topics: ['broadcast'] }), recovery('broadcast', 0)] }), fresh([]), 'welcome', /lacks user:alice/);
  });

  it('fails a hello never answered on a connection that settled', () => {
    expectRule(fresh([], { received: [], complete: true }), fresh([], { complete: true }), 'welcome', /never answered/);
  });
});

describe('conformance checker: order and offsets (5, 6.2)', () => {
  it('fails a message before its topic\'s recovery', () => {
    const live = fresh([]);
    live.received = [welcome(), message(ALICE, 4), recovery('broadcast', 0), recovery(ALICE, 3)];
    expectRule(live, fresh([message(ALICE, 4)]), 'order', /before any recovery/);
  });

  it('fails a gap, a step back and an epoch change without a recovery', () => {
    expectRule(fresh([message(ALICE, 4), message(ALICE, 6)]), fresh([message(ALICE, 4), message(ALICE, 5)]), 'order', /where 5 was due: it skips offset 5/);
    expectRule(fresh([message(ALICE, 4), message(ALICE, 2005)]), fresh([message(ALICE, 4)]), 'order', /skips offsets 5 to 2004/);
    expectRule(fresh([message(ALICE, 5), message(ALICE, 4)]), fresh([message(ALICE, 4), message(ALICE, 5)]), 'order', /goes back/);
    expectRule(fresh([message(ALICE, 4), message(ALICE, 1, 'e2')]), fresh([message(ALICE, 4), recovery(ALICE, 0, 'epoch_changed', 'e2'), message(ALICE, 1, 'e2')]), 'order', /another epoch/);
  });

  it('passes a stream that continues lower after recovered: false (future_offset), and a live trimmed jump', () => {
    const lower = resumed([recovery(ALICE, 1, 'future_offset'), message(ALICE, 2), message(ALICE, 3)]);
    lower.sent = [hello({ session: 'S1', topics: { [ALICE]: { epoch: E, offset: 9 } } })];
    expect(rulesOf(lower)).toEqual([]);
    expect(rulesOf(fresh([message(ALICE, 4), recovery(ALICE, 490, 'trimmed'), message(ALICE, 491)]))).toEqual([]);
  });

  it('fails one offset sent twice on a connection', () => {
    const twice = fresh([message(ALICE, 4), message(ALICE, 5), recovery(ALICE, 3, 'trimmed'), message(ALICE, 4)]);
    expectRule(twice, fresh([message(ALICE, 4), message(ALICE, 5), recovery(ALICE, 5, 'trimmed'), message(ALICE, 6)]), 'duplicate', /"user:alice" "e1":4 again: frame 3 had it/);
  });

  it('fails a topic a recovery of the welcome never came for, on a connection that settled', () => {
    const missing = fresh([], { complete: true });
    missing.received = [welcome(), recovery('broadcast', 0)];
    expectRule(missing, fresh([], { complete: true }), 'order', /no recovery of "user:alice"/);
  });
});

describe('conformance checker: replays (4.2, 6.2)', () => {
  it('passes a replay from the hello\'s cursor followed by replayed and live messages', () => {
    const replay = resumed([recovered(ALICE, 3), message(ALICE, 4), message(ALICE, 5), replayed(ALICE, 5), message(ALICE, 6)], { complete: true });
    expect(rulesOf(replay)).toEqual([]);
  });

  it('fails recovered: true from another position than the client\'s cursor, or without one', () => {
    expectRule(resumed([recovered(ALICE, 2), message(ALICE, 3), replayed(ALICE, 3)]), resumed([recovered(ALICE, 3), replayed(ALICE, 3)]), 'replay', /cursor is "e1":3/);
    const noCursor = resumed([], { received: [welcome({ resumed: true }), recovered('broadcast', 0), replayed('broadcast', 0)] });
    expectRule(noCursor, resumed([]), 'replay', /has no cursor/);
    const twice = resumed([recovered(ALICE, 3), replayed(ALICE, 3), recovered('broadcast', 0), replayed('broadcast', 0)]);
    expectRule(twice, resumed([recovered(ALICE, 3), replayed(ALICE, 3)]), 'replay', /already started at frame 1/);
    const newSession = fresh([], { sent: [hello({ topics: { [ALICE]: { epoch: E, offset: 3 } } })] });
    newSession.received = [welcome(), recovery('broadcast', 0), recovered(ALICE, 3), replayed(ALICE, 3)];
    expectRule(newSession, fresh([]), 'replay', /in a new session/);
  });

  it('fails anything at or below the hello\'s cursor after recovered: true', () => {
    expectRule(resumed([recovered(ALICE, 3), message(ALICE, 3), replayed(ALICE, 3)]), resumed([recovered(ALICE, 3), message(ALICE, 4), replayed(ALICE, 4)]), 'replay', /at or below the cursor "e1":3/);
  });

  it('fails replayed in the wrong place, and a replay never ended', () => {
    expectRule(resumed([recovered(ALICE, 3), message(ALICE, 4), replayed(ALICE, 3)]), resumed([recovered(ALICE, 3), message(ALICE, 4), replayed(ALICE, 4)]), 'replay', /replay ended at 4/);
    expectRule(resumed([recovered(ALICE, 3), replayed(ALICE, 3), replayed(ALICE, 3)]), resumed([recovered(ALICE, 3), replayed(ALICE, 3)]), 'replay', /without a recovered: true/);
    expectRule(resumed([recovered(ALICE, 3), message(ALICE, 4)], { complete: true }), resumed([recovered(ALICE, 3), message(ALICE, 4), replayed(ALICE, 4)], { complete: true }), 'replay', /never ended/);
    expectRule(resumed([recovered(ALICE, 3), message(ALICE, 4), recovery(ALICE, 9, 'trimmed')]), resumed([recovered(ALICE, 3), message(ALICE, 4), replayed(ALICE, 4), recovery(ALICE, 9, 'trimmed')]), 'replay', /before the replay .* ended/);
  });
});

describe('conformance checker: topics and memberships (4.4, 10)', () => {
  const ROOM = 'room:secret';
  const joinedAt20: Membership = { user: 'alice', topic: ROOM, from: { epoch: E, offset: 20 } };

  it('fails another user\'s topic and a room the user was never added to', () => {
    expectRule(fresh([recovery('user:bob', 0)]), fresh([]), 'topic', /another user's topic/);
    expectRule(fresh([recovery(ROOM, 20, 'new_topic'), message(ROOM, 21)]), { connections: [fresh([recovery(ROOM, 20, 'new_topic'), message(ROOM, 21)])], memberships: [joinedAt20] }, 'topic', /never added/);
    expectRule(fresh([], { received: [welcome({ topics: ['broadcast', ALICE, 'user:bob'] }), recovery('broadcast', 0), recovery(ALICE, 3)] }), fresh([]), 'topic', /welcome.topics "user:bob"/);
  });

  it('fails a room\'s history from before the membership began (a replay trusted from the client\'s cursor)', () => {
    const cursor0 = (more: string[]): ConnectionRecord => resumed([recovered(ALICE, 3), replayed(ALICE, 3), ...more], { sent: [hello({ session: 'S1', topics: { [ALICE]: { epoch: E, offset: 3 }, [ROOM]: { epoch: E, offset: 0 } } })] });
    const early = Array.from({ length: 20 }, (_, i) => message(ROOM, i + 1));
    expectRule(
      { connections: [cursor0([recovered(ROOM, 0), ...early, replayed(ROOM, 20)])], memberships: [joinedAt20] },
      { connections: [cursor0([recovery(ROOM, 20, 'membership'), message(ROOM, 21)])], memberships: [joinedAt20] },
      'membership',
      /"room:secret" "e1":1: outside the user's membership of the room \(after e1:20\)/
    );
  });

  it('fails a room\'s message published after the user left, and takes the epochs\' order into account', () => {
    const left: Membership = { ...joinedAt20, until: { epoch: E, offset: 25 } };
    const stream = (last: number): ConnectionRecord => fresh([recovery(ROOM, 20, 'new_topic'), ...Array.from({ length: last - 20 }, (_, i) => message(ROOM, 21 + i))]);
    expectRule({ connections: [stream(26)], memberships: [left] }, { connections: [stream(25)], memberships: [left] }, 'membership', /to e1:25/);
    const before = fresh([recovery(ROOM, 0, 'epoch_changed', 'e0'), message(ROOM, 1, 'e0')]);
    expectRule({ connections: [before], memberships: [joinedAt20], epochOrder: { [ROOM]: ['e0', E] } }, { connections: [before], memberships: [joinedAt20], epochOrder: { [ROOM]: [E, 'e0'] } }, 'membership', /outside/);
  });

  it('fails a frame of a topic after unsubscribed, until a recovery starts it again', () => {
    const membership = { memberships: [joinedAt20] };
    const unsub = frame({ type: 'unsubscribed', topic: ROOM });
    expectRule(
      { connections: [fresh([recovery(ROOM, 20, 'new_topic'), message(ROOM, 21), unsub, message(ROOM, 22)])], ...membership },
      { connections: [fresh([recovery(ROOM, 20, 'new_topic'), message(ROOM, 21), unsub, recovery(ROOM, 22, 'new_topic'), message(ROOM, 23)])], ...membership },
      'unsubscribed',
      /after unsubscribed/
    );
  });
});

describe('conformance checker: sends, acks and deliveries (3.3, 3.4, 6.4)', () => {
  const sending = (ids: number[], acks: number[], extra: Partial<ConnectionRecord> = {}): ConnectionRecord =>
    fresh(acks.map(ack), { sent: [hello(), ...ids.map((id) => send(id, { id, text: 'é' }))], ...extra });

  it('fails an ack out of order, an ack of nothing, a send never acknowledged, a pong without a ping', () => {
    expectRule(sending([1, 2], [2, 1]), sending([1, 2], [1, 2]), 'ack', /ack of 2 where the ack of send 1 \(id 1\) was due/);
    expectRule(sending([1], [1, 2]), sending([1], [1]), 'ack', /only 1 sends/);
    expectRule(sending([1, 2], [1], { complete: true }), sending([1, 2], [1, 2], { complete: true }), 'ack', /send id 2 \(send 2 on this connection\) was never acknowledged/);
    expectRule(fresh([frame({ type: 'pong' })]), fresh([frame({ type: 'pong' })], { sent: [hello(), frame({ type: 'ping' })] }), 'ack', /pong 1, but the client sent 0 pings/);
  });

  it('fails a send handed to the application twice across reconnects of one client', () => {
    const first = sending([1], [], { id: 'tab #1', close: { code: 1006, reason: '', by: 'server' } });
    const second = sending([1], [1], { id: 'tab #2', sent: [hello({ session: 'S1' }), send(1, { id: 1, text: 'é' })], received: [welcome({ resumed: true }), ack(1)] });
    const data = { id: 1, text: 'é' };
    expectRule(
      { connections: [first, second], deliveries: [{ connection: 'tab #1', data }, { connection: 'tab #2', data }] },
      { connections: [first, second], deliveries: [{ connection: 'tab #1', data }] },
      'delivery',
      /send id 1 of client "c1" of session "S1" was handed to the application twice/
    );
  });

  it('fails an id skipped, and an acknowledged send never handed over (a reload numbering from 1 again)', () => {
    const data = (id: number): unknown => ({ id, text: 'é' });
    expectRule(
      { connections: [sending([1, 2, 3], [1, 2, 3])], deliveries: [{ connection: 'tab', data: data(1) }, { connection: 'tab', data: data(3) }] },
      { connections: [sending([1, 2, 3], [1, 2, 3])], deliveries: [1, 2, 3].map((id) => ({ connection: 'tab', data: data(id) })) },
      'delivery',
      /send id 3 .* after id 1: id 2 was skipped/
    );
    const before = sending([1, 2], [1, 2], { id: 'page 1', close: { code: 1001, reason: '', by: 'client' } });
    before.sent = [frame({ type: 'hello' }), send(1, data(1)), send(2, data(2))];
    // Without a client id (as before #20), a page reloaded resumes the session and numbers from 1 again.
    const reloaded = (client: string | undefined): ConnectionRecord => ({
      id: 'page 2',
      user: 'alice',
      sent: [hello({ client, session: 'S1' }), send(1, data(9))],
      received: [welcome({ resumed: true }), ack(1)]
    });
    const handed = [{ connection: 'page 1', data: data(1) }, { connection: 'page 1', data: data(2) }];
    expectRule(
      { connections: [before, reloaded(undefined)], deliveries: handed },
      { connections: [before, reloaded('c2')], deliveries: [...handed, { connection: 'page 2', data: data(9) }] },
      'delivery',
      /send id 1 of connection page 2 \(no client id\) of session "S1" was acknowledged but never handed/
    );
  });

  it('takes the first id a client wrote in a session as where its numbering stands (a lost session, 3.5), but fails a first delivery that skips what it wrote first', () => {
    const data = (id: number): unknown => ({ id, text: 'é' });
    // A client that kept numbering after its session was lost: 7 and 8 in a new session are right.
    const kept = sending([7, 8], [7, 8]);
    kept.sent = [hello(), send(7, data(7)), send(8, data(8))];
    expect(rulesOf({ connections: [kept], deliveries: [7, 8].map((id) => ({ connection: 'tab', data: data(id) })) })).toEqual([]);
    // Handing 2 over first when the client wrote 1 first skips 1, even if 1 is never acknowledged.
    const fresh12 = sending([1, 2], [2]);
    fresh12.sent = [hello(), send(1, data(1)), send(2, data(2))];
    expectRule(
      { connections: [fresh12], deliveries: [{ connection: 'tab', data: data(2) }] },
      { connections: [kept], deliveries: [7, 8].map((id) => ({ connection: 'tab', data: data(id) })) },
      'delivery',
      /send id 2 .* after id 0: id 1 was skipped/
    );
  });

  it('scopes the sends of a hello without a client id to its connection', () => {
    const noClient = (id: string): ConnectionRecord => ({ id, user: 'alice', sent: [frame({ type: 'hello' }), send(1, 'x')], received: [welcome(), ack(1)] });
    const handed = [{ connection: 'a', data: 'x' }, { connection: 'b', data: 'x' }];
    expect(rulesOf({ connections: [noClient('a'), noClient('b')], deliveries: handed })).toEqual([]);
    expectRule({ connections: [noClient('a')], deliveries: [{ connection: 'a', data: 'y' }] }, { connections: [noClient('a')], deliveries: [{ connection: 'a', data: 'x' }] }, 'delivery', /never sent/);
  });
});

describe('conformance checker: errors and close codes (4.5, 7)', () => {
  const error = frame({ type: 'error', code: 'malformed', message: 'frame is not JSON' });
  const refused = (received: string[], code: number, extra: Partial<ConnectionRecord> = {}): ConnectionRecord =>
    ({ id: 'fuzz', user: 'alice', sent: [hello(), 'not json'], received, close: { code, reason: '', by: 'server' }, expectedClose: [4400], ...extra });

  it('fails a code section 7 does not list, and one that does not fit the error', () => {
    expectRule(refused([error], 1005), refused([error], 4400), 'close', /1005 \(no code\)/);
    expectRule(refused([error], 1011), refused([error], 4400), 'close', /after an error "malformed": 4400 was due/);
  });

  it('fails a frame after the error', () => {
    expectRule(refused([error, frame({ type: 'pong' })], 4400), refused([error], 4400), 'close', /after the error of frame 0/);
  });

  it('fails a connection that broke the protocol on purpose and was not closed for it, or closed with another code', () => {
    expectRule(refused([error], 4400, { expectedClose: [4400], close: undefined }), refused([error], 4400, { expectedClose: [4400] }), 'close', /still open/);
    expectRule(refused([], 1000, { expectedClose: [4400] }), refused([error], 4400, { expectedClose: [4400] }), 'close', /closed with 1000.*4400 was due/);
  });

  it('fails a final close of a client that was not meant to break the protocol', () => {
    expectRule(refused([error], 4400, { expectedClose: undefined }), refused([error], 4400), 'close', /4400 \(""\), a final code, though the client was not meant/);
  });

  it('names the client\'s own breaches: a first frame that is not a hello, send ids that do not rise', () => {
    expectRule(refused([error], 4400, { sent: [send(1, 'x')] }), refused([error], 4400), 'client', /first frame is not a hello/);
    const joinFirst = fresh([ack(3)], { sent: [hello(), send(3, 'join'), send(1, 'a'), send(2, 'b')] });
    expectRule(joinFirst, fresh([ack(1), ack(2), ack(3)], { sent: [hello(), send(1, 'a'), send(2, 'b'), send(3, 'join')] }), 'client', /sent id 1 after id 3/);
  });

  it('fails topic frames on a connection refused with 4403', () => {
    const foreign = (received: string[]): ConnectionRecord => ({
      id: 'liar',
      user: 'bob',
      sent: [hello({ session: 'S1' })],
      received,
      close: { code: 4403, reason: '', by: 'server' },
      expectedClose: [4403]
    });
    const forbidden = frame({ type: 'error', code: 'forbidden', message: 'session belongs to another user' });
    expectRule(foreign([recovery('broadcast', 0), forbidden]), foreign([forbidden]), 'close', /refused with 4403/);
  });
});

describe('conformance checker: any input', () => {
  it('never throws: frames nested deeper than JSON goes, garbage, a delivery it cannot write', () => {
    const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    const record = fresh([deep, `{"type":"message","topic":"user:alice","epoch":"e1","offset":4,"data":${deep}}`], { sent: [hello(), `{"type":"send","id":1,"data":${deep}}`, deep] });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const violations = checkRun({ connections: [record], deliveries: [{ connection: 'tab', data: cyclic }] });
    expect(violations.map((v) => v.rule)).toContain('frame');
    expect(violations.map((v) => v.rule)).toContain('delivery');
  });
});

describe('conformance checker: reports', () => {
  it('names the connection, the frame and the rule in each line, and caps what it lists', () => {
    const violations = checkRun({ connections: [fresh(Array.from({ length: 60 }, () => message('user:bob', 1)))] });
    expect(violations.length).toBe(41);
    expect(violations.at(-1)!.message).toBe('and 20 more breaches on this connection');
    const text = describeViolations(violations, 2);
    expect(text.split('\n')).toEqual([
      'tab frame 3: [topic] message of "user:bob": another user\'s topic (this connection is user "alice") (10)',
      'tab frame 4: [topic] message of "user:bob": another user\'s topic (this connection is user "alice") (10)',
      '... and 39 more'
    ]);
  });
});
