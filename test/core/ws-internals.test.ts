/**
 * src/core/ws-internals.ts against the installed ws: each private it reads is
 * still where it was, so an upgrade that moves one fails here, by name,
 * instead of silently taking the slower path. And each slower path works.
 */
import { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import { describe, expect, it } from 'vitest';
import { errorCloseCode, onCloseFrame, rawSocket } from '../../src/core/ws-internals.js';
import { sendInvalidFrame } from '../hardening/support/peers.js';
import { serverPerTest } from '../support/per-test-server.js';
import { waitFor } from '../support/server.js';

const { start } = serverPerTest();

describe('ws internals, as the installed ws has them', () => {
  it('ws keeps its TCP socket under _socket', async () => {
    const server = await start();
    const { connection } = await server.connect('u');
    const socket = rawSocket(connection.socket);
    expect(socket, 'ws no longer exposes _socket: corking and the straight-through write are off').toBeInstanceOf(Duplex);
    expect(socket!.writableCorked).toBe(0);
  });

  it("ws's receiver emits conclude for the peer's close frame, before 'close'", async () => {
    const server = await start();
    const { client, connection } = await server.connect('u');
    const seen: string[] = [];
    const listener = function (this: WebSocket) {
      seen.push(`frame ${this.readyState}`);
    };
    expect(onCloseFrame(connection.socket, listener), 'ws has no _receiver or its websocket symbol: close frames are noticed late').toBe(true);
    // Asking twice listens once.
    expect(onCloseFrame(connection.socket, listener)).toBe(true);
    connection.socket.once('close', () => seen.push('close'));
    client.ws.close(4000, 'bye');
    await waitFor(() => seen.includes('close'), 2_000, 'close');
    expect(seen).toEqual([`frame ${WebSocket.CLOSING}`, 'close']);
  });

  it("ws's protocol errors carry their close code under Symbol('status-code')", async () => {
    const server = await start();
    const { client, connection } = await server.connect('u');
    const error = new Promise<Error>((resolve) => connection.socket.once('error', resolve));
    sendInvalidFrame(client);
    expect(errorCloseCode(await error), 'ws moved the status-code symbol: protocol errors are recorded as 1006').toBe(1002);
  });
});

describe('ws internals missing: the slower paths', () => {
  it('reads nothing from a socket without the privates', () => {
    // What a ws that moved them looks like to the readers.
    const bare = Object.create(WebSocket.prototype) as WebSocket;
    expect(rawSocket(bare)).toBeUndefined();
    expect(onCloseFrame(bare, () => {})).toBe(false);
    expect(errorCloseCode(new Error('plain'))).toBeUndefined();
  });
});
