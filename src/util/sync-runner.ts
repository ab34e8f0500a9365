// One sync at a time (kube-proxy's BoundedFrequencyRunner, in small): requests that come while a
// sync runs, or while one waits to start, coalesce into one more; a request may ask for a full
// sync (read the kernel, repair) instead of a diff; a failed sync is retried after a delay on a
// timer, so that new requests are served meanwhile instead of queueing behind the wait.
// It serves the daemon's syncs and the route follower's reads (dataplane/routes.ts).
import { type Clock, type TimerHandle, realClock } from './clock.js';

export type RunOutcome = { ok: true } | { ok: false; retryInMs: number };

export interface SyncRunnerOptions {
  /** One sync; `full`: read the kernel and repair rather than write the diff. */
  run: (full: boolean) => Promise<RunOutcome>;
  /** How long requests are collected before a sync starts (a burst of events becomes one sync). */
  debounceMs: () => number;
  /** Asked after each sync: whether something changed after it planned, so that another is due. */
  behind: () => boolean;
  clock?: Clock;
}

export class SyncRunner {
  readonly #o: SyncRunnerOptions;
  readonly #clock: Clock;
  #timer: TimerHandle | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #full = false;
  #retryTimer: TimerHandle | undefined;
  #stopped = false;

  constructor(options: SyncRunnerOptions) {
    this.#o = options;
    this.#clock = options.clock ?? realClock;
  }

  /** A failed sync waits for its retry. */
  get retryPending(): boolean {
    return this.#retryTimer !== undefined;
  }

  /** The sync in flight, if any. */
  get running(): Promise<void> | undefined {
    return this.#running;
  }

  /** A sync within `delayMs` (0: now, cutting a pending debounce short). */
  request(delayMs: number, options: { full?: boolean } = {}): void {
    if (this.#stopped) return;
    if (options.full) this.#full = true;
    if (this.#running) {
      this.#again = true;
      return;
    }
    if (this.#timer) {
      if (delayMs > 0) return;
      this.#clock.clearTimeout(this.#timer);
    }
    this.#timer = this.#clock.setTimeout(() => this.#start(), delayMs);
  }

  stop(): void {
    this.#stopped = true;
    this.#clock.clearTimeout(this.#timer);
    this.#clock.clearTimeout(this.#retryTimer);
  }

  #start(): void {
    this.#timer = undefined;
    const full = this.#full;
    this.#full = false;
    this.#running = this.#o
      .run(full)
      .then(
        (outcome) => {
          if (outcome.ok) {
            this.#clock.clearTimeout(this.#retryTimer);
            this.#retryTimer = undefined;
            return;
          }
          // What failed is read back and repaired in full at the retry.
          this.#full = true;
          this.#clock.clearTimeout(this.#retryTimer);
          this.#retryTimer = this.#clock.setTimeout(() => {
            this.#retryTimer = undefined;
            this.request(0, { full: true });
          }, outcome.retryInMs);
        },
        () => undefined,
      )
      .finally(() => {
        this.#running = undefined;
        // Facts that changed after this sync planned need one of their own; a failed sync waits
        // for its retry timer instead.
        const behind = this.#retryTimer === undefined && this.#o.behind();
        if (this.#again || behind) {
          this.#again = false;
          this.request(this.#o.debounceMs());
        }
      });
  }
}
