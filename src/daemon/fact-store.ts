// What dockgate knows of Docker: running containers and networks, fed by Docker's lists and
// events, and what changed since (kube-proxy's change trackers). It owns the inspects: each has
// Docker's deadline, runs in the background, and a late or stale answer is handled here, so one
// container Docker is slow about never holds up the others.
import PQueue from 'p-queue';
import type { Logger } from 'pino';
import type { DockerEvent } from '../docker/source.js';
import type { ContainerFacts, NetworkFacts, OtherNetwork } from '../model/types.js';
import type { DockerApi } from './daemon.js';

export interface FactTiming {
  dockerTimeoutMs: number;
  unknownGraceMs: number;
  retryMinMs: number;
  retryMaxMs: number;
}

export interface FactStoreOptions {
  docker: DockerApi;
  log: Logger;
  now: () => number;
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
  readonly #inspecting = new Map<string, Promise<void>>();
  readonly #inspectQueue = new PQueue({ concurrency: 16 });
  /** Containers Docker could not tell us about, since when (their last known rules stay, for a while). */
  readonly #unknownSince = new Map<string, number>();
  #stopped = false;

  constructor(options: FactStoreOptions) {
    this.#o = options;
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
    return { containers: [...this.#dirty, ...this.#inspecting.keys(), ...this.#unknownSince.keys()], networks: this.#networksDirty || this.#resyncAll };
  }

  get unknown(): string[] {
    return [...this.#unknownSince.keys()];
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
    }
  }

  stop(): void {
    this.#stopped = true;
    this.#inspectQueue.clear();
  }

  /**
   * Brings the facts up to date. Inspects run in the background with their own deadline; this
   * waits for them only a bounded time (a container still starting usually answers within it).
   * A later answer calls onChange. Throws when Docker cannot be listed at all.
   */
  async refresh(): Promise<void> {
    const t = this.#o.timing();
    if (this.#resyncAll) {
      this.#resyncAll = false;
      this.#networksDirty = false;
      try {
        const { bridges, others } = await this.#o.docker.listAllNetworks();
        const ids = await this.#o.docker.listIds();
        this.#networks = bridges;
        this.#otherNetworks = others;
        const running = new Set(ids);
        for (const id of [...this.#containers.keys()]) {
          if (!running.has(id)) this.#forget(id);
        }
        for (const id of ids) this.#dirty.add(id);
        this.#version++;
      } catch (err) {
        this.#resyncAll = true;
        throw err;
      }
      // Start-up waits for every answer (up to the deadline): the first rule set should be whole.
      const waited = this.#inspectDirty(t.dockerTimeoutMs + 100);
      this.#haveFacts = true;
      await waited;
      return;
    }
    if (this.#networksDirty) {
      this.#networksDirty = false;
      const { bridges, others } = await this.#o.docker.listAllNetworks();
      this.#networks = bridges;
      this.#otherNetworks = others;
      this.#version++;
    }
    // Long enough for a container that is still starting, short enough that one Docker cannot
    // answer about does not delay everyone else's rules; its answer gets a sync of its own.
    await this.#inspectDirty(Math.min(250, t.dockerTimeoutMs));
  }

  /** Removes the facts of containers unknown for longer than the grace: their address may belong to another container by now. */
  expireUnknown(): void {
    const now = this.#o.now();
    const limit = now - this.#o.timing().unknownGraceMs;
    for (const [id, since] of this.#unknownSince) {
      if (since > limit || !this.#containers.has(id)) continue;
      const name = this.#containers.get(id)?.name;
      this.#containers.delete(id);
      this.#version++;
      this.#o.log.error(
        { event: 'container-unknown', id: id.slice(0, 12), container: name, unknownMs: now - since },
        `${name ?? id.slice(0, 12)}: Docker has not answered about it for ${Math.round((now - since) / 1000)} s; its rules are removed until it does`,
      );
    }
  }

  async #inspectDirty(waitMs: number): Promise<void> {
    const ids = [...this.#dirty];
    this.#dirty.clear();
    if (ids.length === 0) return;
    const pending = ids.map((id) => this.#inspect(id));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(pending),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, waitMs);
      }),
    ]);
    clearTimeout(timer);
  }

  #inspect(id: string): Promise<void> {
    const gen = (this.#inspectGen.get(id) ?? 0) + 1;
    this.#inspectGen.set(id, gen);
    const run = this.#inspectQueue
      .add(() => this.#o.docker.inspect(id))
      .then(
        (facts) => {
          if (this.#inspectGen.get(id) !== gen || this.#stopped) return;
          this.#unknownSince.delete(id);
          if (facts) this.#containers.set(facts.id, facts);
          else this.#forget(id);
          this.#version++;
        },
        (err: unknown) => {
          if (this.#inspectGen.get(id) !== gen || this.#stopped) return;
          this.#markUnknown(id, err as Error);
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
    this.#unknownSince.delete(id);
    this.#inspectGen.delete(id);
    this.#version++;
  }

  /** Docker did not answer about this container: keep what we knew for a while, and ask again. */
  #markUnknown(id: string, err: Error): void {
    if (!this.#unknownSince.has(id)) this.#unknownSince.set(id, this.#o.now());
    const t = this.#o.timing();
    this.#o.log.warn(
      { event: 'inspect-failed', id: id.slice(0, 12), err: err.message, known: this.#containers.has(id), graceMs: t.unknownGraceMs },
      `cannot inspect ${id.slice(0, 12)}: ${err.message}; ${this.#containers.has(id) ? 'its rules stay for now' : 'nothing opened for it'}, asking again`,
    );
    const delay = Math.min(t.retryMaxMs, Math.max(t.retryMinMs, 1000));
    setTimeout(() => {
      if (this.#stopped || !this.#unknownSince.has(id)) return;
      this.#dirty.add(id);
      this.#o.onAskAgain();
    }, delay).unref();
  }
}
