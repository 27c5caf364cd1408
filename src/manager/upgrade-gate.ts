/**
 * The one path an upgrade request takes before the WebSocket handshake,
 * shared by `manager.attach` and every adapter (#25). An upgrade goes
 * through an ordered list of checks, each of which lets it on or refuses it
 * with an HTTP status:
 *
 * 1. the request URL parses as `new URL(request.url, 'http://localhost')`
 *    and its path decodes (else 400), so no code after it, `identify`
 *    included, meets one that throws;
 * 2. the path: chosen by whoever routes the upgrade (`server-routes.ts`
 *    for the http, Express and Hono adapters, the framework for Fastify
 *    and Nest, ws's own `path` for `attach`): an upgrade nobody here owns is
 *    left to other listeners, and answered 404 when there are none;
 * 3. draining: an adapter whose server is closing answers 503;
 * 4. `Origin` (`allowedOrigins`, `origins.ts`): a page of another site is
 *    answered 403, before any application code runs (#21);
 * 5. `maxConnectionsPerIp` (`address-limit.ts`): an address that holds
 *    that many sockets already is answered 429 (#21);
 * 6. `identify`, bounded by `identifyTimeoutMs` (503 when it does not
 *    answer in time), whatever it returns or throws turned into a verdict;
 *    a session connection's user id must fit its topic (500 otherwise).
 *
 * Until ws owns the socket it carries an 'error' listener
 * ({@link guardUpgradeSocket}): Node removes its own before emitting
 * 'upgrade', so a client that resets while `identify` runs would otherwise
 * be an unhandled 'error' that ends the process.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { DEFAULTS } from '../core/constants.js';
import { logSafely } from '../core/logging.js';
import { assertDuration, assertNumberOption } from '../core/validation.js';
import { sessionUserError } from '../sessions/rooms.js';
import { AddressLimit, type ClientAddress } from './address-limit.js';
import { originTest, requestOrigin, type AllowedOrigins, type OriginTest } from './origins.js';
import { offersSessionProtocol } from './subprotocols.js';

export type { AllowedOrigins } from './origins.js';
export type { ClientAddress } from './address-limit.js';

/** Who a connection belongs to. */
export interface UpgradeIdentity {
  userId?: string;
  metadata?: Record<string, unknown>;
}

/** A refused upgrade: answered with this HTTP status (400-599) and no connection is made. */
export interface UpgradeRefusal {
  status: number;
  /** The response body. Default: the status text. */
  reason?: string;
}

/**
 * What `identify` may return: the identity to accept with, `true` or
 * nothing to accept anonymously, `false` to refuse with 401, or an
 * {@link UpgradeRefusal}. Anything else is refused with 500 and logged.
 */
export type UpgradeDecision = UpgradeIdentity | UpgradeRefusal | boolean | null | undefined | void;

/** Runs on the upgrade request before the handshake; may be async. A throw refuses with 500. */
export type Identify = (request: IncomingMessage) => UpgradeDecision | Promise<UpgradeDecision>;

/** What the checks decided: accept with an identity, or refuse with a status. */
export type UpgradeVerdict = { accept: true; identity: UpgradeIdentity } | { accept: false; status: number; reason: string };

/** One check of the list: `undefined` to go on to the next, or the verdict. */
export type UpgradeCheck = (request: IncomingMessage) => UpgradeVerdict | undefined | Promise<UpgradeVerdict | undefined>;

