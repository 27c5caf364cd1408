/**
 * Instruments server-side sockets so a send after close cannot go unseen:
 * every `ws.send` and `ws.ping` is checked against the socket's readyState
 * and the connection's state at the moment of the call, and every write
 * callback is counted so none is lost or called twice.
 */
import { WebSocket } from 'ws';
import type { Connection } from '../../src/index.js';
import { ViolationLog, type Violations } from './checks.js';
import { SettleLedger, type LedgerSummary } from './ledger.js';
import { errorKey, tally } from './tally.js';

/** ws reports a write on a closing or closed socket with this message. */
const NOT_OPEN = /not open/i;

type WriteCallback = (error?: Error) => void;

/** What the probe saw over a run. */
export interface ProbeReport {
  /** `ws.send` calls on watched sockets. */
  writes: number;
  /** `ws.ping` calls on watched sockets. */
  pings: number;
  /** Writes, pings and write callbacks checked; wrong ones touched a socket that was not open. */
  violations: Violations;
  /** Write callbacks: every `ws.send` must call back exactly once. */
  writeCallbacks: LedgerSummary;
  /** Socket `error` events and failed write callbacks, by error code or message. */
  transportErrors: Record<string, number>;
}

export class SocketProbe {
  readonly #callbacks = new SettleLedger();
  readonly #violations = new ViolationLog();
  readonly #errors: Record<string, number> = {};
  #writes = 0;
  #pings = 0;

  /** Write callbacks not yet called. */
  get pendingWrites(): number {
    return this.#callbacks.pending;
  }

  /**
   * Instrument the socket of a connection. Call it before anything can
   * write to the socket (the manager's `connection` event is such a point).
   *
   * @param {Connection} connection The connection whose socket to watch
   */
  watch(connection: Connection): void {
    const ws = connection.socket;
    const send = ws.send.bind(ws);
    const ping = ws.ping.bind(ws);
    ws.send = ((data: unknown, options?: unknown, callback?: unknown): void => {
      if (typeof options === 'function') {
        callback = options;
        options = {};
      }
      this.#writes++;
      this.#checkWritable('ws.send', ws, connection);
      const token = this.#callbacks.open();
      const written: WriteCallback = (error) => {
        this.#callbacks.settle(token);
        if (error) this.#writeFailed(error, connection);
        (callback as WriteCallback | undefined)?.(error);
      };
      send(data as string, options ?? {}, written);
    }) as WebSocket['send'];
    ws.ping = ((...args: unknown[]): void => {
      this.#pings++;
      this.#checkWritable('ws.ping', ws, connection);
      (ping as (...a: unknown[]) => void).apply(ws, args);
    }) as WebSocket['ping'];
    ws.on('error', (error: Error) => tally(this.#errors, errorKey(error)));
  }

  /** A snapshot of what the probe saw. */
  report(): ProbeReport {
    const v = this.#violations;
    return {
      writes: this.#writes,
      pings: this.#pings,
      violations: { checked: v.checked, wrong: v.wrong, samples: v.samples.slice() },
      writeCallbacks: this.#callbacks.summary(),
      transportErrors: { ...this.#errors }
    };
  }

  #checkWritable(what: string, ws: WebSocket, connection: Connection): void {
    const socketOpen = ws.readyState === WebSocket.OPEN;
    this.#violations.record(socketOpen && connection.state === 'connected', () =>
      socketOpen
        ? `${what} while connection ${connection.id} is ${connection.state}`
        : `${what} on readyState ${ws.readyState} (connection ${connection.id} ${connection.state})`
    );
  }

  #writeFailed(error: Error, connection: Connection): void {
    this.#violations.record(!NOT_OPEN.test(error.message), () => `write callback: ${error.message} (connection ${connection.id})`);
    tally(this.#errors, errorKey(error));
  }
}
