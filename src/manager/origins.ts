/**
 * Which pages may open a WebSocket here (#21). A browser sends cookies
 * with a WebSocket upgrade from any site, and the page reads what comes
 * back: without a look at `Origin`, a page elsewhere opens a socket as the
 * visitor (cross-site WebSocket hijacking; RFC 6455 section 10.2). The
 * browser sets `Origin` itself and no page can change it, so it is what
 * tells a foreign page from the application's own. A client that sends no
 * `Origin` is not a browser page: it cannot be made to carry a visitor's
 * cookies, so `Origin` says nothing about it.
 *
 * One implementation for the upgrade checks of `attach` and every adapter
 * (`upgrade-gate.ts`) and for the inspector's socket.
 */
import type { IncomingMessage } from 'node:http';

/**
 * Who may open a WebSocket: exact origins (`https://app.example.com`,
 * as browsers send them), or a function of the upgrade request that
 * returns `true` to let it on (it decides alone, for requests with and
 * without `Origin`).
 */
export type AllowedOrigins = readonly string[] | ((request: IncomingMessage) => boolean);

/** Whether an upgrade request may go on. Never throws for a list or the default; a function given may. */
export type OriginTest = (request: IncomingMessage) => boolean;

/**
 * @param {IncomingMessage} request An upgrade request
 * @returns {string | undefined} The origin of the page that opened it (`Origin`, or
 *   `Sec-WebSocket-Origin` of protocol version 8); `undefined` when it sent none
 */
export function requestOrigin(request: IncomingMessage): string | undefined {
  const origin = request.headers.origin ?? request.headers['sec-websocket-origin'];
  return Array.isArray(origin) ? origin.join(', ') : origin;
}

/**
 * Whether `origin` names the host the request was sent to (its `Host`),
 * by `http` or `https`: a server behind a TLS-terminating proxy does not
 * know which one the page used. Default ports and case do not matter.
 *
 * @param {string} origin An `Origin` header
 * @param {string | undefined} host The request's `Host` header
 * @returns {boolean} Whether the page is this host's own
 */
export function isSameOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined || host === '') return false;
  const scheme = origin.startsWith('https://') ? 'https://' : origin.startsWith('http://') ? 'http://' : undefined;
  if (scheme === undefined) return false;
  try {
    return new URL(scheme + host).origin === origin;
  } catch {
    return false;
  }
}

/**
 * The default: no `Origin` (not a browser page), or the request's own host.
 *
 * @param {IncomingMessage} request An upgrade request
 * @returns {boolean} Whether it may go on
 */
export function sameOriginOrNone(request: IncomingMessage): boolean {
  const origin = requestOrigin(request);
  return origin === undefined || isSameOrigin(origin, request.headers.host);
}

/**
 * The test an option asks for, checked now: the default when `undefined`,
 * exactly the origins listed (and requests without `Origin`), or the
 * function (only `true` lets a request on).
 *
 * @param {AllowedOrigins | undefined} allowed As given
 * @param {string} [name] The option's name, for errors
 * @returns {OriginTest} The test
 * @throws {TypeError} If it is neither a list nor a function, or an entry is not a string
 * @throws {RangeError} If an entry is not an origin as browsers send it, naming it
 */
export function originTest(allowed: AllowedOrigins | undefined, name = 'allowedOrigins'): OriginTest {
  if (allowed === undefined) return sameOriginOrNone;
  if (typeof allowed === 'function') return (request) => allowed(request) === true;
  if (!Array.isArray(allowed)) {
    throw new TypeError(`Invalid option ${name}: ${typeof allowed} (expected a list of origins or a function of the request)`);
  }
  const listed = new Set((allowed as readonly unknown[]).map((entry, index) => checkedOrigin(entry, `${name}[${index}]`)));
  return (request) => {
    const origin = requestOrigin(request);
    return origin === undefined || listed.has(origin);
  };
}

/** An entry of a list, as browsers would send it, or a precise error. */
function checkedOrigin(entry: unknown, name: string): string {
  if (typeof entry !== 'string') throw new TypeError(`Invalid option ${name}: ${entry === null ? 'null' : typeof entry} (expected an origin such as https://app.example.com)`);
  let parsed: URL | undefined;
  try {
    parsed = new URL(entry);
  } catch {
    // Not a URL: '*', 'null', 'example.com'.
  }
  if (parsed !== undefined && parsed.origin === entry) return entry;
  const hint =
    parsed !== undefined && parsed.origin !== 'null'
      ? `; did you mean ${parsed.origin}?`
      : entry === '*'
        ? '; to let every page on, pass a function: () => true'
        : '';
  throw new RangeError(`Invalid option ${name}: ${JSON.stringify(entry.slice(0, 200))} (expected an origin as browsers send it: scheme://host[:port], lower case, no path${hint})`);
}
