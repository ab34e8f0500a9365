// What dockgate knows of Docker: running containers and networks, fed by Docker's lists and
// events, and what changed since (kube-proxy's change trackers). It owns the inspects: each has
// Docker's deadline, runs in the background, and a late or stale answer is handled here, so one
// container Docker is slow about never holds up the others.
import PQueue from 'p-queue';
import type { Logger } from 'pino';
import type { DockerEvent } from '../docker/source.js';
import type { ContainerFacts, NetworkFacts, OtherNetwork } from '../model/types.js';
import { Backoff } from './backoff.js';
import type { DockerApi } from './daemon.js';
import { errorMessage } from '../util/errors.js';

/**
 * Container events that say it stopped or is stopping. After one, its address may go to the next
 * container Docker starts, so its DNAT must not outlive the grace unless Docker confirms it running.
 * The events source passes die and destroy (every stop ends in a die); stop and kill count too
 * should it pass them.
 */
const STOP_ACTIONS: ReadonlySet<string> = new Set(['die', 'destroy', 'stop', 'kill']);

/** A stop event not yet settled by Docker (an inspect that answered, or a list that succeeded). */
interface StopEvidence {
  /** When the event arrived (now()); the grace counts from here, whatever fails afterwards. */
  readonly since: number;
  readonly action: string;
  /** Why Docker could not settle it so far, for the removal's log line. */
  lastError?: string;
  /** Asks for the sync that removes the container once the grace is over. */
  readonly timer: NodeJS.Timeout;
}

/** Why expireUnknown removed a container's facts. */
export type ExpiryReason =
  /** A stop event, and Docker confirmed neither running nor gone within the grace. */
  | 'unconfirmed_stop'
  /** Inspects kept failing for the grace, with no stop event (the container may well be running). */
  | 'unknown';

export interface Expired {
  id: string;
  reason: ExpiryReason;
}

/**
 * A backstop behind DockerApi's own deadline (DockerSource aborts each call at apiTimeoutMs): a
 * call that never settles would hold the one sync in flight, or an inspect slot, forever.
 */
