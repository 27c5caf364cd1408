/**
 * The send rules of docs/protocol.md section 3.3 over a whole run: sends are
 * scoped to (session, client id), or to their connection when the hello
 * named no client; within a scope the application is handed each id once,
 * none skipped after the first handed over (the first id a session gets of
 * a client id it does not know is where that client's numbering stands:
 * 3.3, 3.5), and every id the server acknowledged, except one below that
 * first id that the client sent only after it (a resend of what a lost
 * session may have delivered).
 */
import type { ConnectionRecord, Delivery, Violation } from './records.js';
import { jsonText, show, type SentFrames } from './sent.js';

/** What one connection's frames say, once read. */
export interface ConnectionSummary {
  /** The session of its welcome (or of its hello, without one). */
  session: string | undefined;
  /** The send ids acknowledged on it, in order. */
  acked: number[];
  sent: SentFrames;
}

interface Scope {
  name: string;
  /** Ids handed to the application, in order. */
  delivered: number[];
  handed: Set<number>;
  /** Every send id the client wrote in this scope, connection by connection in the order they were made. */
  sent: number[];
}

/**
 * @param {readonly ConnectionRecord[]} connections The run's connections
 * @param {ReadonlyMap<string, ConnectionSummary>} summaries What each connection's frames said, by record id
 * @param {readonly Delivery[]} deliveries What the application was handed, in order
 * @returns {Violation[]} Every breach of the send rules
 */
export function checkDeliveries(
  connections: readonly ConnectionRecord[],
  summaries: ReadonlyMap<string, ConnectionSummary>,
  deliveries: readonly Delivery[]
): Violation[] {
  const violations: Violation[] = [];
  const scopes = new Map<string, Scope>();
  const scopeOf = (id: string): Scope => {
    const summary = summaries.get(id)!;
    const client = summary.sent.hello?.client;
    const session = summary.session ?? `none (connection ${id})`;
    const key = JSON.stringify([session, client ?? `connection:${id}`]);
    let scope = scopes.get(key);
    if (scope === undefined) {
      const name = `${client === undefined ? `connection ${id} (no client id)` : `client ${show(client)}`} of session ${show(session)}`;
      scopes.set(key, (scope = { name, delivered: [], handed: new Set(), sent: [] }));
    }
    return scope;
  };
  for (const record of connections) scopeOf(record.id).sent.push(...summaries.get(record.id)!.sent.sendIds);
  const known = new Set(connections.map((record) => record.id));
  for (const delivery of deliveries) {
    const summary = summaries.get(delivery.connection);
    if (!known.has(delivery.connection) || summary === undefined) {
      violations.push({ connection: delivery.connection, frame: -1, rule: 'delivery', message: 'the application was handed a message from a connection the run does not know' });
      continue;
    }
    const text = jsonText(delivery.data ?? null);
    const scope = scopeOf(delivery.connection);
    const ids = summary.sent.sendIds.filter((_, k) => summary.sent.sendData[k] === text);
    if (ids.length === 0) {
      violations.push({ connection: delivery.connection, frame: -1, rule: 'delivery', message: `the application was handed ${show(delivery.data)}, which this connection never sent (3.3)` });
      continue;
    }
    const id = ids.find((candidate) => !scope.handed.has(candidate)) ?? ids[0]!;
    // Before the first: where the client's numbering stood when it first wrote in this scope (3.3).
    const last = scope.delivered.at(-1) ?? Math.min(id, scope.sent[0] ?? id) - 1;
    let message: string | undefined;
    if (scope.handed.has(id)) message = `send id ${id} of ${scope.name} was handed to the application twice (3.3)`;
    else if (id > last + 1) message = `send id ${id} of ${scope.name} was handed over after id ${last}: ${last + 1 === id - 1 ? `id ${last + 1} was` : `ids ${last + 1} to ${id - 1} were`} skipped (3.3)`;
    else if (id < last) message = `send id ${id} of ${scope.name} was handed over after id ${last}: out of order (3.3)`;
    if (message !== undefined) violations.push({ connection: delivery.connection, frame: -1, rule: 'delivery', message });
    scope.delivered.push(id);
    scope.handed.add(id);
  }
  for (const record of connections) {
    const summary = summaries.get(record.id)!;
    const scope = scopeOf(record.id);
    const first = scope.delivered[0];
    for (const id of summary.acked) {
      if (!summary.sent.sendIds.includes(id) || scope.handed.has(id)) continue;
      if (first !== undefined && id < first && scope.sent.indexOf(id) > scope.sent.indexOf(first)) continue;
      violations.push({ connection: record.id, frame: -1, rule: 'delivery', message: `send id ${id} of ${scope.name} was acknowledged but never handed to the application (3.3)` });
    }
  }
  return violations;
}
