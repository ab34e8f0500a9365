// The Docker events stream, kept open: subscribes FIRST, then has the facts listed, so that
// nothing that happens in between can be missed; reconnects with backoff after any gap.
import type { Logger } from 'pino';
import type { DockerEvent, EventSubscription } from '../docker/source.js';
import type { Clock } from '../util/clock.js';
import { Backoff } from '../util/backoff.js';
import type { DockerApi } from './docker-api.js';
import { errorMessage } from '../util/errors.js';

export interface DockerWatchOptions {
  docker: DockerApi;
  log: Logger;
  clock: Clock;
  /** Read at each (re)start: a reload changes them. */
  retry: () => { retryMinMs: number; retryMaxMs: number };
  onEvent: (e: DockerEvent) => void;
  /**
   * Subscribed: 'stop' ends the watch (a swarm node, refused); 'go' has the facts listed again,
   * after the subscription, so that the list misses nothing.
   */
  connected: () => Promise<'stop' | 'go'>;
}

export class DockerWatch {
  readonly #o: DockerWatchOptions;
  readonly #abort = new AbortController();
  #subscription: EventSubscription | undefined;
  #watching: Promise<void> | undefined;
  #stopped = false;

  constructor(options: DockerWatchOptions) {
    this.#o = options;
  }

  /** Whether a subscription was ever made (before that, the connect itself asks what it must). */
  get subscribed(): boolean {
    return this.#subscription !== undefined;
  }

  start(): void {
    this.#watching ??= this.#watch();
  }

  /** Closes the stream and ends the loop; resolves when the loop has returned. */
  stop(): Promise<void> {
    this.#stopped = true;
    this.#abort.abort();
    this.#subscription?.close();
    return this.#watching ?? Promise.resolve();
  }

  async #watch(): Promise<void> {
    const { retryMinMs, retryMaxMs } = this.#o.retry();
    const backoff = new Backoff(retryMinMs, retryMaxMs);
    const { docker, log } = this.#o;
    let attempt = 0;
    while (!this.#stopped) {
      attempt++;
      try {
        const sub = await docker.subscribe((e) => this.#o.onEvent(e));
        this.#subscription = sub;
        if (this.#stopped) sub.close();
        log.info({ event: 'docker-connected', docker: docker.host, attempt }, 'watching Docker events');
        backoff.reset();
        attempt = 0;
        if ((await this.#o.connected()) === 'stop') {
          sub.close();
          return;
        }
        const err = await sub.ended;
        if (this.#stopped) return;
        log.warn({ event: 'docker-disconnected', docker: docker.host, err: err?.message }, 'Docker events stream ended; will reconnect and resync in full');
      } catch (err) {
        const delay = backoff.take();
        log.error(
          { event: 'docker-unreachable', docker: docker.host, err: errorMessage(err), retryInMs: delay, attempt },
          `cannot reach Docker at ${docker.host}: ${errorMessage(err)}; retrying in ${delay} ms`,
        );
        await this.#pause(delay);
        continue;
      }
      await this.#pause(backoff.take());
    }
  }

  async #pause(ms: number): Promise<void> {
    try {
      await this.#o.clock.sleep(ms, this.#abort.signal);
    } catch {
      /* aborted by stop() */
    }
  }
}
