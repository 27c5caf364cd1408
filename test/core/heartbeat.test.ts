/**
 * The heartbeat judges the peer, not this server's own send queue (issue
 * #10). With permessage-deflate a ping waits in ws's compression queue
 * behind the messages already accepted; the pong deadline runs from the
 * moment the ping frame is written, and any frame from the peer answers it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Connection } from '../../src/index.js';
import { serverPerTest } from '../support/per-test-server.js';
import { stallClient, waitFor, type TestServer } from '../support/server.js';

const PEER = fileURLToPath(new URL('./reading-peer.ts', import.meta.url));
const INTERVAL_MS = 200;
/** Per event-loop turn: this many sends, then this much other work, as an application under load. */
const SENDS_PER_TURN = 20;
const WORK_PER_TURN_MS = 3;
const PAD = 'x'.repeat(280);

const servers = serverPerTest();

interface PeerReport {
  code: number;
  received: number[];
}

/** Start the reading peer in its own process; resolves once it is open, with its final report to come. */
interface Peer {
  child: ChildProcess;
  connection: Connection;
  report: Promise<PeerReport>;
}

async function startPeer(server: TestServer, closeAfterMs?: number): Promise<Peer> {
  const accepted = new Promise<Connection>((resolve) => server.manager.once('connection', resolve));
  const args = ['--import', 'tsx', PEER, `ws://127.0.0.1:${server.port}/`];
  if (closeAfterMs !== undefined) args.push(String(closeAfterMs));
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  servers.cleanup(() => child.kill('SIGKILL'));
  const lines = createInterface({ input: child.stdout });
  let opened!: () => void;
  const open = new Promise<void>((resolve) => (opened = resolve));
  const report = new Promise<PeerReport>((resolve, reject) => {
    lines.on('line', (line) => {
      const message = JSON.parse(line) as { open?: true } & PeerReport;
      if (message.open) opened();
      else resolve(message);
    });
    child.once('exit', (code) => reject(new Error(`peer exited with ${code} before reporting`)));
  });
  // A test that never awaits the report (it failed earlier) must not leave an unhandled rejection.
  report.catch(() => {});
  const connection = await accepted;
  await open;
  return { child, connection, report };
}

interface PingRecord {
  calledAt: number;
  writtenAt?: number;
}

/** Record when each heartbeat ping is handed to ws and when ws reports it written. */
function recordPings(connection: Connection): PingRecord[] {
  const pings: PingRecord[] = [];
  const ws = connection.socket;
  const ping = ws.ping.bind(ws);
  ws.ping = (data, mask, callback) => {
    const entry: PingRecord = { calledAt: Date.now() };
    pings.push(entry);
    ping(data, mask, (error: Error) => {
      entry.writtenAt = Date.now();
      callback?.(error);
    });
  };
  return pings;
}

/**
 * Send numbered ~300 B messages, SENDS_PER_TURN per turn with
 * WORK_PER_TURN_MS of blocking work after them, for `durationMs` or until
 * the connection leaves `connected`.
 *
 * @returns The seqs reported sent, once every send has settled
 */
