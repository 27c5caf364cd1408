/**
 * Connections per client address (#21): `maxConnectionsPerIp`, off by
 * default because many users can share one address (a NAT, a proxy, a
 * campus). An upgrade that passes the check holds a place for its
 * address until its socket closes: while `identify` runs, while the
 * connection lives, and while a refused one is answered. So one address
 * cannot hold more sockets at once than the limit, slow handshakes
 * included.
 *
 * An IPv6 client is counted by its /64: one host is commonly given a whole
 * /64, and counting single addresses would give it 2^64 places.
 */
import type { IncomingMessage } from 'node:http';
import { isIPv4, isIPv6 } from 'node:net';

/**
 * The address to count a request by, when the socket's is not the
 * client's (behind a proxy: the address the proxy put in a header it
 * sets itself). `undefined` or '' falls back to the socket's address.
 */
export type ClientAddress = (request: IncomingMessage) => string | undefined;

/** What the limit decided: a place taken, or the address over the limit. */
export type AddressVerdict = { ok: true } | { ok: false; address: string; live: number };

/** Live sockets per address, for one list of upgrade checks. */
export class AddressLimit {
  readonly #max: number;
  readonly #addressOf: ClientAddress | undefined;
  readonly #live = new Map<string, number>();
  /** Sockets holding a place: a keep-alive socket that upgrades twice holds one. */
  readonly #holding = new WeakSet<object>();

  /**
   * @param {number} max Live sockets per address at most
   * @param {ClientAddress} [addressOf] Where the client's address is read; default the socket's
   */
  constructor(max: number, addressOf?: ClientAddress) {
    this.#max = max;
    this.#addressOf = addressOf;
  }

  /** Live sockets per counted address (an IPv4 address, or an IPv6 /64). */
  get live(): ReadonlyMap<string, number> {
    return this.#live;
  }

  /**
   * Take a place for the request's address until its socket closes, or
   * say the address is at the limit.
   *
   * @param {IncomingMessage} request An upgrade request
   * @returns {AddressVerdict} Whether it may go on
   */
  take(request: IncomingMessage): AddressVerdict {
    const socket = request.socket;
    if (this.#holding.has(socket)) return { ok: true };
    const address = addressKey(this.#addressOf?.(request) || socket.remoteAddress || '');
    const live = this.#live.get(address) ?? 0;
    if (live >= this.#max) return { ok: false, address, live };
    this.#live.set(address, live + 1);
    this.#holding.add(socket);
    socket.once('close', () => {
      const left = (this.#live.get(address) ?? 1) - 1;
      if (left <= 0) this.#live.delete(address);
      else this.#live.set(address, left);
    });
    return { ok: true };
  }
}

/**
 * The name an address is counted under: an IPv4 address as it is (also
 * when written as IPv4-mapped IPv6), an IPv6 address as its /64
 * (`2001:db8:1:2::/64`), anything else (a proxy's header) as given, cut
 * to 100 characters.
 *
 * @param {string} address An address
 * @returns {string} Its key
 */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped !== null) return mapped[1]!;
  if (isIPv4(address)) return address;
  const bare = address.split('%')[0]!;
  if (!isIPv6(bare)) return address.slice(0, 100);
  return `${firstGroups(bare.toLowerCase(), 4).join(':')}::/64`;
}

/** The first `count` 16-bit groups of an IPv6 address, `::` expanded, leading zeros dropped. */
function firstGroups(address: string, count: number): string[] {
  const gap = address.indexOf('::');
  const groupsOf = (part: string): string[] => (part === '' ? [] : part.split(':'));
  let groups: string[];
  if (gap === -1) {
    groups = groupsOf(address);
  } else {
    const left = groupsOf(address.slice(0, gap));
    const right = groupsOf(address.slice(gap + 2));
    // A dotted IPv4 tail is two groups.
    const rightWidth = right.length + (right.at(-1)?.includes('.') ? 1 : 0);
    groups = [...left, ...Array<string>(8 - left.length - rightWidth).fill('0'), ...right];
  }
  return groups.slice(0, count).map((group) => parseInt(group, 16).toString(16));
}
