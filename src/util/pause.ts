/**
 * Waits `ms`, or less when `signal` aborts, and never rejects: for loops that check the signal
 * themselves after each wait (resyncs, watches, leases). Registry retries, which must stop with the
 * signal's reason, use src/registry/retry.ts `sleep` instead.
 */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
