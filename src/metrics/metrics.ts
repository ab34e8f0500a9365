// The Prometheus metrics (metrics.listen, off by default). The daemon calls the narrow hooks of
// DaemonMetrics at a few points of its cycle; everything here is bookkeeping on what it reports,
// so the daemon stays the one place that decides anything.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CommandDone } from '../dataplane/command-queue.js';
import { RestoreError } from '../dataplane/iptables.js';
import { CommandMetrics } from './commands.js';
import type { ExpiryReason } from '../daemon/fact-expiry.js';
import type { DockerEvent } from '../docker/source.js';
import type { Family, Mode, RuleSet } from '../model/types.js';
import type { DriftReport } from '../plan/kernel-state.js';

/** What the daemon tells its metrics (src/daemon/daemon.ts calls each from one line). */
export interface DaemonMetrics {
  /** A Docker event that can change the rules arrived. */
  eventSeen(event: DockerEvent): void;
  /**
   * A cycle settled on the plan it is about to write. `stale`: containers whose newest facts it
   * does not hold (dirty again, still being inspected, or Docker not answering about them), and
   * whether the network list is behind; their events wait for a later plan.
   */
  planned(stale: { containers: Iterable<string>; networks: boolean }): void;
  /** That plan is committed to the kernel (the dataplane's sync or repair returned). */
  committed(plan: RuleSet, dataplane: RestoreCounter): void;
  /** The cycle failed after planning; `dataplane` is the one that tried, if it was made. */
  failed(err: unknown, dataplane: RestoreCounter | undefined): void;
  /** A drift report whose every entry was repaired (the daemon logs each as drift-repaired). */
  drift(report: DriftReport): void;
  /** One repair outside the drift report (dockgate's accept in another firewall's chain). */
  driftRepaired(kind: DriftKind): void;
  /** A container's rules were removed because Docker did not report its state within the grace. */
  expired(reason: ExpiryReason): void;
  /** Where the egress name figures are read at each scrape (daemon/egress-sync.ts). */
  egress?(source: () => EgressSnapshot): void;
  /** A process the command queue ran has ended (daemon/command-log.ts). */
  commandDone?(c: CommandDone): void;
}

/** The DNS names of egress allow-lists, as a scrape sees them. */
export interface EgressSnapshot {
  /** Answers with at least one address, and attempts that got none, since start. */
  resolutions: number;
  failures: number;
  /** Each set the committed plan matches on, with the addresses it holds now. */
  sets: Array<{ set: string; name: string; family: Family; size: number }>;
}

/** The dataplane as far as restores go: a single family, or both (FamilyDataplanes). */
export type RestoreCounter =
  | { readonly restores: number; readonly v4: { readonly restores: number }; readonly v6?: { readonly restores: number } | undefined }
  | { readonly restores: number; readonly iptables?: { readonly family?: Family } };

export const DRIFT_KINDS = ['chain_missing', 'chain_changed', 'chain_extra', 'jump_missing', 'jump_duplicated', 'stray_jump', 'footprint_missing'] as const;
export type DriftKind = (typeof DRIFT_KINDS)[number];

const EXPIRY_REASONS: readonly ExpiryReason[] = ['unconfirmed_stop', 'unknown'];
const MODES: readonly Mode[] = ['proxy', 'dnat'];
const FAMILIES: readonly Family[] = [4, 6];

/** From tens of milliseconds (the goal) to a minute (a retry after a long outage). */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * Events waiting for their commit are kept one by one (one observation each); while writes keep
 * failing they pile up, so past this many the oldest are dropped rather than memory growing.
 */
const MAX_PENDING = 10_000;

interface PendingEvent {
  /** Milliseconds since the epoch at which Docker says it happened. */
  at: number;
  containerId: string | undefined;
}

export interface DockgateMetricsOptions {
  /** The command queue's length, read at each scrape. */
  queue?: { readonly pending: number };
  /** Milliseconds since the epoch (the clock Docker's timeNano is on); tests pass a fake. */
  now?: () => number;
  /** collectDefaultMetrics (process_*, nodejs_*); tests turn it off to read only dockgate's. */
  processMetrics?: boolean;
}

