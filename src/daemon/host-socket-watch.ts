// The listening sockets of `--network host` containers, followed. A container starting to listen
// (or stopping) makes no Docker event, so while a host-network container with a ports label runs,
// the sockets are read again every sync.drift_check_ms; a change of what such a container holds
// re-plans, any other socket coming and going does not. With no such container, nothing is read.
import type { Logger } from 'pino';
import type { ContainerFacts, HostSocket } from '../model/types.js';
import { isHostNetwork, socketsOf, wantsHostSockets } from '../plan/host-network.js';
import { type Clock, type TimerHandle, realClock } from '../util/clock.js';
import { errorMessage } from '../util/errors.js';

export interface HostSocketWatchOptions {
  log: Logger;
  /** Reads every listening socket with its owner among `containers`. */
  read: (containers: readonly ContainerFacts[]) => Promise<HostSocket[]>;
  /** The running containers as last known (undefined before the first list). */
  containers: () => readonly ContainerFacts[] | undefined;
  labelPrefix: () => string;
  intervalMs: () => number;
  stopped: () => boolean;
  clock?: Clock;
  /** What the containers hold changed since the last plan: plan again. */
  changed: () => void;
}

export class HostSocketWatch {
  readonly #o: HostSocketWatchOptions;
  #timer: TimerHandle | undefined;
  /** What the last plan was made from (see #key); undefined: no plan used sockets. */
  #planned: string | undefined;
  /** The last read failure, logged once until a read succeeds. */
  #problem: string | undefined;

  constructor(options: HostSocketWatchOptions) {
    this.#o = options;
  }

  /** Read now, for a plan being made; undefined when no container needs them or they cannot be read. */
  async forPlan(containers: readonly ContainerFacts[]): Promise<HostSocket[] | undefined> {
    if (!wantsHostSockets(containers, this.#o.labelPrefix())) {
      this.#planned = undefined;
      return undefined;
    }
    const sockets = await this.#read(containers);
    this.#planned = this.#key(containers, sockets);
    return sockets;
  }

  start(): void {
    const clock = this.#o.clock ?? realClock;
    clock.clearTimeout(this.#timer);
    if (this.#o.stopped()) return;
    this.#timer = clock.setTimeout(() => void this.#poll().finally(() => this.start()), this.#o.intervalMs());
    this.#timer.unref();
  }

  stop(): void {
    (this.#o.clock ?? realClock).clearTimeout(this.#timer);
  }

  async #poll(): Promise<void> {
    const containers = this.#o.containers();
    if (containers === undefined || this.#o.stopped() || !wantsHostSockets(containers, this.#o.labelPrefix())) return;
    const sockets = await this.#read(containers);
    if (this.#o.stopped()) return;
    if (this.#key(containers, sockets) !== this.#planned) this.#o.changed();
  }

  async #read(containers: readonly ContainerFacts[]): Promise<HostSocket[] | undefined> {
    try {
      const sockets = await this.#o.read(containers.filter(isHostNetwork));
      this.#problem = undefined;
      return sockets;
    } catch (err) {
      const reason = errorMessage(err);
      if (this.#problem !== reason) {
        this.#o.log.warn({ event: 'sockets-unreadable', err: reason }, `cannot read the host's listening sockets: ${reason}; host-network containers get nothing opened`);
      }
      this.#problem = reason;
      return undefined;
    }
  }

  /** The part of the sockets any host-network container's plan depends on (plan/host-network.ts). */
  #key(containers: readonly ContainerFacts[], sockets: readonly HostSocket[] | undefined): string {
    return JSON.stringify(containers.filter(isHostNetwork).map((c) => [c.id, socketsOf(c.id, sockets) ?? null]));
  }
}
