// Whether this host has IPv6 (ip6tables rules are planned and written). Probed at the first
// sync; a probe that could not tell is repeated on its own timer, with backoff, until one can.
import type { Logger } from 'pino';
import type { Ipv6Probe } from '../dataplane/families.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { Backoff } from '../util/backoff.js';
import { errorMessage } from '../util/errors.js';

export interface Ipv6WatchOptions {
  probe: () => Promise<Ipv6Probe>;
  log: Logger;
  clock: Clock;
  /** Read when the repeats start: a reload changes them. */
  retry: () => { retryMinMs: number; retryMaxMs: number };
  stopped: () => boolean;
  /** A repeated probe found IPv6: the next sync must plan it (see takeArrival). */
  arrived: () => void;
}

export class Ipv6Watch {
  readonly #o: Ipv6WatchOptions;
  #ipv6: boolean | undefined;
  #repeat: { timer: TimerHandle | undefined; backoff: Backoff } | undefined;
  #arrived = false;

  constructor(options: Ipv6WatchOptions) {
    this.#o = options;
  }

  /**
   * Probed at the first call. A host booted without IPv6 runs IPv4-only and says so once; one
   * whose ip6tables could not be read runs IPv4-only while the repeats keep asking.
   */
  async has(): Promise<boolean> {
    if (this.#ipv6 === undefined) {
      const probe = await this.#o.probe();
      this.#ipv6 = probe.kind === 'available';
      this.#said(probe);
    }
    return this.#ipv6;
  }

  /** Whether IPv6 arrived since the last call: a dataplane serves the families it was made with. */
  takeArrival(): boolean {
    if (!this.#arrived) return false;
    this.#arrived = false;
    this.#ipv6 = true;
    return true;
  }

  stop(): void {
    this.#o.clock.clearTimeout(this.#repeat?.timer);
  }

  #said(probe: Ipv6Probe): void {
    const { log, clock } = this.#o;
    if (probe.kind === 'absent') {
      log.info({ event: 'ipv4-only' }, 'IPv6 is not available on this host (no /proc/sys/net/ipv6): writing IPv4 rules only');
    } else if (probe.kind === 'unreadable') {
      const { retryMinMs, retryMaxMs } = this.#o.retry();
      this.#repeat ??= { timer: undefined, backoff: new Backoff(retryMinMs, retryMaxMs) };
      const delay = this.#repeat.backoff.take();
      // Said once: the repeats are the same news until one succeeds.
      if (this.#repeat.timer === undefined) {
        log.warn(
          { event: 'ipv6-probe-failed', err: probe.reason, retryInMs: delay },
          `cannot read ip6tables (${probe.reason}): writing IPv4 rules only for now, asking again in ${delay} ms with backoff`,
        );
      }
      this.#repeat.timer = clock.setTimeout(() => void this.#reprobe(), delay);
      this.#repeat.timer.unref();
    }
  }

  async #reprobe(): Promise<void> {
    if (this.#o.stopped()) return;
    const probe = await this.#o.probe().catch((err: unknown): Ipv6Probe => ({ kind: 'unreadable', reason: errorMessage(err) }));
    if (this.#o.stopped()) return;
    if (probe.kind === 'available') {
      this.#arrived = true;
      this.#o.log.info({ event: 'ipv6-available' }, 'ip6tables answers now: writing IPv6 rules too');
      this.#o.arrived();
      return;
    }
    this.#said(probe);
  }
}
