/** Waiting with a bound, without leaving a timer behind. */

/**
 * Wait for `promise`, at most `ms` milliseconds.
 *
 * @param {Promise<T>} promise What to wait for
 * @param {number} ms The bound
 * @returns {Promise<T | undefined>} Its value, or `undefined` if it was late (the timer is cleared either way)
 */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
