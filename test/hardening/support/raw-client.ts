/**
 * A WebSocket client written by hand over node:net, so tests can send what
 * no library would: bad frames, unmasked frames, garbage instead of HTTP.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

/** One frame as the test wants it on the wire, rules or not. */
export interface FrameSpec {
  opcode: number;
  payload: Uint8Array;
  /** Default true. */
  fin?: boolean;
  /** RSV1-3 as a 3-bit number. Default 0. */
  rsv?: number;
  /** 4-byte masking key; `null` sends the frame unmasked. Default: a fixed key. */
  mask?: Uint8Array | null;
  /** Declare this payload length instead of the real one (the payload sent is not changed). */
  declaredLength?: number;
}

const DEFAULT_MASK = Uint8Array.of(0x12, 0x34, 0x56, 0x78);

/**
 * Encode one frame (RFC 6455 section 5.2).
 *
 * @param {FrameSpec} spec What to put in each field
 * @returns {Buffer} Header and (masked) payload
 */
export function encodeFrame(spec: FrameSpec): Buffer {
  const { opcode, payload, fin = true, rsv = 0 } = spec;
  const mask = spec.mask === undefined ? DEFAULT_MASK : spec.mask;
  const length = spec.declaredLength ?? payload.length;
  const header: number[] = [(fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f)];
  const maskBit = mask ? 0x80 : 0;
  if (length < 126) {
    header.push(maskBit | length);
  } else if (length < 0x10000) {
    header.push(maskBit | 126, length >> 8, length & 0xff);
  } else {
    const big = Buffer.alloc(8);
    big.writeBigUInt64BE(BigInt(length));
    header.push(maskBit | 127, ...big);
  }
  const body = Buffer.from(payload);
  if (mask) {
    header.push(...mask);
    for (let i = 0; i < body.length; i++) body[i]! ^= mask[i & 3]!;
  }
  return Buffer.concat([Buffer.from(header), body]);
}

/** A close frame's code and reason, as the server sent it. */
export interface CloseFrame {
  code: number;
  reason: string;
}

/** A raw TCP client on 127.0.0.1. */
export interface RawClient {
  socket: Socket;
  /** Every byte the server sent, once the socket is closed. */
  ended: Promise<Buffer>;
  write(data: Uint8Array): void;
}

/** A raw client that completed the upgrade handshake. */
export interface RawWebSocket extends RawClient {
  /** The server's close frame; `null` if the socket ended without one. */
  closeFrame: Promise<CloseFrame | null>;
}

/**
 * Open a TCP connection to 127.0.0.1 and collect what the server sends.
 *
 * @param {number} port The server's port
 * @returns {Promise<RawClient>} Once connected
 */
export async function openRaw(port: number): Promise<RawClient> {
  // No Nagle delay: tests write small pieces one after another.
  const socket = connect({ host: '127.0.0.1', port, noDelay: true });
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise<Buffer>((resolve) => socket.once('close', () => resolve(Buffer.concat(chunks))));
  // A reset from the server is an expected outcome here, not a failure.
  socket.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, ended, write: (data) => void socket.write(data) };
}

/**
 * The HTTP upgrade request a browser would send.
 *
 * @param {number} port The server's port
 * @param {Record<string, string>} [overrides] Headers to replace (an empty value drops the header)
 * @returns {string} The request head
 */
export function upgradeRequest(port: number, overrides: Record<string, string> = {}): string {
  const headers: Record<string, string> = {
    Host: `127.0.0.1:${port}`,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    'Sec-WebSocket-Version': '13',
    ...overrides
  };
  const lines = Object.entries(headers)
    .filter(([, value]) => value !== '')
    .map(([name, value]) => `${name}: ${value}`);
  return `GET / HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`;
}

/** Where and how {@link openRawWebSocket} upgrades. */
export interface RawUpgrade {
  /** The request-target. Default `/`. */
  target?: string;
  /** Headers to add or replace (an empty value drops one), e.g. `Sec-WebSocket-Extensions: permessage-deflate`. */
  headers?: Record<string, string>;
}

/**
 * Open a raw connection and do the upgrade handshake by hand. When the
 * server's close frame arrives, answer it and end the socket, as a
 * well-behaved peer would.
 *
 * @param {number} port The server's port
 * @param {RawUpgrade} [upgrade] Path and headers of the upgrade request
 * @returns {Promise<RawWebSocket>} Once the server answered 101
 * @throws {Error} If the server answers anything else
 */
