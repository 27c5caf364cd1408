/**
 * What a tab of a sessions property saw, and the property itself (#11,
 * #12): per topic, offsets contiguous from where the tab started except
 * exactly where it was told `recovered: false`, and no other user's topic.
 * Shared by the single-node and the cluster properties.
 */
import fc from 'fast-check';
import type { SessionClient } from '../../src/client/session-client.js';
import { userTopic } from '../../src/sessions/session-hub.js';

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
 * undefined. The message is the first failing run's own words: a rerun of
 * a timing-dependent counterexample may pass.
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
    { seed, numRuns, endOnFailure: true }
  );
  return { failed: result.failed, message };
}
