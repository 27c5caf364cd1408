/**
 * What the security tests (#21) share: an upgrade's outcome as a status
 * (101 when it opened), and a deflate bomb, a permessage-deflate text
 * frame a few KiB long that inflates past the server's `maxPayload`.
 */
import { constants, deflateRawSync } from 'node:zlib';
import { WebSocket } from 'ws';
import { encodeFrame } from '../hardening/support/raw-client.js';

/** What an upgrade came to: 101 and the open socket, or the HTTP status it was refused with. */
export interface UpgradeOutcome {
  status: number;
  /** The open socket (101 only); the caller closes it. */
  ws?: WebSocket;
}

/**
 * Upgrade with the `ws` client (which sends no `Origin` unless given one).
 *
 * @param {string} url Where to
 * @param {Record<string, string>} [headers] Extra headers (`Origin`, `X-Real-IP`...)
 * @param {string | string[]} [protocols] Subprotocols to ask for
 * @returns {Promise<UpgradeOutcome>} Within 10 s
 * @throws {Error} If neither happens within 10 s, or the socket fails otherwise
 */
export function upgradeOutcome(url: string, headers: Record<string, string> = {}, protocols?: string | string[]): Promise<UpgradeOutcome> {
  const ws = new WebSocket(url, protocols, { headers });
  return new Promise<UpgradeOutcome>((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`no answer to the upgrade of ${url} within 10 s`));
    }, 10_000);
    ws.once('open', () => {
      clearTimeout(timer);
      resolve({ status: 101, ws });
    });
    ws.once('unexpected-response', (_request, response) => {
      clearTimeout(timer);
      resolve({ status: response.statusCode ?? 0 });
      response.resume();
      ws.terminate();
    });
    ws.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** A compressed frame and the size it inflates to. */
export interface DeflateBomb {
  /** One masked text frame with RSV1 set (permessage-deflate), ready to write after the handshake. */
  frame: Buffer;
  /** Its compressed payload's size in bytes. */
  compressedBytes: number;
  inflatedBytes: number;
}

/**
 * A text message of `inflatedBytes` of one letter, compressed as
 * permessage-deflate does it (raw deflate, sync flush, the 00 00 ff ff
 * tail removed; RFC 7692 section 7.2.1): about a thousand to one.
 *
 * @param {number} inflatedBytes What it inflates to
 * @returns {DeflateBomb} The frame
 */
export function deflateBomb(inflatedBytes: number): DeflateBomb {
  const compressed = deflateRawSync(Buffer.alloc(inflatedBytes, 'a'), { level: 9, finishFlush: constants.Z_SYNC_FLUSH });
  const payload = compressed.subarray(0, compressed.length - 4);
  // RSV1 (0x40) marks a compressed message.
  return { frame: encodeFrame({ opcode: 0x1, rsv: 4, payload }), compressedBytes: payload.length, inflatedBytes };
}

/**
 * @param {Promise<T>} promise What to wait for
 * @param {number} ms How long at most
 * @param {string} what Named in the error
 * @returns {Promise<T>} Its value
 * @throws {Error} If it takes longer
 */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => (timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms)));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves with the close code the client saw. */
export function closeCode(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once('close', (code) => resolve(code)));
}

/** Resolves with the next text message the client receives. */
export function nextMessage(ws: WebSocket): Promise<string> {
  return new Promise((resolve) => ws.once('message', (data) => resolve(data.toString())));
}
