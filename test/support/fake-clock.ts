// A Clock (src/util/clock.ts) whose time moves only when the test says: timers fire in order
// of their due time as advance() passes it, and now() reads the fake time. It fakes no globals,
// so real I/O, and the test's own waits (support/poll.ts), go on in real time meanwhile.
import { setImmediate as turn } from 'node:timers/promises';
import type { Clock, TimerHandle } from '../../src/util/clock.js';

class FakeTimer implements TimerHandle {
  constructor(readonly id: number) {}
  unref(): this {
    return this;
  }
}

export class FakeClock implements Clock {
  #now: number;
  #lastId = 0;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer = new FakeTimer(++this.#lastId);
    this.#timers.set(timer.id, { at: this.#now + Math.max(0, ms), fn });
    return timer;
  }

  clearTimeout(timer: TimerHandle | undefined): void {
    if (timer instanceof FakeTimer) this.#timers.delete(timer.id);
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const aborted = (): void => reject(new DOMException('The operation was aborted', 'AbortError'));
      if (signal?.aborted) return aborted();
      const timer = this.setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = (): void => {
        this.clearTimeout(timer);
        aborted();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Timers waiting to fire. */
  get pending(): number {
    return this.#timers.size;
  }

  /**
   * Moves time `ms` forward. Each timer due on the way fires at its own time, earliest first
   * (in order of creation when due together), and what it set off runs (one event-loop turn)
   * before the next fires; timers it sets that fall due within `ms` fire too.
   */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    await turn();
    for (let i = 0; i < 100_000; i++) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.#timers) if (entry[1].at <= end && (next === undefined || entry[1].at < next[1].at)) next = entry;
      if (next === undefined) break;
      this.#timers.delete(next[0]);
      this.#now = Math.max(this.#now, next[1].at);
      next[1].fn();
      await turn();
    }
    this.#now = end;
    await turn();
  }
}