export async function openRawWebSocket(port: number, upgrade: RawUpgrade = {}): Promise<RawWebSocket> {
  const raw = await openRaw(port);
  const { socket } = raw;
  let buffered = Buffer.alloc(0);
  let upgraded = false;
  let resolveClose!: (frame: CloseFrame | null) => void;
  const closeFrame = new Promise<CloseFrame | null>((resolve) => (resolveClose = resolve));
  socket.once('close', () => resolveClose(null));
  const handshake = new Promise<void>((resolve, reject) => {
    socket.once('close', () => reject(new Error('socket closed during the handshake')));
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (!upgraded) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = buffered.subarray(0, end).toString('latin1');
        if (!head.startsWith('HTTP/1.1 101')) {
          reject(new Error(`upgrade refused: ${head.split('\r\n')[0]}`));
          return;
        }
        upgraded = true;
        buffered = buffered.subarray(end + 4);
        resolve();
      }
      const frame = findCloseFrame(buffered);
      if (frame) {
        resolveClose(frame);
        socket.end(encodeFrame({ opcode: 0x8, payload: closePayload(frame.code) }));
      }
    });
  });
  raw.write(Buffer.from(upgradeRequestTo(port, upgrade.target ?? '/', upgrade.headers), 'latin1'));
  await handshake;
  return { ...raw, closeFrame };
}

function closePayload(code: number): Buffer {
  const payload = Buffer.alloc(2);
  payload.writeUInt16BE(code);
  return payload;
}

/** Walk the server's (unmasked) frames and return the first close frame. */
function findCloseFrame(data: Buffer): CloseFrame | undefined {
  let offset = 0;
  while (offset + 2 <= data.length) {
    const opcode = data[offset]! & 0x0f;
    let length = data[offset + 1]! & 0x7f;
    let start = offset + 2;
    if (length === 126) {
      if (start + 2 > data.length) return undefined;
      length = data.readUInt16BE(start);
      start += 2;
    } else if (length === 127) {
      if (start + 8 > data.length) return undefined;
      length = Number(data.readBigUInt64BE(start));
      start += 8;
    }
    if (start + length > data.length) return undefined;
    if (opcode === 0x8) {
      const payload = data.subarray(start, start + length);
      return payload.length >= 2
        ? { code: payload.readUInt16BE(0), reason: payload.subarray(2).toString() }
        : { code: 1005, reason: '' };
    }
    offset = start + length;
  }
  return undefined;
}

/** What a server did with a request sent over raw TCP. */
export interface RawAnswer {
  /** The status line of its answer ('' when it sent none). */
  status: string;
  /** Whether it closed the socket within the time given. */
  closed: boolean;
}

/**
 * Send `request` (bytes, rules or not) on a new TCP connection and wait
 * for the server to answer and close, at most `timeoutMs`; then end the
 * socket either way.
 *
 * @returns {Promise<RawAnswer>} The first line it sent, and whether it closed
 */
export async function rawExchange(port: number, request: string | Uint8Array, timeoutMs = 5_000): Promise<RawAnswer> {
  const raw = await openRaw(port);
  raw.write(typeof request === 'string' ? Buffer.from(request, 'latin1') : request);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), timeoutMs)));
  const outcome = await Promise.race([raw.ended.then((bytes) => ({ bytes, closed: true })), late]);
  clearTimeout(timer);
  if (outcome === undefined) {
    raw.socket.destroy();
    const bytes = await raw.ended;
    return { status: statusLine(bytes), closed: false };
  }
  return { status: statusLine(outcome.bytes), closed: true };
}

function statusLine(bytes: Buffer): string {
  const text = bytes.toString('latin1');
  const end = text.indexOf('\r\n');
  return end === -1 ? text : text.slice(0, end);
}

/**
 * An upgrade request with `target` as its request-target, verbatim.
 *
 * @param {number} port The server's port
 * @param {string} target What follows `GET ` (a path, or anything)
 * @param {Record<string, string>} [overrides] Headers to add or replace (an empty value drops one)
 * @returns {string} The request head
 */
export function upgradeRequestTo(port: number, target: string, overrides?: Record<string, string>): string {
  return upgradeRequest(port, overrides).replace(/^GET \/ HTTP/, () => `GET ${target} HTTP`);
}
