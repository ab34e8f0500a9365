// When the fact store stops trusting what it knows of a container: after a stop event Docker
// does not confirm or refute, or after inspects that keep failing, for longer than the grace.
// Its address may belong to another container by then, so its rules must go.
import type { Logger } from 'pino';
import type { ContainerFacts } from '../model/types.js';
import { Backoff } from '../util/backoff.js';
import type { Clock, TimerHandle } from '../util/clock.js';

/**
 * Container events that say it stopped or is stopping. After one, its address may go to the next
 * container Docker starts, so its DNAT must not outlive the grace unless Docker confirms it running.
 * The events source passes die and destroy (every stop ends in a die); stop and kill count too
 * should it pass them.
 */
export const STOP_ACTIONS: ReadonlySet<string> = new Set(['die', 'destroy', 'stop', 'kill']);

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

export interface FactTiming {
  dockerTimeoutMs: number;
  unknownGraceMs: number;
  retryMinMs: number;
  retryMaxMs: number;
}

/** A stop event not yet settled by Docker (an inspect that answered, or a list that succeeded). */
interface StopEvidence {
  /** When the event arrived (now()); the grace counts from here, whatever fails afterwards. */
  readonly since: number;
  readonly action: string;
  /** Why Docker could not settle it so far, for the removal's log line. */
  lastError?: string;
  /** Asks for the sync that removes the container once the grace is over. */
  readonly timer: TimerHandle;
}

export interface FactExpiryOptions {
  log: Logger;
  clock: Clock;
  /** Read at each use: a reload changes it. */
  timing: () => FactTiming;
  stopped: () => boolean;
  /** A grace ran out: a sync should remove the container. */
  askAgain: () => void;
  /** Docker did not answer about this container: ask it again. */
  reinspect: (id: string) => void;
}

export class FactExpiry {
  readonly #o: FactExpiryOptions;
  /** Containers Docker could not tell us about, since when (their last known rules stay, for a while). */
  readonly #unknownSince = new Map<string, number>();
  /** Containers an event said stopped, until Docker settles it (kept after expiry, to restore them). */
  readonly #stopping = new Map<string, StopEvidence>();
  /** After a failed list: when to try again, so that Docker recovering is noticed without an event. */
  #listRetry: { backoff: Backoff; timer: TimerHandle | undefined } | undefined;

  constructor(options: FactExpiryOptions) {
    this.#o = options;
  }

  get unknown(): string[] {
    return [...this.#unknownSince.keys()];
  }

  get stopping(): string[] {
    return [...this.#stopping.keys()];
  }

  /** A die/stop/kill/destroy event. The first of a kill → die → stop sequence starts the grace; later ones do not extend it. */
  stopEvent(id: string, action: string): void {
    if (this.#stopping.has(id)) return;
    const { clock } = this.#o;
    const timer = clock.setTimeout(() => {
      if (!this.#o.stopped() && this.#stopping.get(id)?.timer === timer) this.#o.askAgain();
    }, this.#o.timing().unknownGraceMs);
    timer.unref();
    this.#stopping.set(id, { since: clock.now(), action, timer });
  }

  /** Docker answered about it (running, or gone): known again, and any stop event settled. */
  settled(id: string): void {
    this.#unknownSince.delete(id);
    const evidence = this.#stopping.get(id);
    if (!evidence) return;
    this.#o.clock.clearTimeout(evidence.timer);
    this.#stopping.delete(id);
  }

  /** Docker did not answer about this container: keep what we knew for a while, and ask again. */
  inspectFailed(id: string, message: string, known: boolean): void {
    const { clock } = this.#o;
    if (!this.#unknownSince.has(id)) this.#unknownSince.set(id, clock.now());
    const evidence = this.#stopping.get(id);
    if (evidence) evidence.lastError = message;
    const t = this.#o.timing();
    this.#o.log.warn(
      { event: 'inspect-failed', id: id.slice(0, 12), err: message, known, graceMs: t.unknownGraceMs },
      `cannot inspect ${id.slice(0, 12)}: ${message}; ${known ? 'its rules stay for now' : 'nothing opened for it'}, asking again`,
    );
    const delay = Math.min(t.retryMaxMs, Math.max(t.retryMinMs, 1000));
    clock
      .setTimeout(() => {
        if (!this.#o.stopped() && this.#unknownSince.has(id)) this.#o.reinspect(id);
      }, delay)
      .unref();
  }

  listSucceeded(): void {
    this.#o.clock.clearTimeout(this.#listRetry?.timer);
    this.#listRetry = undefined;
  }

  /**
   * Until a list succeeds, ask again with backoff: a stop event may be waiting for it, and a
   * container removed at the grace comes back only when Docker is read again, event or not.
   */
  listFailed(message: string): void {
    for (const evidence of this.#stopping.values()) evidence.lastError = message;
    if (this.#o.stopped()) return;
    const { clock } = this.#o;
    const t = this.#o.timing();
    this.#listRetry ??= { backoff: new Backoff(t.retryMinMs, t.retryMaxMs), timer: undefined };
    const retry = this.#listRetry;
    clock.clearTimeout(retry.timer);
    retry.timer = clock.setTimeout(() => {
      retry.timer = undefined;
      if (!this.#o.stopped()) this.#o.askAgain();
    }, retry.backoff.take());
    retry.timer.unref();
  }

  /** The containers whose grace is over (logged here); the store removes their facts. */
  due(containers: ReadonlyMap<string, ContainerFacts>): Expired[] {
    const now = this.#o.clock.now();
    const limit = now - this.#o.timing().unknownGraceMs;
    const expired: Expired[] = [];
    // Stop evidence first: it is the older of the two when both apply, and the more telling.
    for (const [id, evidence] of this.#stopping) {
      const facts = containers.get(id);
      if (evidence.since > limit || !facts) continue;
      expired.push({ id, reason: 'unconfirmed_stop' });
      const s = Math.round((now - evidence.since) / 1000);
      this.#o.log.warn(
        { event: 'container-unconfirmed', id: id.slice(0, 12), container: facts.name, action: evidence.action, stoppedMs: now - evidence.since, err: evidence.lastError },
        `${facts.name}: Docker reported "${evidence.action}" ${s} s ago and has not confirmed it running since${evidence.lastError ? ` (${evidence.lastError})` : ''}; its rules are removed until it does`,
      );
    }
    for (const [id, since] of this.#unknownSince) {
      if (since > limit || !containers.has(id) || expired.some((e) => e.id === id)) continue;
      const name = containers.get(id)?.name;
      expired.push({ id, reason: 'unknown' });
      this.#o.log.error(
        { event: 'container-unknown', id: id.slice(0, 12), container: name, unknownMs: now - since },
        `${name ?? id.slice(0, 12)}: Docker has not answered about it for ${Math.round((now - since) / 1000)} s; its rules are removed until it does`,
      );
    }
    return expired;
  }

  stop(): void {
    for (const evidence of this.#stopping.values()) this.#o.clock.clearTimeout(evidence.timer);
    this.#o.clock.clearTimeout(this.#listRetry?.timer);
  }
}
