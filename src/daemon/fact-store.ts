// What dockgate knows of Docker: running containers and networks, fed by Docker's lists and
// events, and what changed since (kube-proxy's change trackers). It owns the inspects: each has
// Docker's deadline, runs in the background, and a late or stale answer is handled here, so one
// container Docker is slow about never holds up the others.
import PQueue from 'p-queue';
import type { Logger } from 'pino';
import type { DockerEvent } from '../docker/source.js';
import type { ContainerFacts, NetworkFacts, OtherNetwork } from '../model/types.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { type Expired, FactExpiry, type FactTiming, STOP_ACTIONS } from './fact-expiry.js';
import type { DockerApi } from './docker-api.js';
import { errorMessage } from '../util/errors.js';

/**
 * A backstop behind DockerApi's own deadline (DockerSource aborts each call at apiTimeoutMs): a
 * call that never settles would hold the one sync in flight, or an inspect slot, forever.
 */
const BACKSTOP_MS = 100;

export interface FactStoreOptions {
  docker: DockerApi;
  log: Logger;
  clock: Clock;
  /** Read at each use: a reload changes them. */
  timing: () => FactTiming;
  /** An inspect answered (perhaps after the refresh that asked stopped waiting): facts may have changed. */
  onChange: () => void;
  /** Containers are waiting to be asked again (Docker did not answer): a refresh is due. */
  onAskAgain: () => void;
}

export class FactStore {
  readonly #o: FactStoreOptions;
  readonly #containers = new Map<string, ContainerFacts>();
  #networks: NetworkFacts[] = [];
  #otherNetworks: OtherNetwork[] = [];
  readonly #dirty = new Set<string>();
  #networksDirty = false;
  #resyncAll = true;
  #haveFacts = false;
  /**
   * Bumped by every change of facts (and of config, through changed()); a plan remembers the
   * version it was built from. A counter, not a flag: a change that lands while a sync runs must
   * not be cleared by that sync finishing.
   */
  #version = 1;
  /** The newest inspect asked for each container; an older answer arriving late is ignored. */
  readonly #inspectGen = new Map<string, number>();
  /**
   * Generations come from one counter for all containers, so one forgotten and asked about
   * again can never hand a new inspect the number of an old one still in flight.
   */
  #lastGen = 0;
  readonly #inspecting = new Map<string, Promise<void>>();
  readonly #inspectQueue = new PQueue({ concurrency: 16 });
  /** Containers whose stop Docker has not confirmed, or that it has not answered about. */
  readonly #expiry: FactExpiry;
  #stopped = false;
  #refreshing = false;