export class DockgateMetrics implements DaemonMetrics {
  readonly registry = new Registry();
  readonly #now: () => number;
  /** Seen, not yet in a plan that holds their facts. */
  #pending: PendingEvent[] = [];
  /** In the plan being written now: observed when it is committed, back to pending if it fails. */
  #writing: PendingEvent[] = [];
  /** Restores already counted, per dataplane object (a reload makes a new one that starts at 0). */
  readonly #restoresSeen = new WeakMap<object, Map<Family, number>>();

  readonly latency: Histogram;
  readonly restores: Counter<'family'>;
  readonly restoreFailures: Counter<'family'>;
  readonly driftRepairs: Counter<'kind'>;
  readonly expiries: Counter<'reason'>;
  #egressSource: (() => EgressSnapshot) | undefined;
  readonly labelErrors: Gauge;
  readonly containers: Gauge;
  readonly openings: Gauge<'mode' | 'family'>;
  readonly queueLength: Gauge;
  readonly commands: CommandMetrics;

  constructor(options: DockgateMetricsOptions = {}) {
    this.#now = options.now ?? (() => Date.now());
    const registers = [this.registry];
    this.latency = new Histogram({
      name: 'dockgate_event_to_rules_seconds',
      help: "From a Docker event (its own timeNano) to the commit of the first rule set planned with that event's facts; one observation per event",
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.restores = new Counter({ name: 'dockgate_restores_total', help: 'iptables-restore runs (ip6tables-restore for family 6)', labelNames: ['family'], registers });
    this.restoreFailures = new Counter({
      name: 'dockgate_restore_failures_total',
      help: 'iptables-restore runs that failed (the write is retried with backoff)',
      labelNames: ['family'],
      registers,
    });
    this.driftRepairs = new Counter({
      name: 'dockgate_drift_repairs_total',
      help: 'Repairs of rules someone else changed: a dockgate chain missing, changed or extra, a jump missing or duplicated, a stray jump, the accept in another firewall missing',
      labelNames: ['kind'],
      registers,
    });
    this.expiries = new Counter({
      name: 'dockgate_containers_expired_total',
      help: 'Containers whose rules were removed because Docker did not report their state within sync.unknown_grace_ms: unconfirmed_stop (a die or destroy event, never confirmed running), unknown (inspects kept failing)',
      labelNames: ['reason'],
      registers,
    });
    this.labelErrors = new Gauge({ name: 'dockgate_label_errors', help: 'Containers whose dockgate labels have errors (they get no openings)', registers });
    this.containers = new Gauge({ name: 'dockgate_containers', help: 'Running containers in the committed plan', registers });
    this.openings = new Gauge({
      name: 'dockgate_openings',
      help: 'Openings (host address, port and protocol leading to a container) in the committed plan',
      labelNames: ['mode', 'family'],
      registers,
    });
    const queue = options.queue;
    this.queueLength = new Gauge({
      name: 'dockgate_queue_length',
      help: 'Commands (iptables-restore, iptables-save, conntrack, ...) queued or running in the one command queue',
      registers,
      collect() {
        this.set(queue?.pending ?? 0);
      },
    });
    const egress = (): EgressSnapshot | undefined => this.#egressSource?.();
    registerEgressMetrics(registers, egress);
    this.commands = new CommandMetrics(registers);
    // Every series exists from the start: a dashboard shows 0, not "no data", until it moves.
    for (const family of FAMILIES) {
      this.restores.inc({ family }, 0);
      this.restoreFailures.inc({ family }, 0);
      for (const mode of MODES) this.openings.set({ mode, family }, 0);
    }
    for (const kind of DRIFT_KINDS) this.driftRepairs.inc({ kind }, 0);
    for (const reason of EXPIRY_REASONS) this.expiries.inc({ reason }, 0);
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  eventSeen(event: DockerEvent): void {
    // Docker's own time, not ours: the wait in Docker's event stream is part of the latency.
    const at = event.timeNano !== undefined ? Number(event.timeNano / 1000n) / 1000 : this.#now();
    this.#pending.push({ at, containerId: event.containerId });
    if (this.#pending.length > MAX_PENDING) this.#pending.splice(0, this.#pending.length - MAX_PENDING);
  }

  planned(stale: { containers: Iterable<string>; networks: boolean }): void {
    // A plan that never reached commit (nothing reported back) leaves its events waiting.
    const waiting = [...this.#writing, ...this.#pending];
    const staleIds = new Set(stale.containers);
    const inPlan = (e: PendingEvent): boolean => (e.containerId === undefined ? !stale.networks : !staleIds.has(e.containerId));
    this.#writing = waiting.filter(inPlan);
    this.#pending = waiting.filter((e) => !inPlan(e));
  }

  committed(plan: RuleSet, dataplane: RestoreCounter): void {
    const now = this.#now();
    // Clamped: Docker on another host (tcp://) may have a clock slightly ahead of ours.
    for (const e of this.#writing) this.latency.observe(Math.max(0, now - e.at) / 1000);
    this.#writing = [];
    this.#countRestores(dataplane);
    this.containers.set(plan.containers.length);
    this.labelErrors.set(plan.containers.filter((c) => c.errors.length > 0).length);
    const openings = new Map<string, number>();
    for (const c of plan.containers) for (const o of c.openings) openings.set(`${o.mode}/${o.family}`, (openings.get(`${o.mode}/${o.family}`) ?? 0) + 1);
    for (const family of FAMILIES) for (const mode of MODES) this.openings.set({ mode, family }, openings.get(`${mode}/${family}`) ?? 0);
  }

  failed(err: unknown, dataplane: RestoreCounter | undefined): void {
    // Not committed: the retry (or the next cycle) writes these events' change, and observes them.
    this.#pending = [...this.#writing, ...this.#pending];
    this.#writing = [];
    const last = dataplane ? this.#countRestores(dataplane) : undefined;
    // Families are written one after the other and the first failure stops the write, so the
    // family that failed is the last one whose restore count rose in this attempt.
    if (err instanceof RestoreError) this.restoreFailures.inc({ family: last ?? 4 });
  }

  drift(report: DriftReport): void {
    for (const c of report.chains) this.driftRepaired(`chain_${c.problem}`);
    for (const j of report.jumps) this.driftRepaired(j.count === 0 ? 'jump_missing' : 'jump_duplicated');
    for (const _ of report.strays) this.driftRepaired('stray_jump');
  }

  driftRepaired(kind: DriftKind): void {
    this.driftRepairs.inc({ kind });
  }

  egress(source: () => EgressSnapshot): void {
    this.#egressSource = source;
  }

  commandDone(c: CommandDone): void {
    this.commands.done(c);
  }

  expired(reason: ExpiryReason): void {
    this.expiries.inc({ reason });
  }

  /** Events seen but not yet committed (tests, and a sanity bound). */
  get waiting(): number {
    return this.#pending.length + this.#writing.length;
  }

  /** Adds the restores run since last asked; returns the last family (4 before 6) that ran any. */
  #countRestores(dataplane: RestoreCounter): Family | undefined {
    let seen = this.#restoresSeen.get(dataplane);
    if (!seen) this.#restoresSeen.set(dataplane, (seen = new Map()));
    const now: Array<[Family, number]> =
      'v4' in dataplane
        ? [[4, dataplane.v4.restores], ...(dataplane.v6 ? [[6, dataplane.v6.restores] as [Family, number]] : [])]
        : [[dataplane.iptables?.family ?? 4, dataplane.restores]];
    let last: Family | undefined;
    for (const [family, count] of now) {
      const before = seen.get(family) ?? 0;
      if (count > before) {
        this.restores.inc({ family }, count - before);
        last = family;
      }
      seen.set(family, count);
    }
    return last;
  }
}

/** The egress resolver's counts and name sets, read from its snapshot when scraped. */
function registerEgressMetrics(registers: Registry[], egress: () => EgressSnapshot | undefined): void {
  new Counter({
    name: 'dockgate_egress_resolutions_total',
    help: 'Answers to the DNS names of egress allow-lists that gave at least one address',
    registers,
    collect() {
      this.reset();
      this.inc(egress()?.resolutions ?? 0);
    },
  });
  new Counter({
    name: 'dockgate_egress_resolution_failures_total',
    help: 'Attempts to resolve an egress name that gave no address (no such name, no records, timeout); each allows nothing new',
    registers,
    collect() {
      this.reset();
      this.inc(egress()?.failures ?? 0);
    },
  });
  new Gauge({
    name: 'dockgate_egress_set_members',
    help: 'Addresses an egress name set allows now (its answers within max(TTL, 30 s) + egress.dns_grace_s)',
    labelNames: ['set', 'name', 'family'],
    registers,
    collect() {
      this.reset();
      for (const s of egress()?.sets ?? []) this.set({ set: s.set, name: s.name, family: String(s.family) }, s.size);
    },
  });
}
