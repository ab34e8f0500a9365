// A long-lived watcher process (`ip monitor route`, `nft monitor`) that tells the daemon *when* to
// look again. Supervised: restarted with backoff when it exits, given up after too many quick
// deaths (the owner then falls back to polling), stopped by its pid. Its lines are handed over as
// they come; what they mean is the owner's business.
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import type { Logger } from 'pino';
import { Backoff } from '../util/backoff.js';
import type { CommandQueue } from './command-queue.js';

export interface SupervisedOptions {
  /** Only for its namespace: the watcher runs in the same one as every queued command. */
  queue: CommandQueue;
  log: Logger;
  /** For log lines and events, e.g. 'route-monitor'. */
  name: string;
  command: string;
  args: string[];
  /** Every line on stdout or stderr (stderr lines are usually "events lost": look again). */
  onLine: (line: string, stream: 'stdout' | 'stderr') => void;
  /** The watcher was down: whatever changed meanwhile went unseen. */
  onGap: () => void;
  /** It keeps dying: the owner polls from now on. */
  onGiveUp: () => void;
  restartMinMs?: number;
  restartMaxMs?: number;
  /** Starts in a row that die within `healthyRunMs` before giving up. */
  maxQuickRestarts?: number;
  healthyRunMs?: number;
}

export class SupervisedMonitor {
  readonly #o: Required<SupervisedOptions>;
  #child: ResultPromise | undefined;
  #childExited: Promise<unknown> | undefined;
  #stopped = false;
  #givenUp = false;
  #quickRestarts = 0;
  readonly #restartDelay: Backoff;
  #restartTimer: NodeJS.Timeout | undefined;

  constructor(options: SupervisedOptions) {
    this.#o = { restartMinMs: 200, restartMaxMs: 30_000, maxQuickRestarts: 10, healthyRunMs: 60_000, ...options };
    this.#restartDelay = new Backoff(this.#o.restartMinMs, this.#o.restartMaxMs);
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get givenUp(): boolean {
    return this.#givenUp;
  }

  start(): void {
    this.#spawn();
  }

  /** Stops it by its pid (SIGTERM, SIGKILL after 1 s). Never throws. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#restartTimer);
    const child = this.#child;
    const exited = this.#childExited;
    this.#child = undefined;
    if (child?.pid !== undefined && exited) {
      child.kill('SIGTERM');
      const gone = await Promise.race([exited.then(() => true), sleep(1000, false, { ref: false })]);
      if (!gone) {
        child.kill('SIGKILL');
        await Promise.race([exited, sleep(1000, undefined, { ref: false })]);
      }
    }
  }

  #spawn(): void {
    if (this.#stopped || this.#givenUp) return;
    const netns = this.#o.queue.options.netns;
    const [file, args] = netns ? ['nsenter', [`--net=${netns}`, this.#o.command, ...this.#o.args]] : [this.#o.command, this.#o.args];
    const startedAt = Date.now();
    const child = execa(file, args, {
      buffer: false,
      reject: false,
      stdin: 'ignore',
      // Killed with the daemon even if it dies without stop() (execa's exit hook).
      cleanup: true,
      env: { LC_ALL: 'C' },
    });
    this.#child = child;
    for (const stream of ['stdout', 'stderr'] as const) {
      let rest = '';
      child[stream]?.setEncoding('utf8');
      child[stream]?.on('data', (chunk: string) => {
        rest += chunk;
        let nl: number;
        while ((nl = rest.indexOf('\n')) >= 0) {
          const line = rest.slice(0, nl);
          rest = rest.slice(nl + 1);
          if (line !== '') this.#o.onLine(line, stream);
        }
      });
    }
    const exited = child.then((r) => r, (err: unknown) => err);
    this.#childExited = exited;
    void exited.then((r) => {
      if (this.#child !== child) return;
      this.#child = undefined;
      if (this.#stopped) return;
      const lived = Date.now() - startedAt;
      if (lived >= this.#o.healthyRunMs) {
        this.#quickRestarts = 0;
        this.#restartDelay.reset();
      }
      this.#quickRestarts++;
      const why = describeExit(r);
      this.#o.onGap();
      if (this.#quickRestarts > this.#o.maxQuickRestarts) {
        this.#givenUp = true;
        this.#o.log.error(
          { event: `${this.#o.name}-failed`, exit: why, restarts: this.#quickRestarts - 1 },
          `${this.#o.command} ${this.#o.args.join(' ')} keeps exiting (${why}); polling instead`,
        );
        this.#o.onGiveUp();
        return;
      }
      const delay = this.#restartDelay.take();
      this.#o.log.warn(
        { event: `${this.#o.name}-exited`, exit: why, livedMs: lived, restartInMs: delay },
        `${this.#o.command} ${this.#o.args.join(' ')} exited (${why}); restarting in ${delay} ms`,
      );
      this.#restartTimer = setTimeout(() => this.#spawn(), delay);
      this.#restartTimer.unref();
    });
  }
}

function describeExit(r: unknown): string {
  const e = r as { exitCode?: number; signal?: string; shortMessage?: string; message?: string };
  if (e?.signal) return `signal ${e.signal}`;
  if (typeof e?.exitCode === 'number') return `exit ${e.exitCode}`;
  return e?.shortMessage ?? e?.message ?? 'did not start';
}
