/**
 * The public surface is what docs/api.md says (#9): change an export, a
 * signature or a member, and this fails until `npm run api` regenerates
 * the report, so every change to the API shows in review.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { REPORT_FILE, apiReport } from '../../scripts/api-report.js';

describe('docs/api.md', () => {
  it('matches the declarations the build emits', async () => {
    const onDisk = await readFile(REPORT_FILE, 'utf8').catch(() => '(docs/api.md is missing)');
    expect(onDisk, 'the public API changed: run `npm run api` and commit docs/api.md').toBe(apiReport());
  });

  it('shows no internals: no host callbacks, no underscore members, no private fields by name', () => {
    const report = apiReport();
    expect(report).not.toMatch(/^\s+_\w+\(/m);
    expect(report).not.toMatch(/\bon(Transition|Closed|Refused|Open|Message|SerializationFailed|TransportError|EventIgnored)\(/);
    expect(report).not.toContain('ConnectionHost');
    expect(report).toContain('#private;');
  });
});
