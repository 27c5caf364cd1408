import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { TransitionRecord } from '../../src/index.js';
import { verifyAudit } from '../../src/tools/audit/verify.js';
import { runDemo } from '../../examples/run-demo.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NETWORK_RESOURCES = new Set(['TCPSocketWrap', 'TCPServerWrap', 'Timeout']);

/** Open sockets, servers and timers of this process, by kind. */
function networkResources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) {
    if (NETWORK_RESOURCES.has(kind)) counts[kind] = (counts[kind] ?? 0) + 1;
  }
  return counts;
}

describe('demo', () => {
  const files: string[] = [];
  afterEach(async () => {
    await Promise.all(files.splice(0).map((file) => rm(file, { force: true })));
  });

  it('streams agent runs to every tab through drops, freezes and reloads: lost 0, duplicated 0, never sending after close', async () => {
    const seed = Number(process.env.DEMO_SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`demo seed ${seed} (replay with DEMO_SEED=${seed})`);
    const audit = join(tmpdir(), `ws-lifecycle-demo-test-${process.pid}-${seed}.jsonl`);
    files.push(audit);
    const before = networkResources();

    const summary = await runDemo({ seconds: 1.5, users: 3, tabs: 3, seed, audit });

    expect(summary.seed).toBe(seed);
    expect(summary.sendAfterCloseErrors).toBe(0);
    expect(summary.connections.opened).toBeGreaterThanOrEqual(9);
    expect(summary.connections.closed).toBe(summary.connections.opened);
    expect(summary.connections.live).toBe(0);
    expect(summary.transitions.byState.closed).toBe(summary.connections.opened);
    expect(summary.messages.published).toBeGreaterThan(0);
    expect(summary.messages.sent).toBeGreaterThan(0);
    // Every tab came back and has every event its user published since it opened, once.
    expect(summary.perTab).toHaveLength(9);
    for (const tab of summary.perTab) {
      // Counted from the raw frames of every connection of the tab, and checked against docs/protocol.md.
      expect(tab, tab.tab).toMatchObject({ lost: 0, duplicated: 0, caughtUp: true, breaches: [] });
      expect(tab.published).toBeGreaterThan(0);
      expect(tab.received).toBeGreaterThanOrEqual(tab.published - tab.told.reduce((sum, t) => sum + (Number.isNaN(t.skipped) ? 0 : t.skipped), 0));
    }
    expect(summary.messages.receivedByClients).toBe(summary.perTab.reduce((sum, tab) => sum + tab.received, 0));
    // The tabs were disrupted and resumed: the tally is not of an undisturbed run.
    expect(Object.values(summary.disruptions).reduce((sum, n) => sum + (n ?? 0), 0)).toBeGreaterThan(0);
    expect(summary.sessionTransitions['detached->attached']).toBeGreaterThan(0);
    // Nothing left open; the runner's own timers may come and go, so timers may only drop.
    const after = networkResources();
    expect(after.TCPSocketWrap ?? 0).toBe(before.TCPSocketWrap ?? 0);
    expect(after.TCPServerWrap ?? 0).toBe(before.TCPServerWrap ?? 0);
    expect(after.Timeout ?? 0).toBeLessThanOrEqual(before.Timeout ?? 0);

    expect(summary.audit.file).toBe(audit);
    expect(existsSync(audit)).toBe(true);
    const text = await readFile(audit, 'utf8');
    const lines = text.split('\n').filter((line) => line !== '');
    const transitions = lines.filter((line) => (JSON.parse(line) as { msg: string }).msg === 'transition');
    expect(transitions).toHaveLength(summary.transitions.total);
    expect(summary.audit.transitions).toBe(transitions.length);
    expect(lines.length - transitions.length).toBe(summary.audit.other);

    // The real run's audit replays through the machine clean ...
    const report = verifyAudit(text);
    expect(report.errors).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.open).toEqual([]);
    expect(report.connections).toBe(summary.connections.opened);
    expect(report.transitions).toBe(transitions.length);

    // ... and tampering with it is caught at the right line.
    const closedAt = lines.findIndex((line) => (JSON.parse(line) as TransitionRecord).to === 'closed');
    const tampered = [...lines];
    const record = JSON.parse(tampered[closedAt]!) as TransitionRecord;
    tampered[closedAt] = JSON.stringify({ ...record, from: 'closed', to: 'connected' });
    const tamperedReport = verifyAudit(tampered.join('\n'));
    expect(tamperedReport.ok).toBe(false);
    expect(tamperedReport.errors.map((e) => e.line)).toContain(closedAt + 1);
    expect(tamperedReport.errors.every((e) => e.connectionId === record.connectionId)).toBe(true);
  });

  it('serves real clients until SIGTERM, then drains them with 1001 and exits 0', async () => {
    const audit = join(tmpdir(), `ws-lifecycle-demo-serve-${process.pid}.jsonl`);
    files.push(audit);
    const child = spawn(process.execPath, ['--import', 'tsx', 'examples/demo.ts', '--serve', '--users', '2', '--tabs', '1', '--audit', audit], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe']
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
          const match = /serving (ws:\/\/127\.0\.0\.1:\d+\/ws)/.exec(stdout);
          if (match) resolve(match[1]!);
        });
        void exited.then((code) => reject(new Error(`demo exited with ${code} before serving: ${stderr}`)));
      });

      // A real client of user-1 gets the agent runs, then the graceful close.
      const client = new WebSocket(`${url}?user=user-1`);
      const received: Array<{ type: string }> = [];
      const closed = new Promise<number>((resolve) => client.once('close', (code) => resolve(code)));
      client.on('message', (data) => received.push(JSON.parse(data.toString()) as { type: string }));
      await new Promise((resolve) => client.once('open', resolve));
      // It may join mid-run: wait for one whole run, start to end.
      const wholeRun = (): boolean => {
        const start = received.findIndex((m) => m.type === 'agent_started');
        return start !== -1 && received.slice(start).some((m) => m.type === 'agent_completed');
      };
      const deadline = Date.now() + 10_000;
      while (!wholeRun() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(new Set(received.map((m) => m.type))).toEqual(
        new Set(['agent_started', 'agent_thinking', 'tool_executing', 'tool_completed', 'agent_completed'])
      );

      child.kill('SIGTERM');
      expect(await closed).toBe(1001);
      expect(await exited).toBe(0);
      expect(stdout).toContain('SIGTERM: shutting down');
      expect(stdout).toMatch(/send-after-close {2}0 errors/);
      expect(stdout).toMatch(/\d+ opened, \d+ closed, 0 left/);
      expect(stdout).toMatch(/user-1\/tab-1 +published \d+, received \d+, lost 0, duplicated 0/);
      expect(existsSync(audit)).toBe(true);
    } finally {
      clearTimeout(killer);
      child.kill('SIGKILL');
    }
  });
});
