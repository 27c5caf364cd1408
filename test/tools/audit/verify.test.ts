/**
 * `verifyAudit` on a trail a real manager wrote (pino JSON lines, audit and
 * application records mixed), then on the same trail with one fault put in.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAudit, type AuditError } from '../../../src/tools/audit/verify.js';
import { lifecycleChart, readChart } from '../../../src/core/machine-graph.js';
import { jobMachine } from '../../machines/job.machine.js';
import { ENDINGS, recordAuditRun, type AuditRun, type ScenarioUser } from './scenario.js';

let run: AuditRun;
/** The trail's lines, without the final empty one. */
let lines: string[];

beforeAll(async () => {
  run = await recordAuditRun(true);
  lines = (await readFile(run.auditFile, 'utf8')).split('\n').filter((line) => line !== '');
});
afterAll(() => run.cleanup());

/** Index in `lines` of a user's transition record with that seq. */
function indexOf(user: ScenarioUser, seq: number): number {
  const id = run.ids[user];
  const index = lines.findIndex((line) => {
    const record = JSON.parse(line) as Record<string, unknown>;
    return record.msg === 'transition' && record.connectionId === id && record.seq === seq;
  });
  if (index < 0) throw new Error(`no record seq ${seq} of ${user}`);
  return index;
}

function edited(index: number, change: (record: Record<string, unknown>) => void): string {
  const record = JSON.parse(lines[index]!) as Record<string, unknown>;
  change(record);
  return JSON.stringify(record);
}

/** Errors as `line kind connectionId`, compact for comparison. */
function summary(errors: AuditError[]): string[] {
  return errors.map((e) => `${e.line} ${e.kind} ${e.connectionId}`);
}

