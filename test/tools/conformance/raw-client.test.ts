/**
 * The raw protocol client and the recording socket against a scripted
 * server (a bare `ws` server that sends exactly the frames a test gives
 * it): they record every frame as it came, duplicates and garbage
 * included, keep cursors and resends as docs/protocol.md says, and never
 * throw out of a socket handler.
 */
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { SessionClient, type ClientSocketConstructor } from '../../../src/client/session-client.js';
import { RawSessionClient } from '../../../src/tools/conformance/raw-client.js';
import { recordingWebSocket } from '../../../src/tools/conformance/recording-socket.js';
import type { ConnectionRecord } from '../../../src/tools/conformance/records.js';
import { waitFor } from '../../support/server.js';

interface Scripted {
  port: number;
  /** Server-side sockets, oldest first, with the text frames each received. */
  peers: Array<{ ws: WebSocket; heard: string[] }>;
  close(): Promise<void>;
}

const servers: Scripted[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

async function scripted(): Promise<Scripted> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (protocols) => [...protocols][0] ?? false });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  const peers: Scripted['peers'] = [];
  wss.on('connection', (ws) => {
    const peer = { ws, heard: [] as string[] };
    peers.push(peer);
    ws.on('message', (data) => peer.heard.push(data.toString()));
  });
  const server: Scripted = {
    port: (wss.address() as AddressInfo).port,
    peers,
    close: async () => {
      for (const { ws } of peers) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    }
  };
  servers.push(server);
  return server;
}

const LIMITS = { maxFrameBytes: 1 << 20, maxNameLength: 200, maxInFlight: 16, maxFramesPerSecond: 0 };
const json = (value: Record<string, unknown>): string => JSON.stringify(value);
const welcome = (session: string, topics: string[]): string => json({ type: 'welcome', session, resumed: false, ttlMs: 1000, heartbeatMs: 0, version: 1, topics, limits: LIMITS });
const message = (offset: number, epoch = 'e1'): string => json({ type: 'message', topic: 'user:ä', epoch, offset, data: 'ü€😀' });

