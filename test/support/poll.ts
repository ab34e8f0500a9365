// The one way a test waits for something to become true: bounded polling. Deadlines are taken
// from performance.now() and pauses from node:timers/promises, which vi.useFakeTimers() leaves
// alone, so a test on fake time can still wait for real I/O with it.
import { setTimeout as sleep } from 'node:timers/promises';

/** Thrown by a probe to stop waiting at once (with `retryErrors`, other errors count as "not yet"). */
export class WaitAbort extends Error {
  override name = 'WaitAbort';
}

export interface UntilOptions {
  /** What is awaited, for the message on timeout. */
  what: string;
  /** Default 3000. */
  timeoutMs?: number;
  /** Pause between probes; default 5. */
  intervalMs?: number;
  /**
   * Errors of the probe count as "not yet", the last one reported on timeout (WaitAbort still
   * ends the wait). Without it the first error ends the wait.
   */
  retryErrors?: boolean;
}

type Probe<T> = () => T | undefined | false | Promise<T | undefined | false>;

/**
 * Resolves with the first value of `probe` that is not undefined or false; rejects once
 * `timeoutMs` has passed (probing at least once). A probe that hangs is cut at the deadline too.
 */
export async function until<T>(probe: Probe<T>, options: UntilOptions): Promise<T> {
  const { what, timeoutMs = 3000, intervalMs = 5, retryErrors = false } = options;
  const deadline = performance.now() + timeoutMs;
  let lastErr: unknown;
  const maxTries = Math.ceil(timeoutMs / Math.max(1, intervalMs)) + 2;
  for (let i = 0; i < maxTries; i++) {
    try {
      const v = await cut(probe(), Math.max(1, deadline - performance.now()));
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      if (!retryErrors || err instanceof WaitAbort) throw err;
      lastErr = err;
    }
    if (performance.now() + intervalMs > deadline) break;
    await sleep(intervalMs);
  }
  const extra = lastErr === undefined ? '' : ` (last error: ${lastErr instanceof Error ? lastErr.message : String(lastErr)})`;
  throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${extra}`);
}

/** The value, or undefined if it takes longer than `ms`. */
async function cut<T>(value: T | Promise<T>, ms: number): Promise<T | undefined> {
  if (!(value instanceof Promise)) return value;
  const abort = new AbortController();
  try {
    return await Promise.race([value, sleep(ms, undefined, { signal: abort.signal }).catch(() => undefined)]);
  } finally {
    abort.abort();
  }
}
