// Time as the daemon's parts see it. Injected (DaemonOptions.clock) so that their tests run on a
// fake clock (test/support/fake-clock.ts) and assert on fake milliseconds, never on how fast the
// machine running them happened to be.
import { setTimeout as delay } from 'node:timers/promises';

/** A pending timer; unref() lets the process exit while it waits (as Node's own timers). */
export interface TimerHandle {
  unref(): unknown;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(timer: TimerHandle | undefined): void;
  /** Resolves after `ms`; rejects with an AbortError once `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The process's own clock. Looks the globals up at each call, so vi.useFakeTimers() still applies. */
export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout | undefined),
  sleep: (ms, signal) => delay(ms, undefined, { signal }),
};
