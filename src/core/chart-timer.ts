/**
 * One connection's chart timer (#14) and what its heartbeat remembers
 * (#25): the timer the current state armed in the shared timer lists, the
 * event it sends when it elapses, and how much the socket had written when
 * the heartbeat last looked (a peer that stops reading makes no progress).
 * It is the connection's slot in the timer lists, so it costs no object
 * more than the slot did.
 */
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { ConnectionEvent, ConnectionTimer } from '../../machines/connection.machine.js';
import { TIMER_EVENTS, writtenBytes } from './socket-binding.js';
import { TimerSlot, processTimers, type TimerOwner } from './timer-lists.js';

export class ChartTimer extends TimerSlot {
  /** What the armed timer sends when it elapses. */
  event: ConnectionEvent = TIMER_EVENTS.handshakeTimeout;
  /** Bytes the socket had written when the heartbeat last looked. */
  #written = 0;

  constructor(owner: TimerOwner) {
    super(owner);
  }

  /** Arm `timer` for `ms` (the machine's `startTimer`), replacing the one armed before. */
  arm(timer: ConnectionTimer, ms: number): void {
    this.event = TIMER_EVENTS[timer];
    processTimers.arm(this, ms);
  }

  disarm(): void {
    processTimers.disarm(this);
  }

  /** The heartbeat's ping joins the queue: progress is measured from here. */
  noteQueue(tcp: Duplex | undefined, ws: WebSocket): void {
    this.#written = writtenBytes(tcp, ws);
  }

  /** Whether the socket wrote anything since the last look; the next look compares with now. */
  progressed(tcp: Duplex | undefined, ws: WebSocket): boolean {
    const written = writtenBytes(tcp, ws);
    if (written === this.#written) return false;
    this.#written = written;
    return true;
  }
}
