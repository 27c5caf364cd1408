/** The socket probe sees a write on a socket that is no longer open, so the soak's main check can fail. */
import { describe, expect, it } from 'vitest';
import { checkNoSendAfterClose, checkSendsSettled } from '../../scripts/soak/checks.js';
import { SocketProbe } from '../../scripts/soak/probe.js';
import { serverPerTest } from '../support/per-test-server.js';
import { waitFor, type TestServer } from '../support/server.js';

describe('SocketProbe', () => {
  const { start } = serverPerTest();

  async function watched(): Promise<{ probe: SocketProbe; server: TestServer }> {
    const server = await start({ heartbeatIntervalMs: 0 });
    return { probe: watch(server), server };
  }

  function watch(on: TestServer): SocketProbe {
    const probe = new SocketProbe();
    on.manager.on('connection', (connection) => probe.watch(connection));
    return probe;
  }

  it('counts guarded sends as clean and their callbacks as settled once', async () => {
    const { probe, server } = await watched();
    const { connection, client } = await server.connect('u1');
    await expect(connection.send('one')).resolves.toEqual({ ok: true });
    await expect(connection.send({ two: 2 })).resolves.toEqual({ ok: true });
    await waitFor(() => client.received.length === 2);
    const report = probe.report();
    expect(report.writes).toBe(2);
    expect(report.violations).toEqual({ checked: 2, wrong: 0, samples: [] });
    expect(checkNoSendAfterClose(report.violations).ok).toBe(true);
    expect(checkSendsSettled({ 'ws.send callback': report.writeCallbacks }).ok).toBe(true);
  });

  it('flags a raw ws.send after close, both at the call and in the "not open" callback', async () => {
    const { probe, server } = await watched();
    const { connection } = await server.connect('u1');
    void connection.close(1000, 'bye');
    // Bypass the connection's guard on purpose: the write the soak must never see.
    connection.socket.send('late');
    await waitFor(() => probe.pendingWrites === 0);
    const report = probe.report();
    expect(report.violations.wrong).toBe(2);
    expect(report.violations.samples[0]).toMatch(/^ws\.send on readyState 2 /);
    expect(report.violations.samples[1]).toMatch(/^write callback: WebSocket is not open/);
    expect(checkNoSendAfterClose(report.violations).ok).toBe(false);
  });

  it('flags a ws.send on an open socket whose connection is not connected yet', async () => {
    let admit: (ok: boolean) => void = () => {};
    const server = await start({ heartbeatIntervalMs: 0, authenticate: () => new Promise<boolean>((resolve) => (admit = resolve)) });
    const probe = watch(server);
    const { connection } = await server.connect('u1');
    expect(connection.state).toBe('connecting');
    connection.socket.send('too early');
    admit(true);
    await waitFor(() => probe.pendingWrites === 0);
    expect(probe.report().violations.samples).toEqual([expect.stringMatching(/^ws\.send while connection .* is connecting$/)]);
  });
});
