/** Command-line options of `npm run bench`, and the sizes of a default and a quick run. */
import { parseArgs } from 'node:util';

export interface BenchOptions {
  quick: boolean;
  /** Rounds per scenario; every subject and baseline runs once per round. */
  rounds: number;
  /** Where the results JSON goes. */
  out: string;
  /** Scenario ids to run (all when empty). */
  only: string[];
  /** Message sizes of the send scenario, in bytes of JSON. */
  sendBytes: number[];
  /** Messages per send run for 100-byte messages; larger ones scale down with size (16 KiB: a quarter). */
  sendMessages: number;
  /** Messages per paced send run (one 100-byte message per event-loop turn). */
  pacedMessages: number;
  /** Connection counts of the broadcast scenario. */
  broadcastConnections: number[];
  /** Messages delivered per broadcast throughput run (broadcasts = this / connections). */
  broadcastMessages: number;
  /** Bounds on broadcasts timed one at a time per round, for latency percentiles. */
  latencySamples: { min: number; max: number };
  churnMs: number;
  churnConcurrency: number;
  memoryConnections: number;
  auditConnections: number;
  /** Sessions scenario: tabs of one user, messages per throughput run, clients that resume, sessions left detached. */
  sessions: { tabs: number; messages: number; resumeClients: number; detached: number };
  /** Storm scenario: client counts. */
  stormClients: number[];
  /** Cluster scenario: tabs of one user over three nodes, messages per throughput run, latency samples, messages published across the kill. */
  cluster: { tabs: number; messages: number; latencySamples: number; killMessages: number };
  /** Write a CPU profile of every server process into this folder. */
  profileDir: string | undefined;
  /** Pin server and client processes to separate CPUs (`taskset`). */
  pin: boolean;
  /** Keep the rows of the results file that this run does not replace. */
  merge: boolean;
}

export const USAGE = `Usage: npm run bench -- [options]
  --quick             small sizes and 3 rounds (under a minute)
  --rounds N          rounds per scenario (default 5, quick 3)
  --connections N     use N connections in the broadcast, memory and audit scenarios
  --messages N        messages per send run for 100-byte messages
  --churn-ms MS       duration of one churn run
  --only a,b          run only these scenarios (send, broadcast, churn, memory, audit, sessions, cluster, storm)
  --out PATH          results file (default bench/results.json)
  --profile DIR       write a CPU profile (node --cpu-prof) of every server process to DIR
  --no-pin            do not pin server processes to CPU 0 and client processes to the others
  --merge             keep the rows of the results file that this run does not measure again`;

export const SCENARIO_IDS = ['send', 'broadcast', 'churn', 'memory', 'audit', 'sessions', 'cluster', 'storm'] as const;

function positiveInt(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`Invalid --${name}: ${JSON.stringify(text)} (expected a positive integer)`);
  return value;
}

/**
 * @param {string[]} argv Arguments after the script name
 * @returns {BenchOptions} The options, defaults filled in
 * @throws {RangeError} On an unknown flag or a bad value
 */
export function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      connections: { type: 'string' },
      messages: { type: 'string' },
      'churn-ms': { type: 'string' },
      only: { type: 'string' },
      out: { type: 'string', default: 'bench/results.json' },
      profile: { type: 'string' },
      'no-pin': { type: 'boolean', default: false },
      merge: { type: 'boolean', default: false }
    }
  });
  const quick = values.quick ?? false;
  const only = values.only ? values.only.split(',').map((s) => s.trim()) : [];
  for (const id of only) {
    if (!(SCENARIO_IDS as readonly string[]).includes(id)) {
      throw new RangeError(`Invalid --only: unknown scenario ${JSON.stringify(id)} (known: ${SCENARIO_IDS.join(', ')})`);
    }
  }
  const connections = positiveInt('connections', values.connections);
  return {
    quick,
    rounds: positiveInt('rounds', values.rounds) ?? (quick ? 3 : 5),
    out: values.out,
    only,
    sendBytes: [100, 16 * 1024],
    sendMessages: positiveInt('messages', values.messages) ?? (quick ? 20_000 : 100_000),
    pacedMessages: quick ? 2_000 : 20_000,
    broadcastConnections: connections ? [connections] : quick ? [1_000] : [1_000, 10_000],
    broadcastMessages: quick ? 10_000 : 150_000,
    latencySamples: quick ? { min: 5, max: 10 } : { min: 10, max: 200 },
    churnMs: positiveInt('churn-ms', values['churn-ms']) ?? (quick ? 600 : 2_000),
    // Enough connections in flight to keep both processes busy.
    churnConcurrency: quick ? 64 : 128,
    memoryConnections: connections ?? (quick ? 500 : 10_000),
    auditConnections: connections ?? (quick ? 300 : 1_000),
    sessions: {
      tabs: quick ? 10 : 50,
      messages: quick ? 5_000 : 20_000,
      resumeClients: quick ? 5 : 20,
      detached: connections ?? (quick ? 300 : 2_000)
    },
    stormClients: connections ? [connections] : quick ? [1_000] : [1_000, 10_000],
    cluster: { tabs: quick ? 9 : 30, messages: quick ? 2_000 : 10_000, latencySamples: quick ? 20 : 100, killMessages: quick ? 300 : 1_000 },
    profileDir: values.profile,
    pin: !values['no-pin'],
    merge: values.merge ?? false
  };
}