/** What an upgrade is checked against before the handshake: options of `manager.attach` and of every adapter. */
export interface UpgradeOptions {
  /**
   * Who the upgrade request belongs to, decided before the handshake:
   * `{ userId?, metadata? }`, `true` or nothing to accept, `false` for 401,
   * `{ status, reason? }` to refuse; a throw is logged and refused with 500.
   * Default: everyone, anonymously.
   */
  identify?: Identify;
  /** How long `identify` may take; then the upgrade is refused with 503. Default 10000 (1 to 2^31 - 1). */
  identifyTimeoutMs?: number;
  /**
   * Which pages may open a WebSocket (cross-site WebSocket hijacking): a
   * page of another origin is refused with 403 before `identify` runs.
   * Default: a request without `Origin` (not a browser page), or whose
   * `Origin` is its own host's (`http` or `https`). A list: exactly these
   * origins (`https://app.example.com`), and requests without `Origin`.
   * A function of the request: it decides alone; `true` lets it on.
   */
  allowedOrigins?: AllowedOrigins;
  /**
   * Sockets one client address may hold at once, from its upgrade until
   * its socket closes (an IPv6 client counted by its /64); one more is
   * refused with 429 before `identify` runs. Default `Infinity` (off: many
   * users may share an address). 1 or more.
   */
  maxConnectionsPerIp?: number;
  /**
   * The address `maxConnectionsPerIp` counts a request by. Default: the
   * socket's. Behind a proxy, read the header the proxy sets (never one
   * a client could send through it); `undefined` falls back to the socket's.
   */
  clientAddress?: ClientAddress;
}

/** What the list of checks is built from. */
export interface UpgradeChecksOptions extends UpgradeOptions {
  /** While this says true, upgrades are refused with 503 (an adapter whose server is closing). */
  draining?: () => boolean;
  /** Where a throwing or late `identify` and the refusals of origins and addresses are logged. */
  logger: Logger;
}

export const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable'
};

const ANONYMOUS: UpgradeVerdict = Object.freeze({ accept: true, identity: Object.freeze({}) });

/**
 * @param {number} status An HTTP status from 400 to 599
 * @param {string} [reason] The body; default the status text
 * @returns {UpgradeVerdict} A refusal
 */
export function refusal(status: number, reason?: string): UpgradeVerdict {
  return { accept: false, status, reason: reason ?? STATUS_TEXT[status] ?? 'Refused' };
}

/**
 * The request URL as `new URL(request.url, 'http://localhost')` reads it,
 * or `undefined` when that throws (`GET //[`) or its path does not decode
 * (`GET /%`: the frameworks' routers answer that 400 and, for an upgrade,
 * leave the socket open).
 *
 * @param {IncomingMessage} request An HTTP request
 * @returns {URL | undefined} The URL
 */
export function requestUrl(request: IncomingMessage): URL | undefined {
  try {
    const url = new URL(request.url ?? '/', 'http://localhost');
    decodeURIComponent(url.pathname);
    return url;
  } catch {
    return undefined;
  }
}

/** Check 1: a URL that does not parse is 400. */
export const requestUrlCheck: UpgradeCheck = (request) => (requestUrl(request) === undefined ? refusal(400, 'Bad Request: the URL cannot be parsed') : undefined);

/**
 * Check the options, so a bad one throws where the adapter or `attach`
 * is made rather than at the first upgrade.
 *
 * @param {UpgradeOptions} options As given
 * @throws {RangeError} Naming a bad `identifyTimeoutMs`, `maxConnectionsPerIp` or `allowedOrigins` entry
 * @throws {TypeError} Naming an `identify`, `allowedOrigins` or `clientAddress` of the wrong type
 */