const BACKSTOP_MS = 100;

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
  /**
   * Generations come from one counter for all containers, so one forgotten and asked about
   * again can never hand a new inspect the number of an old one still in flight.
   */
  #lastGen = 0;
  readonly #inspecting = new Map<string, Promise<void>>();
  readonly #inspectQueue = new PQueue({ concurrency: 16 });
  /** Containers Docker could not tell us about, since when (their last known rules stay, for a while). */
  readonly #unknownSince = new Map<string, number>();
  /** Containers an event said stopped, until Docker settles it (kept after expiry, to restore them). */
  readonly #stopping = new Map<string, StopEvidence>();
  /** After a failed list: when to try again, so that Docker recovering is noticed without an event. */
  #listRetry: { backoff: Backoff; timer: NodeJS.Timeout | undefined } | undefined;
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
    const stopping = [...this.#stopping.keys()].filter((id) => this.#containers.has(id));
    return {
      containers: [...this.#dirty, ...this.#inspecting.keys(), ...this.#unknownSince.keys(), ...stopping],
      networks: this.#networksDirty || this.#resyncAll,
    };
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
      if (STOP_ACTIONS.has(e.action)) this.#stopEvent(e.containerId, e.action);
    }
  }

  stop(): void {
    this.#stopped = true;
    this.#inspectQueue.clear();
    for (const evidence of this.#stopping.values()) clearTimeout(evidence.timer);
    clearTimeout(this.#listRetry?.timer);
  }

  /**
   * Brings the facts up to date. Inspects run in the background with their own deadline; this
   * waits for them only a bounded time (a container still starting usually answers within it).
   * A later answer calls onChange. Throws when Docker cannot be listed at all.
   */
  async refresh(): Promise<void> {
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
        for (const id of new Set([...this.#containers.keys(), ...this.#stopping.keys()])) {
          if (!running.has(id)) this.#forget(id);
        }
        for (const id of ids) this.#dirty.add(id);
        this.#version++;
        this.#listSucceeded();
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
      this.#listFailed(errorMessage(err));
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
    const now = this.#o.now();
    const limit = now - this.#o.timing().unknownGraceMs;
    const expired: Expired[] = [];
    // Stop evidence first: it is the older of the two when both apply, and the more telling.
    for (const [id, evidence] of this.#stopping) {
      const facts = this.#containers.get(id);
      if (evidence.since > limit || !facts) continue;
      this.#containers.delete(id);
      this.#version++;
      expired.push({ id, reason: 'unconfirmed_stop' });
      const s = Math.round((now - evidence.since) / 1000);
      this.#o.log.warn(
        { event: 'container-unconfirmed', id: id.slice(0, 12), container: facts.name, action: evidence.action, stoppedMs: now - evidence.since, err: evidence.lastError },
        `${facts.name}: Docker reported "${evidence.action}" ${s} s ago and has not confirmed it running since${evidence.lastError ? ` (${evidence.lastError})` : ''}; its rules are removed until it does`,
      );
    }
    for (const [id, since] of this.#unknownSince) {
      if (since > limit || !this.#containers.has(id)) continue;
      const name = this.#containers.get(id)?.name;
      this.#containers.delete(id);
      this.#version++;
      expired.push({ id, reason: 'unknown' });
      this.#o.log.error(
        { event: 'container-unknown', id: id.slice(0, 12), container: name, unknownMs: now - since },
        `${name ?? id.slice(0, 12)}: Docker has not answered about it for ${Math.round((now - since) / 1000)} s; its rules are removed until it does`,
      );
    }
    return expired;
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
    const gen = ++this.#lastGen;
    this.#inspectGen.set(id, gen);
    const run = this.#inspectQueue
      .add(() => this.#deadline(this.#o.docker.inspect(id), `docker inspect ${id.slice(0, 12)}`))
      .then(
        (facts) => {
          if (this.#inspectGen.get(id) !== gen || this.#stopped) return;
          this.#unknownSince.delete(id);
          // Asked after the newest stop event (which bumps the generation): settles it either way.
          this.#settleStop(id);
          if (facts) this.#containers.set(facts.id, facts);
          else this.#forget(id);
          this.#version++;
        },
        (err: unknown) => {
          if (this.#inspectGen.get(id) !== gen || this.#stopped) return;
          this.#markUnknown(id, errorMessage(err));
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
    this.#settleStop(id);
    this.#inspectGen.delete(id);
    this.#version++;
  }

  /** A die/stop/kill/destroy event: from now on only an answer asked after it can keep the rules. */
  #stopEvent(id: string, action: string): void {
    // An inspect already in flight was asked before the event; its "running" proves nothing.
    this.#inspectGen.set(id, ++this.#lastGen);
    // The first event of a kill → die → stop sequence starts the grace; later ones do not extend it.
    if (this.#stopping.has(id)) return;
    const graceMs = this.#o.timing().unknownGraceMs;
    const timer = setTimeout(() => {
      if (!this.#stopped && this.#stopping.get(id)?.timer === timer) this.#o.onAskAgain();
    }, graceMs);
    timer.unref();
    this.#stopping.set(id, { since: this.#o.now(), action, timer });
  }

  #settleStop(id: string): void {
    const evidence = this.#stopping.get(id);
    if (!evidence) return;
    clearTimeout(evidence.timer);
    this.#stopping.delete(id);
  }

  /** A Docker call cut at Docker's deadline (plus the backstop's slack) if it has none of its own that fires. */
  #deadline<T>(call: Promise<T>, what: string): Promise<T> {
    const ms = this.#o.timing().dockerTimeoutMs + BACKSTOP_MS;
    let timer: NodeJS.Timeout | undefined;
    const cut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    });
    return Promise.race([call, cut]).finally(() => clearTimeout(timer));
  }

  #listSucceeded(): void {
    clearTimeout(this.#listRetry?.timer);
    this.#listRetry = undefined;
  }

  /**
   * Until a list succeeds, ask again with backoff: a stop event may be waiting for it, and a
   * container removed at the grace comes back only when Docker is read again, event or not.
   */
  #listFailed(message: string): void {
    for (const evidence of this.#stopping.values()) evidence.lastError = message;
    if (this.#stopped) return;
    const t = this.#o.timing();
    this.#listRetry ??= { backoff: new Backoff(t.retryMinMs, t.retryMaxMs), timer: undefined };
    const retry = this.#listRetry;
    clearTimeout(retry.timer);
    retry.timer = setTimeout(() => {
      retry.timer = undefined;
      if (!this.#stopped) this.#o.onAskAgain();
    }, retry.backoff.take());
    retry.timer.unref();
  }

  /** Docker did not answer about this container: keep what we knew for a while, and ask again. */
  #markUnknown(id: string, message: string): void {
    if (!this.#unknownSince.has(id)) this.#unknownSince.set(id, this.#o.now());
    const evidence = this.#stopping.get(id);
    if (evidence) evidence.lastError = message;
    const t = this.#o.timing();
    this.#o.log.warn(
      { event: 'inspect-failed', id: id.slice(0, 12), err: message, known: this.#containers.has(id), graceMs: t.unknownGraceMs },
      `cannot inspect ${id.slice(0, 12)}: ${message}; ${this.#containers.has(id) ? 'its rules stay for now' : 'nothing opened for it'}, asking again`,
    );
    const delay = Math.min(t.retryMaxMs, Math.max(t.retryMinMs, 1000));
    setTimeout(() => {
      if (this.#stopped || !this.#unknownSince.has(id)) return;
      this.#dirty.add(id);
      this.#o.onAskAgain();
    }, delay).unref();
  }
}
