// Swarm's routing mesh and overlay networks need Docker's own iptables rules, which dockgate
// replaces. Before the first write the daemon refuses (`ready` rejects with SwarmNodeError, and
// it stops). Once rules are in place, stopping would remove none of them (they stay when dockgate
// stops) and only freeze them as they are, so each sighting is an error line and the daemon
// keeps enforcing the labels. Docker not answering is no finding: the next check asks again.
// Checked on each connect, on each network creation, and every full_check_ms.
import type { Logger } from 'pino';
import { SwarmNodeError, inSwarm, joinedSwarmMessage } from '../docker/info.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import type { DockerApi } from './docker-api.js';
import { errorMessage } from '../util/errors.js';

export type SwarmVerdict = 'refused' | 'ok';

export interface SwarmCheckOptions {
  docker: DockerApi;
  log: Logger;
  clock: Clock;
  /** Read at each use: a reload changes it. */
  everyMs: () => number;
  stopped: () => boolean;
  /** Whether rules have been written (then a sighting is reported, no longer refused). */
  written: () => boolean;
  /** Whether the events stream is connected (before that, the connect itself asks). */
  connected: () => boolean;
  /** A swarm node before the first write: the daemon refuses to run. */
  refuse: (err: SwarmNodeError) => void;
}

export class SwarmCheck {
  readonly #o: SwarmCheckOptions;
  #timer: TimerHandle | undefined;
  #inFlight: Promise<SwarmVerdict> | undefined;

  constructor(options: SwarmCheckOptions) {
    this.#o = options;
  }

  /** One check at a time: callers meanwhile share its answer. */
  check(): Promise<SwarmVerdict> {
    this.#inFlight ??= this.#ask().finally(() => (this.#inFlight = undefined));
    return this.#inFlight;
  }

  /** The periodic check (every full_check_ms). */
  schedule(): void {
    const { clock } = this.#o;
    clock.clearTimeout(this.#timer);
    if (this.#o.stopped()) return;
    this.#timer = clock.setTimeout(() => {
      if (this.#o.connected()) void this.check();
      this.schedule();
    }, this.#o.everyMs());
    this.#timer.unref();
  }

  stop(): void {
    this.#o.clock.clearTimeout(this.#timer);
  }

  async #ask(): Promise<SwarmVerdict> {
    const { log } = this.#o;
    let state: string;
    try {
      state = await this.#o.docker.swarmState();
    } catch (err) {
      log.debug({ event: 'swarm-unknown', err: errorMessage(err) }, `cannot ask Docker for its swarm state: ${errorMessage(err)}`);
      return 'ok';
    }
    if (this.#o.stopped() || !inSwarm(state)) return 'ok';
    if (!this.#o.written()) {
      const refusal = new SwarmNodeError(state);
      log.error({ event: 'swarm', state, refused: true }, refusal.message);
      this.#o.refuse(refusal);
      return 'refused';
    }
    log.error({ event: 'swarm', state }, joinedSwarmMessage(state));
    return 'ok';
  }
}