describe('verifyAudit on a real trail', () => {
  it('finds a clean trail consistent, ignoring the application records mixed in', () => {
    expect(lines.some((line) => !line.includes('"msg":"transition"'))).toBe(true);
    const report = verifyAudit(lines.join('\n') + '\n');
    expect(report).toEqual({
      ok: true,
      connections: Object.keys(ENDINGS).length,
      transitions: run.emitted.length,
      errors: [],
      errorCount: 0,
      errorsByKind: {},
      open: []
    });
  });

  it('reads lines and parsed records alike', () => {
    const fromText = verifyAudit(lines.join('\r\n'));
    expect(verifyAudit(lines)).toEqual(fromText);
    expect(verifyAudit(lines.map((line) => JSON.parse(line) as Record<string, unknown>))).toEqual(fromText);
  });

  it('lists connections the log ends before closing as open, not as errors', () => {
    const cut = indexOf('alice', 3);
    const report = verifyAudit(lines.slice(0, cut));
    expect(report.ok).toBe(true);
    expect(report.open).toEqual([
      { connectionId: run.ids.alice, userId: 'alice', state: 'closing', lastSeq: 2, lastLine: indexOf('alice', 2) + 1 }
    ]);
  });

  it('names the line after a removed record as a seq gap', () => {
    const removed = indexOf('alice', 2);
    const report = verifyAudit(lines.filter((_, i) => i !== removed));
    expect(report.ok).toBe(false);
    // The record that was at removed + 1 (1-based: removed + 2) is now at line removed + 1.
    expect(summary(report.errors)).toEqual([`${indexOf('alice', 3)} seq_gap ${run.ids.alice}`]);
    expect(report.errors[0]!.message).toBe(`seq 3 follows seq 1 (line ${indexOf('alice', 1) + 1}): 1 record missing`);
  });

  it('names a removed first record', () => {
    const removed = indexOf('mallory', 1);
    const report = verifyAudit(lines.filter((_, i) => i !== removed));
    expect(summary(report.errors)).toEqual([`${indexOf('mallory', 2)} seq_gap ${run.ids.mallory}`]);
  });

  it.each([
    ['right after itself', (i: number) => i + 1],
    ['at the end of the log', () => Infinity]
  ])('names a record duplicated %s as a repeat', (_where, position) => {
    const index = indexOf('bob', 1);
    const copy = [...lines];
    const at = Math.min(position(index), copy.length);
    copy.splice(at, 0, lines[index]!);
    const report = verifyAudit(copy);
    expect(summary(report.errors)).toEqual([`${at + 1} seq_repeat ${run.ids.bob}`]);
  });

  it('names an impossible transition appended after closed', () => {
    const last = indexOf('carol', 2);
    const forged = edited(last, (r) => Object.assign(r, { seq: 3, from: 'closed', to: 'connected', event: 'OPENED' }));
    const report = verifyAudit([...lines, forged]);
    expect(summary(report.errors)).toEqual([`${lines.length + 1} disallowed ${run.ids.carol}`]);
    expect(report.errors[0]!.message).toBe('the machine has no transition closed --OPENED--> connected');
  });

  it('names an impossible transition edited into a record', () => {
    const index = indexOf('alice', 3);
    const copy = [...lines];
    copy[index] = edited(index, (r) => Object.assign(r, { from: 'closed', to: 'connected' }));
    const report = verifyAudit(copy);
    expect(report.ok).toBe(false);
    expect(new Set(report.errors.map((e) => e.line))).toEqual(new Set([index + 1]));
    expect(report.errors.map((e) => e.kind)).toEqual(['broken_chain', 'disallowed']);
    // The forged record leaves alice in connected, so the log ends with her open.
    expect(report.open.map((o) => o.connectionId)).toEqual([run.ids.alice]);
  });

  it('names a first record that does not leave connecting', () => {
    const index = indexOf('bob', 1);
    const copy = [...lines];
    copy[index] = edited(index, (r) => Object.assign(r, { from: 'connected', to: 'closing', event: 'CLOSE' }));
    const report = verifyAudit(copy);
    expect(summary(report.errors)).toEqual([`${index + 1} bad_start ${run.ids.bob}`, `${index + 2} broken_chain ${run.ids.bob}`]);
  });

  it('reports garbage and a truncated last line as parse errors with their line numbers', () => {
    const middle = Math.floor(lines.length / 2);
    const last = lines.at(-1)!;
    const copy = [...lines.slice(0, middle), 'garbage that is not json', '', '   ', '[1,2]', ...lines.slice(middle, -1), last.slice(0, 40)];
    const report = verifyAudit(copy);
    expect(report.errors.map((e) => `${e.line} ${e.kind}`)).toEqual([`${middle + 1} parse`, `${middle + 4} parse`, `${copy.length} parse`]);
    expect(report.errors[0]!.message).toMatch(/^not valid JSON \(.+\): "garbage that is not json"$/);
    expect(report.errors[1]!.message).toBe('not a JSON object: "[1,2]"');
    expect(report.errors[2]!.message).toContain(JSON.stringify(last.slice(0, 40)));
    // The truncated line was frank's only record, so frank is unknown, not open.
    expect(report.connections).toBe(Object.keys(ENDINGS).length - 1);
  });

  it('reports a transition record with a missing or wrong field as invalid', () => {
    const index = indexOf('dave', 2);
    const copy = [...lines];
    copy[index] = edited(index, (r) => {
      r.to = 'gone';
    });
    const report = verifyAudit(copy);
    expect(summary(report.errors)).toEqual([`${index + 1} invalid_record ${run.ids.dave}`]);
    expect(report.errors[0]!.message).toBe('transition record: to "gone" is not a state');
    expect(report.open.map((o) => o.connectionId)).toEqual([run.ids.dave]);
  });
});

describe('verifyAudit on another machine: guards, a parent with shared transitions, nested states', () => {
  const lifecycle = lifecycleChart(readChart(jobMachine));
  const record = (seq: number, from: string, event: string, to: string) => ({ msg: 'transition', connectionId: 'job-1', seq, from, event, to });

  it('accepts a trail the job machine can produce: a retry, then a cancel the parent shares', () => {
    const report = verifyAudit(
      [record(1, 'queued', 'START', 'running'), record(2, 'running', 'FAIL', 'retrying'), record(3, 'retrying', 'START', 'running'), record(4, 'running', 'CANCEL', 'cancelled')],
      { lifecycle }
    );
    expect(report).toMatchObject({ ok: true, connections: 1, transitions: 4, open: [] });
  });

  it('names a transition the machine has not got, and a state it has not got', () => {
    const report = verifyAudit([record(1, 'queued', 'CANCEL', 'cancelled'), record(2, 'cancelled', 'START', 'downloading')], { lifecycle });
    expect(report.errors.map((e) => `${e.line} ${e.kind} ${e.message}`)).toEqual([
      '1 disallowed the machine has no transition queued --CANCEL--> cancelled',
      '2 invalid_record transition record: to "downloading" is not a state'
    ]);
  });

  it('lists a job that has not reached a final state as open', () => {
    expect(verifyAudit([record(1, 'queued', 'START', 'running')], { lifecycle }).open).toEqual([
      { connectionId: 'job-1', userId: undefined, state: 'running', lastSeq: 1, lastLine: 1 }
    ]);
  });
});