export function assertUpgradeOptions(options: UpgradeOptions): void {
  assertDuration('identifyTimeoutMs', options.identifyTimeoutMs ?? DEFAULTS.identifyTimeoutMs);
  assertNumberOption('maxConnectionsPerIp', options.maxConnectionsPerIp ?? Infinity, 1);
  originTest(options.allowedOrigins);
  for (const name of ['identify', 'clientAddress'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function') throw new TypeError(`Invalid option ${name}: ${typeof options[name]} (expected a function)`);
  }
}

/**
 * The checks every upgrade goes through, in order (see the file's comment).
 *
 * @param {UpgradeChecksOptions} options What to check
 * @returns {UpgradeCheck[]} The list, for {@link decideUpgrade}
 * @throws {RangeError | TypeError} If an option is bad (see {@link assertUpgradeOptions})
 */
export function upgradeChecks(options: UpgradeChecksOptions): UpgradeCheck[] {
  assertUpgradeOptions(options);
  const { draining, logger } = options;
  const checks: UpgradeCheck[] = [requestUrlCheck];
  if (draining !== undefined) checks.push(() => (draining() ? refusal(503, 'server shutting down') : undefined));
  checks.push(originCheck(originTest(options.allowedOrigins), logger));
  const max = options.maxConnectionsPerIp ?? Infinity;
  if (max !== Infinity) checks.push(addressCheck(new AddressLimit(max, options.clientAddress), logger));
  if (options.identify !== undefined) checks.push(identifyCheck(options.identify, options.identifyTimeoutMs ?? DEFAULTS.identifyTimeoutMs, logger));
  return checks;
}

/** Check 4: a page `allowedOrigins` does not let on is 403, logged with its origin. */
function originCheck(allowed: OriginTest, logger: Logger): UpgradeCheck {
  return (request) => {
    if (allowed(request)) return undefined;
    const origin = (requestOrigin(request) ?? '(none)').slice(0, 200);
    logSafely(logger, 'info', { origin, host: request.headers.host?.slice(0, 200) }, 'upgrade from an origin not allowed; refused with 403');
    return refusal(403, `Forbidden: origin ${JSON.stringify(origin)} is not allowed`);
  };
}

/** Check 5: an address at `maxConnectionsPerIp` is 429. */
function addressCheck(limit: AddressLimit, logger: Logger): UpgradeCheck {
  return (request) => {
    const verdict = limit.take(request);
    if (verdict.ok) return undefined;
    logSafely(logger, 'info', { address: verdict.address, live: verdict.live }, 'upgrade over maxConnectionsPerIp; refused with 429');
    return refusal(429, `Too Many Requests: ${verdict.live} connections from ${verdict.address} already`);
  };
}

/**
 * Run the checks in order; the first verdict wins, none accepts
 * anonymously. Never rejects: a check that throws refuses with 500.
 *
 * @param {readonly UpgradeCheck[]} checks From {@link upgradeChecks}
 * @param {IncomingMessage} request The upgrade request
 * @param {Logger} logger Where a throwing check is logged
 * @returns {Promise<UpgradeVerdict>} What to do with the request
 */
export async function decideUpgrade(checks: readonly UpgradeCheck[], request: IncomingMessage, logger: Logger): Promise<UpgradeVerdict> {
  try {
    for (const check of checks) {
      const verdict = await check(request);
      if (verdict !== undefined) return verdict;
    }
    return ANONYMOUS;
  } catch (error) {
    logSafely(logger, 'error', { err: error }, 'upgrade check threw; upgrade refused with 500');
    return refusal(500);
  }
}

const TIMED_OUT = Symbol('identify timed out');

function identifyCheck(identify: Identify, timeoutMs: number, logger: Logger): UpgradeCheck {
  return async (request) => {
    let decision: UpgradeDecision | typeof TIMED_OUT;
    try {
      decision = await withinTime(identify(request), timeoutMs);
    } catch (error) {
      logSafely(logger, 'error', { err: error }, 'identify threw; upgrade refused with 500');
      return refusal(500);
    }
    if (decision === TIMED_OUT) {
      // The path only: a query may carry a credential (`?token=`), and no log holds one (#21).
      logSafely(logger, 'warn', { path: requestUrl(request)?.pathname, identifyTimeoutMs: timeoutMs }, 'identify did not answer in time; upgrade refused with 503');
      return refusal(503, 'identify timed out');
    }
    return sessionIdentity(verdictOf(decision, logger), request, logger);
  };
}

/**
 * A session connection (the request offers `ws-lifecycle.v1`, which is then
 * selected) needs a user id its topic `user:<id>` can name (docs/protocol.md
 * 2.4): a longer one (or one holding an unpaired surrogate) is refused with
 * 500, logged naming its length, as any identity `identify` may not return.
 * A plain connection takes any user id.
 */
function sessionIdentity(verdict: UpgradeVerdict, request: IncomingMessage, logger: Logger): UpgradeVerdict {
  const userId = verdict.accept ? verdict.identity.userId : undefined;
  if (userId === undefined || !offersSessionProtocol(request)) return verdict;
  const error = sessionUserError(userId);
  if (error === undefined) return verdict;
  logSafely(logger, 'error', { err: error, userIdLength: userId.length }, 'identify returned a user id that cannot have a session; upgrade refused with 500');
  return refusal(500, 'Internal Server Error: the user id cannot have a session');
}

function withinTime<T>(value: T | Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  if (typeof (value as Promise<T> | undefined)?.then !== 'function') return Promise.resolve(value);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<typeof TIMED_OUT>((resolve) => (timer = setTimeout(resolve, ms, TIMED_OUT)));
  return Promise.race([value, late]).finally(() => clearTimeout(timer));
}

/**
 * Turn what `identify` returned into a verdict; a value it may not return
 * is refused with 500 and logged, naming it (fail closed).
 */
function verdictOf(decision: unknown, logger: Logger): UpgradeVerdict {
  if (decision === false) return refusal(401);
  if (decision === true || decision === undefined || decision === null) return ANONYMOUS;
  const problem = decisionProblem(decision);
  if (problem !== undefined) {
    logSafely(logger, 'error', { err: new TypeError(`identify returned ${problem}`) }, 'identify returned a value it may not; upgrade refused with 500');
    return refusal(500);
  }
  const value = decision as UpgradeIdentity & Partial<UpgradeRefusal>;
  if ('status' in value) {
    const status = Number.isInteger(value.status) && value.status! >= 400 && value.status! <= 599 ? value.status! : 500;
    return refusal(status, typeof value.reason === 'string' ? value.reason : undefined);
  }
  return { accept: true, identity: { userId: value.userId, metadata: value.metadata } };
}

/** Why `decision` is not an identity or a refusal, or `undefined` when it is one. */
function decisionProblem(decision: unknown): string | undefined {
  if (typeof decision !== 'object' || Array.isArray(decision)) return `${shown(decision)} (expected an identity, true, false or { status })`;
  const { userId, metadata } = decision as { userId?: unknown; metadata?: unknown };
  if (userId !== undefined && typeof userId !== 'string') return `userId ${shown(userId)} (expected a string)`;
  if (metadata !== undefined && (typeof metadata !== 'object' || metadata === null)) return `metadata ${shown(metadata)} (expected an object)`;
  return undefined;
}

/** A value named in a message: its type, and a bounded piece of it. */
function shown(value: unknown): string {
  const kind = Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value;
  const text = typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean' ? ` ${String(value).slice(0, 40)}` : '';
  return `${kind}${text}`;
}

/**
 * Answer an upgrade request with a plain HTTP response and end the socket:
 * the WebSocket handshake never happens. A socket already gone is left.
 *
 * @param {Duplex} socket The upgrade request's socket
 * @param {number} status The HTTP status
 * @param {string} reason The response body
 */
export function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  if (socket.destroyed) return;
  guardUpgradeSocket(socket);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Refused'}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(reason)}\r\n\r\n${reason}`
  );
}

