// When the kernel state is read back and compared with what was written (a full sync). On the
// nf_tables backend `nft monitor` says when someone touches the ruleset: a repair follows at
// once, and the periodic read-and-compare becomes a slow safety net (full_check_ms). The legacy
// backend has no such events and keeps polling; so does this one while the watcher is down.
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { type CommandQueue, succeeded } from '../dataplane/command-queue.js';
import { backendOf } from '../dataplane/iptables.js';
import { NftMonitor } from '../dataplane/nft-monitor.js';
import type { Clock, TimerHandle } from '../util/clock.js';

export interface DriftWatchOptions {
  queue: CommandQueue;
  log: Logger;
  clock: Clock;
  /** Read at each use: a reload changes it. */
  config: () => Config;
  stopped: () => boolean;
  /** Whether rules have been written (before that there is nothing to compare). */
  written: () => boolean;
  /** A full sync is due. */
  check: () => void;
}

export class DriftWatch {
  readonly #o: DriftWatchOptions;
  #timer: TimerHandle | undefined;
  #nft: NftMonitor | undefined;
  /** How long the last full read-and-compare took; paces the periodic check. */
  lastCheckMs = 0;

  constructor(options: DriftWatchOptions) {
    this.#o = options;
  }

  start(watchRuleset: boolean): void {
    this.schedule();
    if (watchRuleset) void this.#watchRuleset();
  }

  async stop(): Promise<void> {
    this.#o.clock.clearTimeout(this.#timer);
    await this.#nft?.stop();
  }

  /**
   * The drift check reads the whole kernel state (iptables-save) and compares it with what was
   * written. That catches everything (a flushed chain, a deleted jump, a reloaded table) but
   * costs time proportional to the rule count, so the interval stretches to keep the check
   * under ~10% of one core: every drift_check_ms on ordinary hosts, less often on huge ones, and
   * never less often than full_check_ms.
   */
  schedule(): void {
    const { clock } = this.#o;
    clock.clearTimeout(this.#timer);
    if (this.#o.stopped()) return;
    const { driftCheckMs, fullCheckMs } = this.#o.config().sync;
    // While the kernel reports changes, the periodic read is only the safety net.
    const watched = this.#nft !== undefined && !this.#nft.givenUp;
    const delay = watched
      ? Math.max(fullCheckMs, driftCheckMs)
      : Math.min(Math.max(driftCheckMs, 10 * this.lastCheckMs), Math.max(fullCheckMs, driftCheckMs));
    this.#timer = clock.setTimeout(() => {
      if (this.#o.written()) this.#o.check();
      this.schedule();
    }, delay);
    this.#timer.unref();
  }

  async #watchRuleset(): Promise<void> {
    const { queue, log } = this.#o;
    const config = this.#o.config();
    const version = await queue.run(config.iptables.saveCommand, ['--version'], { timeoutMs: 10_000 }).catch(() => undefined);
    if (this.#o.stopped() || version === undefined || !succeeded(version) || backendOf(version.stdout) !== 'nf_tables') {
      log.info({ event: 'drift-watch', mode: 'polling', reason: 'not the nf_tables backend' }, `drift check: polling every ${config.sync.driftCheckMs} ms`);
      return;
    }
    const monitor = new NftMonitor({
      queue,
      log,
      onChange: (change) => {
        if (this.#o.stopped() || !this.#o.written()) return;
        log.debug({ event: 'ruleset-changed', pid: change?.pid, lines: change?.lines }, 'the ruleset changed: checking');
        this.#o.check();
      },
      onGiveUp: () => this.schedule(),
    });
    this.#nft = monitor;
    monitor.start();
    const { fullCheckMs } = this.#o.config().sync;
    log.info({ event: 'drift-watch', mode: 'nft-monitor', fullCheckMs }, `drift check: nft monitor, and a full check every ${fullCheckMs} ms`);
    this.schedule();
  }
}
