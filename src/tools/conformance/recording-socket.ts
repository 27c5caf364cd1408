/**
 * A `ws` WebSocket class that records every frame of every connection it
 * makes, for the conformance checker: hand it to a client that takes a
 * WebSocket class (`SessionClient`'s `WebSocket` option), and what the
 * server sent is recorded at the socket, before the client's own handling
 * (its dedupe, its parsing) can hide any of it.
 */
import { WebSocket, type ClientOptions } from 'ws';
import type { ConnectionRecord } from './records.js';

export interface RecordingOptions {
  /** Records are named `<name> #<n>`. */
  name: string;
  /** The user the server knows the connections as. */
  user: string | undefined;
  /** Every record made is pushed here. */
  records: ConnectionRecord[];
  /** Add `<name>=<record id>` to each connection's URL, so the server side can tell connections apart. */
  connectionParam?: string;
  /** Each connection's URL instead of the one the client asked for (e.g. a closed port, while offline). */
  redirect?: (url: string) => string;
  /** Every socket made is pushed here, newest last. */
  sockets?: WebSocket[];
}

/** What {@link recordingWebSocket} makes: constructed as `ws`'s WebSocket is. */
export type RecordingWebSocketClass = new (address: string | URL, protocols?: string | string[], options?: ClientOptions) => WebSocket;

/**
 * @param {RecordingOptions} options Where the records go
 * @returns {RecordingWebSocketClass} A WebSocket class that records
 */
export function recordingWebSocket(options: RecordingOptions): RecordingWebSocketClass {
  let count = 0;
  return class RecordingWebSocket extends WebSocket {
    readonly #record: ConnectionRecord;
    #closing = false;

    constructor(address: string | URL, protocols?: string | string[], clientOptions?: ClientOptions) {
      const record: ConnectionRecord = { id: `${options.name} #${++count}`, user: options.user, sent: [], received: [] };
      let url = String(address);
      if (options.connectionParam !== undefined) url += `${url.includes('?') ? '&' : '?'}${options.connectionParam}=${encodeURIComponent(record.id)}`;
      super(options.redirect?.(url) ?? url, protocols, clientOptions);
      this.#record = record;
      options.records.push(record);
      options.sockets?.push(this);
      this.on('message', (data: Buffer, isBinary: boolean) => void record.received.push(isBinary ? new Uint8Array(data) : data.toString('utf8')));
      this.on('error', () => {});
      this.on('close', (code: number, reason: Buffer) => {
        record.close = { code, reason: reason.toString(), by: this.#closing ? 'client' : 'server' };
      });
    }

    override send(data: unknown, ...rest: unknown[]): void {
      if (this.readyState === WebSocket.OPEN) this.#record.sent.push(typeof data === 'string' ? data : '<binary>');
      (super.send as (...args: unknown[]) => void)(data, ...rest);
    }

    override close(code?: number, reason?: string | Buffer): void {
      this.#closing = true;
      super.close(code, reason);
    }

    override terminate(): void {
      this.#closing = true;
      super.terminate();
    }
  };
}
