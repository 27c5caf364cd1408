/**
 * What a tab of a sessions property saw and did, and the property itself
 * (#11, #12, #20): per topic, offsets contiguous from where the tab started
 * except exactly where it was told `recovered: false`, and no other user's
 * topic; the raw protocol clients beside the tabs (reloaded, duplicated);
 * what a run broke, in words. Shared by the single-node and the cluster
 * properties.
 */
import fc from 'fast-check';
import type { SessionClient } from '../../src/client/session-client.js';
import { userTopic } from '../../src/sessions/session-hub.js';
import { describeViolations, type Rule, type Violation } from '../../src/tools/conformance/checker.js';
import type { RawClientOptions, RawSessionClient } from '../../src/tools/conformance/raw-client.js';

export interface TabLedger {
  user: string;
  /** Per topic: offsets received, in order. */
  received: Map<string, number[]>;
  /** Per topic: where a `recovered: false` restarted the stream (the index of the next offset, and the offset it continues after). */
  restarts: Map<string, Array<{ index: number; offset: number }>>;
  /** Other users' topics this tab received (must stay empty). */
  foreign: string[];
}

/** Record what `client`, a tab of `user`, receives; `onTold` hears every `recovered: false` reason. */
export function recordTab(user: string, client: SessionClient, onTold?: (reason: string) => void): TabLedger {
  const ledger: TabLedger = { user, received: new Map(), restarts: new Map(), foreign: [] };
  client.on('message', ({ topic, offset }) => {
    if (topic.startsWith('user:') && topic !== userTopic(user)) ledger.foreign.push(topic);
    const list = ledger.received.get(topic) ?? [];
    ledger.received.set(topic, list);
    list.push(offset);
  });
  client.on('recovery', ({ topic, recovered, offset, reason }) => {
    if (recovered) return;
    onTold?.(reason ?? 'unknown');
    const list = ledger.restarts.get(topic) ?? [];
    ledger.restarts.set(topic, list);
    list.push({ index: ledger.received.get(topic)?.length ?? 0, offset });
  });
  return ledger;
}

/** The first broken promise of a tab, or undefined. */
export function tabViolation(tab: TabLedger, index: number): string | undefined {
  if (tab.foreign.length > 0) return `tab ${index} (${tab.user}) received ${tab.foreign[0]}`;
  for (const [topic, offsets] of tab.received) {
    const restarts = tab.restarts.get(topic) ?? [];
    let expected: number | undefined;
    for (let i = 0; i < offsets.length; i++) {
      const restart = restarts.filter((r) => r.index === i).at(-1);
      if (restart !== undefined) expected = restart.offset + 1;
      if (expected !== undefined && offsets[i] !== expected) {
        return `tab ${index} (${tab.user}) topic ${topic}: offset ${offsets[i]} where ${expected} was due (received ${offsets.join(',')})`;
      }
      expected = offsets[i]! + 1;
    }
  }
  return undefined;
}

/**
 * Run a property over real sockets: `runOnce` returns what broke, or
 * undefined. The message is the first failing run's own words, with the
 * seed and path that replay it (`FC_SEED`, `FC_PATH`): a rerun of a
 * timing-dependent counterexample may pass.
 */
export async function checkRuns<Step>(
  steps: fc.Arbitrary<Step[]>,
  runOnce: (steps: Step[]) => Promise<string | undefined>,
  numRuns: number,
  seed: number
): Promise<{ failed: boolean; message?: string }> {
  let message: string | undefined;
  const result = await fc.check(
    fc.asyncProperty(steps, async (run) => {
      const broken = await runOnce(run).catch((error: unknown) => `threw: ${String(error)}`);
      message ??= broken === undefined ? undefined : `${broken} (steps ${JSON.stringify(run)})`;
      return broken === undefined;
    }),
    { seed, numRuns, endOnFailure: true, path: process.env.FC_PATH }
  );
  const replay = result.counterexamplePath === null ? '' : ` (replay: FC_SEED=${seed} FC_PATH=${result.counterexamplePath})`;
  return { failed: result.failed, message: message === undefined ? undefined : `${message}${replay}` };
}

/** What one run of a property found: the conformance checker's breaches, and anything else that broke (a tab never back, a session never expired). */
export interface RunOutcome {
  violations: Violation[];
  other?: string;
}

/**
 * @param {RunOutcome} outcome What a run found
 * @param {readonly Rule[]} [rules] The rules the run is judged by: every rule and anything else when absent (a naive variant is judged by the rules it is about)
 * @returns {string | undefined} What broke, in words, or undefined
 */
export function brokenBy(outcome: RunOutcome, rules?: readonly Rule[]): string | undefined {
  const kept = rules === undefined ? outcome.violations : outcome.violations.filter((v) => rules.includes(v.rule));
  if (kept.length > 0) return `${kept.length} breaches of docs/protocol.md:\n${describeViolations(kept, 12)}`;
  return rules === undefined ? outcome.other : undefined;
}

/** The raw protocol clients of a run: the instance each tab has now, and those a reload retired. */
export class RawTabs {
  readonly live: RawSessionClient[] = [];
  readonly retired: RawSessionClient[] = [];
  readonly #make: (user: string, name: string, options: Partial<RawClientOptions>) => RawSessionClient;
  #instances = 0;

  /** @param {Function} make A raw client of `user` named `name`, with these options, not yet connected */
  constructor(make: (user: string, name: string, options: Partial<RawClientOptions>) => RawSessionClient) {
    this.#make = make;
  }

  /** Every instance the run made. */
  get all(): RawSessionClient[] {
    return [...this.live, ...this.retired];
  }

  open(user: string, options: Partial<RawClientOptions> = {}): RawSessionClient {
    const client = this.#make(user, `raw ${++this.#instances} (${user})`, options).connect();
    this.live.push(client);
    return client;
  }

  /** Tab `index` sends two messages and reloads before they are acknowledged: a new instance sends them. */
  reload(index: number, data: (from: string) => unknown): void {
    const i = index % this.live.length;
    const old = this.live[i]!;
    old.send(data(old.name));
    old.send(data(old.name));
    this.retired.push(old);
    this.live[i] = old.reload(`raw ${++this.#instances} (${old.user}, reloaded)`).connect();
  }

  /** Tab `index` of all, the `SessionClient` tabs first and the raw ones after them, sends `count` messages. */
  sendFrom(tabs: ReadonlyArray<{ client: SessionClient }>, index: number, count: number, data: (from: string) => unknown): void {
    const tab = tabs[index];
    const raw = this.live[(index - tabs.length) % this.live.length]!;
    for (let i = 0; i < count; i++) {
      if (tab !== undefined) void tab.client.send(data(`tab ${index}`));
      else raw.send(data(raw.name));
    }
  }

  /** Tab `index` is duplicated (a second instance with its token and cursors), up to `max` tabs. */
  duplicate(index: number, max = 4): void {
    const old = this.live[index % this.live.length]!;
    if (this.live.length < max && old.session !== undefined) this.live.push(old.duplicate(`raw ${++this.#instances} (${old.user}, duplicated)`).connect());
  }
}
