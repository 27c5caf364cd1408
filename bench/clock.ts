/**
 * The clock every benchmark process reads. `process.hrtime` is
 * CLOCK_MONOTONIC on Linux, one clock for every process on the machine, so a
 * time taken in the server process and one taken in the client process can
 * be subtracted (unlike `performance.now()`, whose origin is per process).
 */

/** Milliseconds on the machine-wide monotonic clock. */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** CPU time (user + system) this process used since `since`, in microseconds. */
export function cpuMicrosSince(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return used.user + used.system;
}

/** Resolve after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolve on the next turn of the event loop, after pending I/O. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Poll `predicate` every `everyMs` until it holds.
 *
 * @throws {Error} Naming `what` after `timeoutMs`
 */
export async function until(predicate: () => boolean, what: string, timeoutMs = 120_000, everyMs = 2): Promise<void> {
  const deadline = nowMs() + timeoutMs;
  while (!predicate()) {
    if (nowMs() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}