  constructor(options: FactStoreOptions) {
    this.#o = options;
    this.#expiry = new FactExpiry({
      log: options.log,
      clock: options.clock,
      timing: options.timing,
      stopped: () => this.#stopped,
      askAgain: () => this.#o.onAskAgain(),
      reinspect: (id) => {
        this.#dirty.add(id);
        this.#o.onAskAgain();
      },
    });
  }

  get version(): number {
    return this.#version;
  }

  /** Whether a first full list has been taken: before that there is nothing to plan from. */
  get haveFacts(): boolean {
    return this.#haveFacts;
  }

  get containers(): ContainerFacts[] {
    return [...this.#containers.values()];
  }

  get count(): number {
    return this.#containers.size;
  }

  get networks(): NetworkFacts[] {
    return this.#networks;
  }

  get otherNetworks(): OtherNetwork[] {
    return this.#otherNetworks;
  }

  /** Containers whose newest facts a plan made now would lack (dirty, being inspected, unanswered). */
  get pending(): { containers: string[]; networks: boolean } {
    const stopping = this.#expiry.stopping.filter((id) => this.#containers.has(id));
    return {
      containers: [...this.#dirty, ...this.#inspecting.keys(), ...this.#expiry.unknown, ...stopping],
      networks: this.#networksDirty || this.#resyncAll,
    };
  }

  /** Whether a refresh is waiting for Docker (tests on a fake clock advance it only then, or when idle). */
  get refreshing(): boolean {
    return this.#refreshing;
  }

  get unknown(): string[] {
    return this.#expiry.unknown;
  }

  get ids(): string[] {
    return [...this.#containers.keys()];
  }

  /** Something outside the facts changed (the config): plans must be made again. */
  changed(): void {
    this.#version++;
  }

  /** After a (re)connection, or when a read failed: list everything again at the next refresh. */
  resync(): void {
    this.#resyncAll = true;
  }

  /** One Docker event: marks what it may have changed. */
  onEvent(e: DockerEvent): void {
    if (e.type === 'network') {
      if (e.action === 'create' || e.action === 'destroy') this.#networksDirty = true;
      if (e.containerId) this.#dirty.add(e.containerId);
    } else if (e.containerId) {
      this.#dirty.add(e.containerId);
      if (STOP_ACTIONS.has(e.action)) this.#stopEvent(e.containerId, e.action);
    }
  }

  stop(): void {
    this.#stopped = true;
    this.#inspectQueue.clear();
    this.#expiry.stop();
  }

  /**
   * Brings the facts up to date. Inspects run in the background with their own deadline; this
   * waits for them only a bounded time (a container still starting usually answers within it).
   * A later answer calls onChange. Throws when Docker cannot be listed at all.
   */
  async refresh(): Promise<void> {
    this.#refreshing = true;
    try {
      await this.#refresh();
    } finally {
      this.#refreshing = false;
    }
  }

  async #refresh(): Promise<void> {
    const t = this.#o.timing();
    // Long enough for a container that is still starting, short enough that one Docker cannot
    // answer about does not delay everyone else's rules; its answer gets a sync of its own.
    const inspectWaitMs = Math.min(250, t.dockerTimeoutMs);
    try {
      if (this.#resyncAll) {
        this.#resyncAll = false;
        this.#networksDirty = false;
        const { bridges, others } = await this.#deadline(this.#o.docker.listAllNetworks(), 'docker network list');
        const ids = await this.#deadline(this.#o.docker.listIds(), 'docker container list');
        this.#networks = bridges;
        this.#otherNetworks = others;
        const running = new Set(ids);
        // Not running: gone, and so is any stop evidence, even for a container already expired.
        for (const id of new Set([...this.#containers.keys(), ...this.#expiry.stopping])) {
          if (!running.has(id)) this.#forget(id);
        }
        for (const id of ids) this.#dirty.add(id);
        this.#version++;
        this.#expiry.listSucceeded();
        // Start-up waits for every answer (up to the deadline): the first rule set should be whole.
        const waited = this.#inspectDirty(t.dockerTimeoutMs + BACKSTOP_MS);
        this.#haveFacts = true;
        await waited;
        return;
      }
      if (this.#networksDirty) {
        this.#networksDirty = false;
        const { bridges, others } = await this.#deadline(this.#o.docker.listAllNetworks(), 'docker network list');
        this.#networks = bridges;
        this.#otherNetworks = others;
        this.#version++;
      }
    } catch (err) {
      this.#resyncAll = true;
      this.#expiry.listFailed(errorMessage(err));
      // The list is not the only way to learn a container is gone: an event named it, and its
      // own inspect may still answer (a 404 settles a die event at once, "running" keeps it).
      if (this.#haveFacts) await this.#inspectDirty(inspectWaitMs);
      throw err;
    }
    await this.#inspectDirty(inspectWaitMs);
  }

  /**
   * Removes the facts of containers whose state Docker has not reported for longer than the
   * grace (stopped by an event and never confirmed running, or unanswered inspects): their
   * address may belong to another container by now. They stay asked about, and come back when
   * Docker confirms them running.
   */
  expireUnknown(): Expired[] {
    const expired = this.#expiry.due(this.#containers);
    for (const { id } of expired) {
      this.#containers.delete(id);
      this.#version++;
    }
    return expired;
  }

  async #inspectDirty(waitMs: number): Promise<void> {
    const ids = [...this.#dirty];
    this.#dirty.clear();
    if (ids.length === 0) return;
    const pending = ids.map((id) => this.#inspect(id));
    let timer: TimerHandle | undefined;
    await Promise.race([
      Promise.allSettled(pending),
      new Promise<void>((resolve) => {
        timer = this.#o.clock.setTimeout(resolve, waitMs);
      }),
    ]);
    this.#o.clock.clearTimeout(timer);
  }

  #inspect(id: string): Promise<void> {
    const gen = ++this.#lastGen;
    this.#inspectGen.set(id, gen);
    const run = this.#inspectQueue
      .add(() => this.#deadline(this.#o.docker.inspect(id), `docker inspect ${id.slice(0, 12)}`))
      .then(
        (facts) => {
          if (this.#inspectGen.get(id) !== gen || this.#stopped) return;
          // Asked after the newest stop event (which bumps the generation): settles it either way.
          this.#expiry.settled(id);
          if (facts) this.#containers.set(facts.id, facts);
          else this.#forget(id);
          this.#version++;
        },
        (err: unknown) => {
          if (this.#inspectGen.get(id) !== gen || this.#stopped) return;
          this.#expiry.inspectFailed(id, errorMessage(err), this.#containers.has(id));
        },
      )
      .finally(() => {
        if (this.#inspecting.get(id) === run) this.#inspecting.delete(id);
        // An answer no refresh waited for still has to reach the kernel.
        if (!this.#stopped) this.#o.onChange();
      });
    this.#inspecting.set(id, run);
    return run;
  }

  #forget(id: string): void {
    this.#containers.delete(id);
    this.#expiry.settled(id);
    this.#inspectGen.delete(id);
    this.#version++;
  }

  /** A die/stop/kill/destroy event: from now on only an answer asked after it can keep the rules. */
  #stopEvent(id: string, action: string): void {
    // An inspect already in flight was asked before the event; its "running" proves nothing.
    this.#inspectGen.set(id, ++this.#lastGen);
    this.#expiry.stopEvent(id, action);
  }

  /** A Docker call cut at Docker's deadline (plus the backstop's slack) if it has none of its own that fires. */
  #deadline<T>(call: Promise<T>, what: string): Promise<T> {
    const ms = this.#o.timing().dockerTimeoutMs + BACKSTOP_MS;
    let timer: TimerHandle | undefined;
    const cut = new Promise<never>((_, reject) => {
      timer = this.#o.clock.setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    });
    return Promise.race([call, cut]).finally(() => this.#o.clock.clearTimeout(timer));
  }
}