async function sendUnderLoad(connection: Connection, durationMs: number): Promise<{ sent: number[]; refused: Record<string, number> }> {
  const sent: number[] = [];
  const refused: Record<string, number> = {};
  const results: Array<Promise<void>> = [];
  let seq = 0;
  const end = Date.now() + durationMs;
  while (Date.now() < end && connection.state === 'connected') {
    for (let i = 0; i < SENDS_PER_TURN; i++) {
      const n = ++seq;
      results.push(
        connection.send({ seq: n, pad: PAD }).then((result) => {
          if (result.ok) sent.push(n);
          else refused[result.reason] = (refused[result.reason] ?? 0) + 1;
        })
      );
    }
    const busyUntil = Date.now() + WORK_PER_TURN_MS;
    while (Date.now() < busyUntil);
    await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(results);
  sent.sort((a, b) => a - b);
  return { sent, refused };
}

describe('heartbeat with a deep permessage-deflate queue', () => {
  it('keeps a slow-compressing, fast-answering peer connected, and it receives everything reported sent', async () => {
    const server = await servers.start(
      { heartbeatIntervalMs: INTERVAL_MS, maxBufferedBytes: 256 * 1024, closeTimeoutMs: 10_000 },
      { perMessageDeflate: true }
    );
    const { connection, report } = await startPeer(server);
    expect(connection.socket.extensions).toContain('permessage-deflate');
    const pings = recordPings(connection);

    const { sent } = await sendUnderLoad(connection, 12 * INTERVAL_MS);
    await waitFor(() => connection.state !== 'connected' || connection.socket.bufferedAmount === 0, 20_000, 'the send queue to drain');
    expect(connection.state).toBe('connected');
    await connection.close(1000, 'done');
    const { received } = await report;

    expect(await connection.closed).toEqual({ code: 1000, reason: 'done', initiator: 'server' });
    // The queue really was deep: some ping waited longer than a whole interval to be written.
    expect(Math.max(...pings.map((p) => (p.writtenAt ?? Date.now()) - p.calledAt))).toBeGreaterThan(INTERVAL_MS);
    // A ping is never queued behind another one still waiting.
    for (let i = 1; i < pings.length; i++) expect(pings[i]!.calledAt).toBeGreaterThanOrEqual(pings[i - 1]!.writtenAt!);
    expect(sent.length).toBeGreaterThan(0);
    expect(received).toEqual([...received].sort((a, b) => a - b));
    const got = new Set(received);
    expect(sent.filter((n) => !got.has(n))).toEqual([]);
  });

  it('the naive heartbeat, which starts the deadline when ping() is called, terminates that same healthy peer', async () => {
    const server = await servers.start(
      { heartbeatIntervalMs: INTERVAL_MS, maxBufferedBytes: 256 * 1024, closeTimeoutMs: 10_000 },
      { perMessageDeflate: true }
    );
    const { connection, report } = await startPeer(server);
    // Report every ping written the moment it is called, as the code before #10 in effect assumed.
    const ws = connection.socket;
    const ping = ws.ping.bind(ws);
    ws.ping = (data, mask, callback) => {
      ping(data, mask);
      callback?.(undefined as unknown as Error);
    };
    await sendUnderLoad(connection, 12 * INTERVAL_MS);
    expect(await connection.closed).toEqual({ code: 1006, reason: '', initiator: 'timeout' });
    // The peer answered every ping and saw the connection dropped under it.
    expect((await report).code).toBe(1006);
  });

  it('terminates a peer that stops answering within two intervals after the unanswered ping is written', async () => {
    const server = await servers.start({ heartbeatIntervalMs: INTERVAL_MS }, { perMessageDeflate: true });
    const { client, connection } = await server.connect('quiet');
    const pings = recordPings(connection);
    stallClient(client.ws);
    const info = await connection.closed;
    const closedAt = Date.now();

    expect(info).toEqual({ code: 1006, reason: '', initiator: 'timeout' });
    expect(pings).toHaveLength(1);
    const writtenAt = pings[0]!.writtenAt;
    expect(writtenAt).toBeDefined();
    expect(closedAt - writtenAt!).toBeGreaterThanOrEqual(INTERVAL_MS - 5);
    expect(closedAt - writtenAt!).toBeLessThanOrEqual(2 * INTERVAL_MS);
    client.ws.terminate();
  });

  it("ends with initiator 'peer' when the peer's close frame arrives while a ping is outstanding", async () => {
    const server = await servers.start(
      { heartbeatIntervalMs: INTERVAL_MS, maxBufferedBytes: 256 * 1024, closeTimeoutMs: 10_000 },
      { perMessageDeflate: true }
    );
    // The peer closes after 3 intervals: by then a ping is queued behind the compression backlog.
    const { connection, report } = await startPeer(server, 3 * INTERVAL_MS);
    const { sent } = await sendUnderLoad(connection, 12 * INTERVAL_MS);
    const info = await connection.closed;
    const { received } = await report;

    expect(info).toEqual({ code: 1000, reason: 'peer leaves', initiator: 'peer' });
    const closing = server.manager.history(connection.id)!.find((record) => record.to === 'closing');
    expect(closing).toMatchObject({ from: 'connected', event: 'PEER_CLOSING', initiator: 'peer' });
    const got = new Set(received);
    expect(sent.filter((n) => !got.has(n))).toEqual([]);
  });
});
