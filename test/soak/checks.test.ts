/**
 * The soak's checks must be able to fail: each is run on a good state and
 * on fabricated bad ones (a registry not empty, a send settled twice, ...).
 */
import { describe, expect, it } from 'vitest';
import {
  CHECK_NAMES,
  ViolationLog,
  checkClientExit,
  checkFanOutReports,
  checkHeap,
  checkNoHandlesLeft,
  checkNoSendAfterClose,
  checkRefusals,
  checkRegistryEmpty,
  checkSendsSettled,
  checkWorkload,
  formatChecks,
  type RegistryState
} from '../../scripts/soak/checks.js';
import { SettleLedger } from '../../scripts/soak/ledger.js';
import { parseSoakArgs } from '../../scripts/soak/options.js';

const EMPTY: RegistryState = {
  size: 0,
  counts: { connecting: 0, connected: 0, closing: 0, closed: 5 },
  accepted: 5,
  closeEvents: 5,
  closedTwice: 0,
  tracked: 0,
  serverClients: 0
};

describe('soak checks', () => {
  it('registry empty: passes when everything accepted closed once, fails on any leftover', () => {
    expect(checkRegistryEmpty(EMPTY).ok).toBe(true);
    const bad: Partial<RegistryState>[] = [
      { size: 1 },
      { counts: { connecting: 0, connected: 1, closing: 0, closed: 5 } },
      { counts: { connecting: 0, connected: 0, closing: 1, closed: 5 } },
      { counts: { connecting: 0, connected: 0, closing: 0, closed: 4 } },
      { closeEvents: 6 },
      { closedTwice: 1 },
      { tracked: 2 },
      { serverClients: 1 }
    ];
    for (const change of bad) {
      const check = checkRegistryEmpty({ ...EMPTY, ...change });
      expect(check.ok, JSON.stringify(change)).toBe(false);
    }
    expect(checkRegistryEmpty({ ...EMPTY, size: 3 }).detail).toContain('manager.size 3');
  });

  it('sends settled once: fails on a send settled twice, one never settled, or nothing tracked', async () => {
    const good = new SettleLedger();
    await good.track(Promise.resolve('ok'));
    await good.track(Promise.reject(new Error('no')).catch(() => 'caught'));
    expect(checkSendsSettled({ send: good.summary() }).ok).toBe(true);

    const twice = new SettleLedger();
    const token = twice.open();
    twice.settle(token);
    twice.settle(token);
    const settledTwice = checkSendsSettled({ send: good.summary(), broadcast: twice.summary() });
    expect(settledTwice.ok).toBe(false);
    expect(settledTwice.detail).toContain('broadcast: created 1, settled 1, pending 0, settled again 1');

    const pending = new SettleLedger();
    pending.open();
    expect(checkSendsSettled({ send: pending.summary() }).ok).toBe(false);
    expect(checkSendsSettled({ send: new SettleLedger().summary() }).ok).toBe(false);
  });

  it('a ledger counts a settlement of an unknown token as extra', () => {
    const ledger = new SettleLedger();
    ledger.settle(42);
    expect(ledger.summary()).toEqual({ created: 0, settled: 0, pending: 0, extraSettles: 1 });
  });

  it('violation checks fail on one wrong case and keep its description', () => {
    const log = new ViolationLog();
    log.record(true, () => 'fine');
    expect(checkNoSendAfterClose(log).ok).toBe(true);
    expect(checkFanOutReports(log).ok).toBe(true);
    expect(checkRefusals(log).ok).toBe(true);
    log.record(false, () => 'ws.send on readyState 3');
    for (const check of [checkNoSendAfterClose(log), checkFanOutReports(log), checkRefusals(log)]) {
      expect(check.ok).toBe(false);
      expect(check.detail).toContain('ws.send on readyState 3');
    }
    // A refusal check that checked nothing proves nothing.
    expect(checkRefusals(new ViolationLog()).ok).toBe(false);
  });

  it('heap returned: allows up to +10% after GC, fails above', () => {
    expect(checkHeap(10_000_000, 10_900_000).ok).toBe(true);
    expect(checkHeap(10_000_000, 9_000_000).ok).toBe(true);
    expect(checkHeap(10_000_000, 11_100_000).ok).toBe(false);
    expect(checkHeap(0, 1).ok).toBe(false);
  });

  it('client exited: fails when it was killed or exited non-zero', () => {
    expect(checkClientExit({ code: 0, signal: null, exitedBySelf: true }).ok).toBe(true);
    expect(checkClientExit({ code: 1, signal: null, exitedBySelf: true }).ok).toBe(false);
    expect(checkClientExit({ code: null, signal: 'SIGKILL', exitedBySelf: false }).ok).toBe(false);
  });

  it('no handles left: only the allowed stdio handles may remain, each as often as allowed', () => {
    expect(checkNoHandlesLeft([], ['PipeWrap']).ok).toBe(true);
    expect(checkNoHandlesLeft(['PipeWrap'], ['PipeWrap', 'PipeWrap']).ok).toBe(true);
    const timer = checkNoHandlesLeft(['PipeWrap', 'Timeout'], ['PipeWrap']);
    expect(timer.ok).toBe(false);
    expect(timer.detail).toContain('unexpected: [Timeout]');
    expect(checkNoHandlesLeft(['PipeWrap', 'PipeWrap'], ['PipeWrap']).ok).toBe(false);
    expect(checkNoHandlesLeft(['TCPServerWrap'], []).ok).toBe(false);
  });

  it('workload exercised: fails if any kind of operation never happened', () => {
    expect(checkWorkload({ sends: 3, closes: 1 }).ok).toBe(true);
    const idle = checkWorkload({ sends: 3, closes: 0 });
    expect(idle.ok).toBe(false);
    expect(idle.detail).toContain('closes');
    expect(checkWorkload({}).ok).toBe(false);
  });

  it('formats one line per check and a verdict that counts failures', () => {
    const lines = formatChecks([checkRegistryEmpty(EMPTY), checkRegistryEmpty({ ...EMPTY, size: 1 })]);
    expect(lines[0]).toMatch(/^PASS registry empty: /);
    expect(lines[1]).toMatch(/^FAIL registry empty: /);
    expect(lines[2]).toBe('1 of 2 checks failed');
    expect(formatChecks([checkRegistryEmpty(EMPTY)]).at(-1)).toBe('all 1 checks passed');
    expect(new Set(CHECK_NAMES).size).toBe(CHECK_NAMES.length);
  });
});

describe('soak options', () => {
  it('defaults the warm-up to a quarter of the run, between 2 and 10 s', () => {
    expect(parseSoakArgs(['--seconds', '20']).warmupSeconds).toBe(5);
    expect(parseSoakArgs(['--seconds', '4']).warmupSeconds).toBe(2);
    expect(parseSoakArgs(['--seconds', '600']).warmupSeconds).toBe(10);
    expect(parseSoakArgs(['--seconds', '20', '--warmup', '1']).warmupSeconds).toBe(1);
  });

  it('names the offending value', () => {
    expect(() => parseSoakArgs(['--seconds', '0'])).toThrow('Invalid --seconds: 0');
    expect(() => parseSoakArgs(['--max-live', '1.5'])).toThrow('Invalid --max-live: 1.5');
    expect(() => parseSoakArgs(['--max-live', '9000'])).toThrow(RangeError);
    expect(() => parseSoakArgs(['--minutes', '3'])).toThrow(/minutes/);
  });
});
