/**
 * Which WebSocket subprotocol a server of this package selects
 * (docs/protocol.md 1.1, 1.2, 9). ws selects the first one a client offers,
 * so a client offering `ws-lifecycle.v2, ws-lifecycle.v1` (as section 9
 * invites) would get `ws-lifecycle.v2` from a server that speaks only v1,
 * and one offering `chat, ws-lifecycle.v1` a plain connection. Here:
 * `ws-lifecycle.v1` whenever it is offered, whatever the order; never
 * another `ws-lifecycle.*` version, which this server does not implement;
 * otherwise what the application's own `handleProtocols` selects, or the
 * first other subprotocol offered, as ws would. `manager.attach` and every
 * adapter's `ws` server select with it.
 */
import type { IncomingMessage } from 'node:http';
import { SESSION_PROTOCOL } from '../protocol/session-protocol.js';

/** ws's `handleProtocols`: the subprotocol to select from those offered, or `false` for none. */
export type HandleProtocols = (protocols: Set<string>, request: IncomingMessage) => string | false;

/** The subprotocols of this package, each version its own (`ws-lifecycle.v1`, `ws-lifecycle.v2`...). */
const FAMILY = 'ws-lifecycle.';

/** A version of this package's protocol that this server does not implement: never selected. */
function otherVersion(protocol: string): boolean {
  return protocol !== SESSION_PROTOCOL && protocol.toLowerCase().startsWith(FAMILY);
}

/**
 * Whether an upgrade request offers `ws-lifecycle.v1`: then it is selected, and the connection is a session connection.
 *
 * @param {IncomingMessage} request An upgrade request
 * @returns {boolean} Whether `Sec-WebSocket-Protocol` lists it
 */
export function offersSessionProtocol(request: IncomingMessage): boolean {
  const offer = request.headers['sec-websocket-protocol'];
  return typeof offer === 'string' && offer.split(',').some((protocol) => protocol.trim() === SESSION_PROTOCOL);
}

/**
 * @param {HandleProtocols} [theirs] The application's own `handleProtocols`, asked when `ws-lifecycle.v1` is not offered
 * @returns {HandleProtocols} The selection described above
 */
export function selectSubprotocol(theirs?: HandleProtocols | null): HandleProtocols {
  return (protocols, request) => {
    if (protocols.has(SESSION_PROTOCOL)) return SESSION_PROTOCOL;
    if (theirs) {
      const chosen = theirs(protocols, request);
      return typeof chosen === 'string' && otherVersion(chosen) ? false : chosen;
    }
    for (const protocol of protocols) if (!otherVersion(protocol)) return protocol;
    return false;
  };
}
