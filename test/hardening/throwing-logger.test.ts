/**
 * A logger or an audit target that throws (a synchronous pino destination
 * on a full disk) never strands a connection (#25): every transition is
 * still made, `closed` settles, the registry empties, `close` is emitted,
 * `shutdown` ends by its deadline, the failure is counted and reported once
 * as a process warning, and nothing reaches the process as a fault.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { Connection } from '../../src/index.js';
import { startServer, waitFor, type TestServer } from '../support/server.js';
import { isWelcome, openSessionClient } from '../support/session-client.js';
import { sendInvalidFrame, stall } from './support/peers.js';
import { recordProcessFaults, type ProcessFaultRecorder } from './support/process-faults.js';

/** A destination that throws as a synchronous one does on ENOSPC. */
function fullDisk(): { write(line: string): void } {
  return {
    write() {
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    }
  };
}

function recordWarnings(): { codes: string[]; dispose(): void } {
  const codes: string[] = [];
  const listener = (warning: Error & { code?: string }): void => void codes.push(warning.code ?? warning.name);
  process.on('warning', listener);
  return { codes, dispose: () => process.off('warning', listener) };
}

describe('a throwing logger or audit target', () => {
  let server: TestServer | undefined;
  let recorder: ProcessFaultRecorder;
  let warnings: ReturnType<typeof recordWarnings>;
  beforeAll(() => {
    recorder = recordProcessFaults();
  });
  afterAll(() => recorder.dispose());
  afterEach(async () => {
    warnings.dispose();
    await server?.stop();
    server = undefined;
    expect(recorder.faults).toEqual([]);
  });

  it('the audit target throws on every record: connections still open, close, leave the registry and emit close', async () => {
    warnings = recordWarnings();
    server = await startServer({ heartbeatIntervalMs: 0, audit: fullDisk() });
    const closedEvents: Connection[] = [];
    server.manager.on('close', (connection) => closedEvents.push(connection));
    const peers = [await server.connect('a'), await server.connect('b')];
    for (const { connection } of peers) expect(connection.state).toBe('connected');
    expect(server.manager.counts).toMatchObject({ connected: 2 });

    const [a, b] = peers;
    await expect(a!.connection.close(1000, 'bye')).resolves.toEqual({ code: 1000, reason: 'bye', initiator: 'server' });
    b!.client.ws.close(4000, 'client leaves');
    await expect(b!.connection.closed).resolves.toMatchObject({ code: 4000, initiator: 'peer' });
    expect(closedEvents).toEqual([a!.connection, b!.connection]);
    expect(server.manager.size).toBe(0);
    expect(server.manager.counts).toEqual({ connecting: 0, connected: 0, closing: 0, closed: 2 });
    // Every transition record was attempted and dropped: counted, and reported once.
    expect(server.manager.logFailures).toBe(6);
    expect(server.manager.history(a!.connection.id)!.map((r) => r.to)).toEqual(['connected', 'closing', 'closed']);
    await waitFor(() => warnings.codes.length > 0, 2_000, 'the warning');
    expect(warnings.codes).toEqual(['WS_LIFECYCLE_LOG_FAILED']);
  });

  it('shutdown ends by its deadline with a stalled peer while every audit write throws', async () => {
    warnings = recordWarnings();
    server = await startServer({ heartbeatIntervalMs: 0, closeTimeoutMs: 30_000, audit: fullDisk() });
    const polite = await server.connect('p');
    const stalled = await server.connect('s');
    stall(stalled.client);
    const started = Date.now();
    await expect(server.manager.shutdown({ timeoutMs: 300 })).resolves.toEqual({ closed: 1, terminated: 1 });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(polite.connection.state).toBe('closed');
    expect(stalled.connection.state).toBe('closed');
    expect(server.manager.size).toBe(0);
  });

  it('the application logger throws: a transport error (logged from the socket error event) closes the connection, not the process', async () => {
    warnings = recordWarnings();
    const logger = pino({ level: 'debug' }, fullDisk());
    server = await startServer({ heartbeatIntervalMs: 0, logger, audit: pino({ level: 'silent' }) });
    const victim = await server.connect('victim');
    const other = await server.connect('other');
    sendInvalidFrame(victim.client);
    await expect(victim.connection.closed).resolves.toMatchObject({ code: 1002, initiator: 'error' });
    await expect(server.manager.send('no-such-id', 'x')).resolves.toEqual({ ok: false, reason: 'not_found' });
    await expect(other.connection.send('still here')).resolves.toEqual({ ok: true });
    expect(server.manager.logFailures).toBeGreaterThanOrEqual(2);
    expect([...server.manager.connections()]).toEqual([other.connection]);
  });

  it('sessions go on when every audit and log write throws: attached, detached, resumed and expired, a bad frame refused', async () => {
    warnings = recordWarnings();
    server = await startServer({ heartbeatIntervalMs: 0, logger: pino({ level: 'debug' }, fullDisk()), audit: fullDisk(), sessions: { ttlMs: 100 } });
    const transitions: string[] = [];
    server.manager.on('sessionTransition', (record) => transitions.push(`${record.from}->${record.to}`));
    const tab = await openSessionClient(server.port, 'alice');
    tab.hello(undefined, undefined, 'tab');
    const { session } = await tab.next(isWelcome, 'welcome');
    tab.ws.terminate();
    await tab.closed;
    const back = await openSessionClient(server.port, 'alice');
    back.hello(session, undefined, 'tab');
    expect(await back.next(isWelcome, 'welcome')).toMatchObject({ resumed: true });
    back.ws.send('not a frame');
    expect((await back.closed).code).toBe(4400);
    await waitFor(() => server!.manager.sessions === 0, 2_000, 'the session to expire');
    expect(transitions).toEqual(['attached->detached', 'detached->attached', 'attached->detached', 'detached->expired']);
    expect(server.manager.logFailures).toBeGreaterThan(4);
  });
});
