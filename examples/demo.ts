/**
 * `npm start`: run the demo for a few seconds and print what happened.
 *
 *   --seconds N   length of the run (default 4)
 *   --users N     simulated users (default 4)
 *   --tabs N      tabs per user (default 3)
 *   --seed N      replay the pseudo-random choices of an earlier run
 *   --audit FILE  write the audit trail there (default: under the temp dir)
 *   --serve       keep serving (agent runs loop) until SIGINT or SIGTERM
 *   --port N      port on 127.0.0.1 (default 0: any free port)
 *   --inspect     serve the inspector page at /inspect (implies --serve)
 */
import { parseArgs } from 'node:util';
import { runDemo, type DemoOptions, type DemoSummary } from './run-demo.js';

function count(name: string, value: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max || (name !== 'seconds' && !Number.isInteger(n))) {
    throw new RangeError(`Invalid --${name}: ${JSON.stringify(value)} (expected a number from ${min} to ${max})`);
  }
  return n;
}

function list(counts: Record<string, number | undefined>): string {
  const entries = Object.entries(counts).filter(([, n]) => n);
  return entries.length === 0 ? 'none' : entries.map(([key, n]) => `${key} ${n}`).join(', ');
}

/**
 * The summary as the lines the command prints.
 *
 * @param {DemoSummary} s What a run did
 * @returns {string} Printable text
 */
export function formatSummary(s: DemoSummary): string {
  const refused = Object.values(s.messages.refused).reduce((sum, n) => sum + (n ?? 0), 0);
  const width = Math.max(...s.perTab.map((t) => t.tab.length));
  const tabLines = s.perTab.map((t) => {
    const told = t.told.length === 0 ? '' : `, told recovered:false ${t.told.map((x) => `${x.reason}${Number.isNaN(x.skipped) ? '' : ` (${x.skipped} skipped)`}`).join(', ')}`;
    const behind = t.caughtUp ? '' : ', NOT caught up';
    const breaches = t.breaches.length === 0 ? '' : `\n      protocol breaches:\n        ${t.breaches.join('\n        ')}`;
    return `    ${t.tab.padEnd(width)}  published ${t.published}, received ${t.received}, lost ${t.lost}, duplicated ${t.duplicated}, resumed ${t.resumed}x${told}${behind}${breaches}`;
  });
  return [
    `ws-lifecycle demo: ${s.users} users x ${s.tabs} tabs on ${s.url} (seed ${s.seed})`,
    `  connections       ${s.connections.opened} opened, ${s.connections.closed} closed, ${s.connections.live} left`,
    `  closed by         ${list(s.closedBy)}`,
    `  transitions       ${s.transitions.total}: into ${list(s.transitions.byState)}`,
    `    by event        ${list(s.transitions.byEvent)}`,
    `  sessions          ${list(s.sessionTransitions)}`,
    `  disruptions       ${list(s.disruptions)}`,
    `  messages          ${s.messages.runs} agent runs, ${s.messages.published} events published, ${s.messages.sent} live writes, ${refused} refused (${list(s.messages.refused)}) and replayed on resume`,
    `    received        ${s.messages.receivedByClients} by tabs, ${s.messages.receivedByServer} tab answers delivered once to the server`,
    '  per tab, from the raw frames of its connections before any client dedupe (every event its user published since the tab opened)',
    ...tabLines,
    `  send-after-close  ${s.sendAfterCloseErrors} errors`,
    `  shutdown          ${s.shutdown.closed} closed, ${s.shutdown.terminated} terminated`,
    `  audit trail       ${s.audit.file} (${s.audit.transitions} transition records, ${s.audit.other} other records)`,
    `  took              ${(s.durationMs / 1000).toFixed(1)} s`
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string' },
      users: { type: 'string' },
      tabs: { type: 'string' },
      seed: { type: 'string' },
      audit: { type: 'string' },
      port: { type: 'string' },
      serve: { type: 'boolean', default: false },
      inspect: { type: 'boolean', default: false }
    }
  });
  const serve = values.serve || values.inspect;
  const options: DemoOptions = {
    seconds: count('seconds', values.seconds, 0.1, 3600),
    users: count('users', values.users, 1, 1000),
    tabs: count('tabs', values.tabs, 1, 100),
    seed: count('seed', values.seed, 0, 2 ** 32 - 1),
    port: count('port', values.port, 0, 65535),
    audit: values.audit,
    inspect: values.inspect
  };
  if (serve) {
    const controller = new AbortController();
    const onSignal = (signal: NodeJS.Signals): void => {
      console.log(`\n${signal}: shutting down`);
      controller.abort();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    options.until = controller.signal;
    options.onListening = ({ ws, inspect }) => {
      console.log(`serving ${ws}?user=user-1 (users user-1..user-${options.users ?? 4})`);
      if (inspect) console.log(`inspector ${inspect}`);
      console.log('Ctrl-C to stop');
    };
  }
  const summary = await runDemo(options);
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');
  console.log(formatSummary(summary));
  const broken = summary.perTab.some((t) => t.lost !== 0 || t.duplicated !== 0 || !t.caughtUp || t.breaches.length > 0);
  if (summary.sendAfterCloseErrors > 0 || summary.connections.live > 0 || broken) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