describe('RawSessionClient', () => {
  it('says hello with a random client id, records every frame as it came, and keeps its cursors as section 5 says', async () => {
    const server = await scripted();
    const client = new RawSessionClient({ url: `ws://127.0.0.1:${server.port}/?user=%C3%A4`, user: 'ä', name: 'tab', cursors: { 'room:old': { epoch: 'e0', offset: 4 } } }).connect();
    await waitFor(() => server.peers[0]?.heard.length === 1, 5_000, 'hello');
    const hello = JSON.parse(server.peers[0]!.heard[0]!) as Record<string, unknown>;
    expect(hello).toEqual({ type: 'hello', client: client.client, topics: { 'room:old': { epoch: 'e0', offset: 4 } } });
    expect(client.client).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const peer = server.peers[0]!.ws;
    const frames = [
      welcome('S1', ['user:ä']),
      json({ type: 'recovery', topic: 'user:ä', recovered: false, epoch: 'e1', offset: 7, reason: 'unknown_session' }),
      message(8),
      message(8),
      'not json at all',
      '[1]',
      message(9),
      json({ type: 'recovery', topic: 'user:ä', recovered: false, epoch: 'e1', offset: 2, reason: 'future_offset' }),
      json({ type: 'from-the-future' })
    ];
    for (const frame of frames) peer.send(frame);
    peer.send(Buffer.from([0xff, 0x00]), { binary: true });
    await waitFor(() => client.current!.received.length === frames.length + 1, 5_000, 'every frame');
    expect(client.current!.received.slice(0, frames.length)).toEqual(frames);
    expect(client.current!.received.at(-1)).toEqual(new Uint8Array([0xff, 0x00]));
    // The duplicate did not move the cursor; recovered: false moved it down; the welcome dropped the room it does not list.
    expect(client.cursors).toEqual({ 'user:ä': { epoch: 'e1', offset: 2 } });
    expect(client.session).toBe('S1');
    expect(client.faults).toEqual([]);
    client.stop();
  });

  it('sends only after the welcome, resends what is not acknowledged first, and a reload renumbers it from 1 under a new client id', async () => {
    const server = await scripted();
    const records: ConnectionRecord[] = [];
    const client = new RawSessionClient({ url: `ws://127.0.0.1:${server.port}/`, user: undefined, name: 'page', records, reconnectMs: 5 }).connect();
    client.send({ text: 'one' });
    client.send({ text: 'two' });
    await waitFor(() => server.peers[0]?.heard.length === 1, 5_000, 'hello');
    server.peers[0]!.ws.send(welcome('S1', []));
    await waitFor(() => server.peers[0]!.heard.length === 3, 5_000, 'the queued sends');
    server.peers[0]!.ws.send(json({ type: 'ack', id: 1 }));
    await waitFor(() => client.pending.length === 1, 5_000, 'ack 1');
    // Cut by the server: it reconnects by itself and resends id 2 before id 3.
    server.peers[0]!.ws.terminate();
    await waitFor(() => server.peers[1]?.heard.length === 1, 5_000, 'second hello');
    client.send({ text: 'three' });
    expect(JSON.parse(server.peers[1]!.heard[0]!)).toMatchObject({ type: 'hello', client: client.client, session: 'S1' });
    server.peers[1]!.ws.send(welcome('S1', []));
    await waitFor(() => server.peers[1]!.heard.length === 3, 5_000, 'the resend and the new send');
    expect(server.peers[1]!.heard.slice(1).map((text) => JSON.parse(text) as unknown)).toEqual([
      { type: 'send', id: 2, data: { text: 'two' } },
      { type: 'send', id: 3, data: { text: 'three' } }
    ]);
    const reloaded = client.reload('page (reloaded)').connect();
    await waitFor(() => server.peers[2]?.heard.length === 1, 5_000, 'the reloaded hello');
    expect(reloaded.client).not.toBe(client.client);
    expect(JSON.parse(server.peers[2]!.heard[0]!)).toMatchObject({ type: 'hello', client: reloaded.client, session: 'S1' });
    server.peers[2]!.ws.send(welcome('S1', []));
    await waitFor(() => server.peers[2]!.heard.length === 3, 5_000, 'the renumbered sends');
    expect(server.peers[2]!.heard.slice(1).map((text) => JSON.parse(text) as unknown)).toEqual([
      { type: 'send', id: 1, data: { text: 'two' } },
      { type: 'send', id: 2, data: { text: 'three' } }
    ]);
    expect(records.map((record) => record.id)).toEqual(['page #1', 'page #2', 'page (reloaded) #1']);
    expect(records[0]!.close).toMatchObject({ code: 1006, by: 'server' });
    expect(records[1]!.close).toMatchObject({ code: 1001, by: 'client' });
    reloaded.stop();
  });

  it('holds its hello until told, and says it from where it stands then', async () => {
    const server = await scripted();
    const client = new RawSessionClient({ url: `ws://127.0.0.1:${server.port}/`, user: undefined, name: 'slow', holdHello: true, client: null }).connect();
    await waitFor(() => server.peers.length === 1, 5_000, 'the connection');
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(server.peers[0]!.heard).toEqual([]);
    client.setCursor('room:r', { epoch: 'e', offset: 3 });
    client.hello();
    await waitFor(() => server.peers[0]!.heard.length === 1, 5_000, 'the hello');
    expect(JSON.parse(server.peers[0]!.heard[0]!)).toEqual({ type: 'hello', topics: { 'room:r': { epoch: 'e', offset: 3 } } });
    client.stop();
  });

  it('stops after a final close code, and reads nothing while paused', async () => {
    const server = await scripted();
    const client = new RawSessionClient({ url: `ws://127.0.0.1:${server.port}/`, user: undefined, name: 'tab', reconnectMs: 5 }).connect();
    await waitFor(() => server.peers[0]?.heard.length === 1, 5_000, 'hello');
    server.peers[0]!.ws.send(welcome('S1', []));
    await waitFor(() => client.open, 5_000, 'welcome');
    client.pause();
    for (let i = 1; i <= 50; i++) server.peers[0]!.ws.send(message(i));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(client.current!.received).toHaveLength(1);
    client.resume();
    await waitFor(() => client.current!.received.length === 51, 5_000, 'the messages after resume');
    server.peers[0]!.ws.close(4400, 'bad');
    await waitFor(() => client.finalCode === 4400, 5_000, 'the final close');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(server.peers).toHaveLength(1);
    expect(client.connected).toBe(false);
  });
});

describe('recordingWebSocket', () => {
  it('records what a SessionClient received before its dedupe and parsing see it', async () => {
    const server = await scripted();
    const records: ConnectionRecord[] = [];
    const Socket = recordingWebSocket({ name: 'tab', user: 'ä', records, connectionParam: 'conn' });
    const client = new SessionClient({ url: `ws://127.0.0.1:${server.port}/?user=x`, WebSocket: Socket as unknown as ClientSocketConstructor });
    const seen: number[] = [];
    client.on('message', ({ offset }) => seen.push(offset));
    client.start();
    await waitFor(() => server.peers[0]?.heard.length === 1, 5_000, 'hello');
    const peer = server.peers[0]!.ws;
    peer.send(welcome('S1', ['user:ä']));
    peer.send(json({ type: 'recovery', topic: 'user:ä', recovered: false, epoch: 'e1', offset: 0, reason: 'unknown_session' }));
    for (const offset of [1, 2, 2, 3]) peer.send(message(offset));
    await waitFor(() => seen.length === 3, 5_000, 'three messages at the client');
    await waitFor(() => records[0]!.received.length === 6, 5_000, 'six frames recorded');
    expect(seen).toEqual([1, 2, 3]);
    expect(records[0]!.received.filter((text) => text === message(2))).toHaveLength(2);
    expect(records[0]!.sent).toEqual([server.peers[0]!.heard[0]]);
    client.close();
    await waitFor(() => records[0]!.close !== undefined, 5_000, 'the close');
    expect(records[0]!.close).toMatchObject({ code: 1000, by: 'client' });
  });
});