/** Shared by every guarded socket: no closure per upgrade. */
function destroyOnError(this: Duplex): void {
  this.destroy();
}

/**
 * Give an upgrade's socket an 'error' listener until ws owns it (ws adds
 * its own then; see {@link releaseUpgradeSocket}). Idempotent.
 *
 * @param {Duplex} socket The socket of an 'upgrade' event
 */
export function guardUpgradeSocket(socket: Duplex): void {
  if (!socket.listeners('error').includes(destroyOnError)) socket.on('error', destroyOnError);
}

/** @param {Duplex} socket A socket ws now owns */
export function releaseUpgradeSocket(socket: Duplex): void {
  socket.off('error', destroyOnError);
}

/** Identities decided before the handshake, until the framework or ws hands over the socket. */
const identities = new WeakMap<IncomingMessage, UpgradeIdentity>();

/**
 * @param {IncomingMessage} request An upgrade request
 * @param {UpgradeIdentity} identity Who it was decided to be
 */
export function rememberIdentity(request: IncomingMessage, identity: UpgradeIdentity): void {
  identities.set(request, identity);
}

/**
 * @param {IncomingMessage} request An upgrade request
 * @returns {UpgradeIdentity | undefined} Who it was decided to be; `undefined` if no check decided it
 */
export function decidedIdentity(request: IncomingMessage): UpgradeIdentity | undefined {
  return identities.get(request);
}
