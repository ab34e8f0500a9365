// One sync: bring the facts up to date, plan (only when something it depends on changed), write,
// settle the host. Run by the SyncRunner, one at a time; remembers what the last written plan
// was made from, so that a drift check with nothing new reuses it instead of planning again.
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { type SyncTarget, handOver, kernelOf, rawMissingOf } from '../dataplane/families.js';
import { RestoreError } from '../dataplane/iptables.js';
import type { DaemonMetrics } from '../metrics/metrics.js';
import type { Family, Listener, RuleSet } from '../model/types.js';
import { planInput } from '../plan/input.js';
import { mayClaim } from '../plan/ownership.js';
import { PlanCache, buildRuleSet } from '../plan/ruleset.js';
import { Backoff } from '../util/backoff.js';
import type { BridgeSync } from './bridge-sync.js';
import { ChangeLog } from './change-log.js';
import type { EgressSync } from './egress-sync.js';
import type { FactStore } from './fact-store.js';
import type { ForeignSync } from './foreign-sync.js';
import type { HostSocketWatch } from './host-socket-watch.js';
import type { HostSync } from './host-sync.js';
import type { Ipv6Watch } from './ipv6-watch.js';
import type { RunOutcome } from '../util/sync-runner.js';
import { ResolvConfReader, logDrift, logRawMissing } from './sync-report.js';
import type { ResolvConfWatch } from '../egress/resolv-conf-watch.js';
import { howEnded } from '../dataplane/command-queue.js';
import { errorMessage } from '../util/errors.js';

export interface SyncCycleOptions {
  log: Logger;
  /** Read at each use: a reload changes it. */
  config: () => Config;
  facts: FactStore;
  host: HostSync;
  bridge: BridgeSync;
  foreign: ForeignSync;
  egress: EgressSync;
  sockets: HostSocketWatch;
  ipv6: Ipv6Watch;
  metrics: DaemonMetrics | undefined;
  readListeners: () => Promise<Listener[]>;
  makeDataplane: (config: Config, ipv6: boolean) => SyncTarget;
  /** Docker events seen so far, for the debug log. */
  events: () => number;
  /** A full check's read took this long: it paces the next one. */
  checked: (readMs: number) => void;
  /** The first rule set is in place. */
  ready: () => void;
  /** Another sync is due at once (the kernel's limits changed what can be planned). */
  again: () => void;
  /** The resolv.conf watcher, while there is one: its reading replaces reading the file. */
  resolvWatch?: () => ResolvConfWatch | undefined;
}

/** What a plan was made from; a sync whose inputs all equal the last written plan's reuses it. */
interface PlanKey {
  version: number;
  /** The families the host routed in of its own accord (PlanInput.adminRouting). */
  routing: string;
  /** The nameservers (resolv.conf) allow-listed containers may reach. */
  resolvers: string;
  /** Whether the plan matched on name sets (false once ipset turned out missing). */
  names: boolean;
}

const sameKey = (a: PlanKey | undefined, b: PlanKey): boolean =>
  a !== undefined && a.version === b.version && a.routing === b.routing && a.resolvers === b.resolvers && a.names === b.names;

type Phases = { factsMs: number; planMs: number; writeMs: number; hostMs: number };

export class SyncCycle {
  readonly #o: SyncCycleOptions;
  readonly #planCache = new PlanCache();
  readonly #changes: ChangeLog;
  readonly #resolvConf: ResolvConfReader;
  #plan: RuleSet | undefined;
  #planned: PlanKey | undefined;
  /**
   * The families planned without the raw table (PlanInput.rawMissing), which is also what the log
   * last said about it: one warning when a kernel turns out to lack it, one line when it is back.
   */
  #rawMissing: Family[] = [];
  #dataplane: SyncTarget | undefined;
  /** The dataplane a renewal replaced, until the next is made: what it knows of the kernel is handed over. */
  #previous: SyncTarget | undefined;
  /**
   * Dataplanes made by a renewal that have not written yet and took nothing over (other programs,
   * a new family): knowing nothing of what the old one wrote, the first write compares the kernel
   * with the new plan, so the new plan's changes would read as drift. It repairs, reporting none.
   */
  readonly #fresh = new WeakSet<SyncTarget>();
  #renewed = false;
  /** Restores of the dataplanes replaced so far (a reload, IPv6 arriving). */
  #restoresBefore = 0;
  #retry: Backoff;

  constructor(options: SyncCycleOptions) {
    this.#o = options;
    this.#changes = new ChangeLog(options.log);
    this.#resolvConf = new ResolvConfReader(options.log, options.resolvWatch);
    this.#retry = this.#newRetry();
  }

  /** The last plan written. */
  get plan(): RuleSet | undefined {
    return this.#plan;
  }

  /** The facts version the last written plan was built from. */
  get plannedVersion(): number {
    return this.#planned?.version ?? 0;
  }

  get restores(): number {
    return this.#restoresBefore + (this.#dataplane?.restores ?? 0);
  }

  /** A new config (or family): a new dataplane, taking over what the old one wrote where it writes the same kernel (handOver). */
  renew(): void {
    this.#restoresBefore = this.restores;
    this.#previous = this.#dataplane ?? this.#previous;
    this.#dataplane = undefined;
    this.#rawMissing = [];
    this.#renewed = true;
  }

  /** A reload: a new dataplane, and the retry delays of the new config. */
  reload(): void {
    this.renew();
    this.#retry = this.#newRetry();
  }

  async run(full: boolean): Promise<RunOutcome> {
    const { facts, log } = this.#o;
    // Where a sync's time goes, for the debug log and the benchmark's event → kernel breakdown.
    const t0 = performance.now();
    try {
      await facts.refresh();
    } catch (err) {
      // Docker is away: keep enforcing what we know; the watcher reconnects and resyncs.
      facts.resync();
      log.warn({ event: 'docker-error', err: errorMessage(err) }, `reading Docker state failed: ${errorMessage(err)}`);
    }
    if (!facts.haveFacts) return { ok: true };
    if (this.#o.ipv6.takeArrival()) this.renew();
    for (const { reason } of facts.expireUnknown()) this.#o.metrics?.expired(reason);
    const t1 = performance.now();
    const { plan, key } = await this.#planNow();
    // Containers dirty again, still being inspected or unanswered: this plan lacks their newest facts.
    this.#o.metrics?.planned(facts.pending);
    const t2 = performance.now();
    return this.#write(plan, key, full, { factsMs: t1 - t0, planMs: t2 - t1, writeMs: 0, hostMs: 0 });
  }

  async #dataplaneNow(): Promise<SyncTarget> {
    if (this.#dataplane) return this.#dataplane;
    const ipv6 = await this.#o.ipv6.has();
    if (this.#dataplane) return this.#dataplane;
    const made = this.#o.makeDataplane(this.#o.config(), ipv6);
    const previous = this.#previous;
    this.#previous = undefined;
    if (!(previous !== undefined && handOver(previous, made)) && this.#renewed) this.#fresh.add(made);
    // Made before this sync plans: a family whose kernel is known to lack raw is planned without it.
    this.#rawMissing = rawMissingOf(made);
    this.#renewed = false;
    return (this.#dataplane = made);
  }

  async #planNow(): Promise<{ plan: RuleSet; key: PlanKey }> {
    const { facts, host, egress } = this.#o;
    const config = this.#o.config();
    const version = facts.version;
    // The admin sets all.forwarding with no Docker event: read each time (two small files), and
    // a change re-plans like new facts do.
    const adminRouting = await host.adminRouting();
    const resolvers = await this.#resolvConf.servers(config.egress.resolvConf);
    egress.setServers(resolvers);
    const key: PlanKey = { version, routing: adminRouting.join(), resolvers: resolvers.join(), names: egress.available };
    // A drift check with no new facts reuses the last plan instead of re-planning every second.
    if (this.#plan !== undefined && sameKey(this.#planned, key)) return { plan: this.#plan, key };
    const containers = facts.containers;
    let listeners: Listener[] | undefined;
    if (mayClaim(containers, config.labelPrefix)) {
      try {
        listeners = await this.#o.readListeners();
      } catch (err) {
        this.#o.log.warn({ event: 'listeners-unreadable', err: errorMessage(err) }, `cannot read the host's listening sockets: ${errorMessage(err)}`);
      }
    }
    // The claims the last written plan granted: a host process that binds such a port since
    // is reported, not obeyed. A container that stopped is absent from `containers`, and a
    // restarted one has a new start time, so their claims are judged again.
    const granted = this.#plan?.granted;
    const hostSockets = await this.#o.sockets.forPlan(containers);
    // The host end of each new container's interfaces, for anti-spoofing: found before the plan,
    // so that a container's source-keyed rules and the hold on its port are written together.
    const bridgePorts = await this.#o.bridge.ports(kernelOf(await this.#dataplaneNow()), containers, facts.networks);
    const ipv6 = await this.#o.ipv6.has();
    const input = planInput(config, { containers, networks: facts.networks, otherNetworks: facts.otherNetworks, listeners, granted, ipv6, bridgePorts, adminRouting, resolvers, hostSockets });
    const plan = buildRuleSet({ ...input, rawMissing: this.#rawMissing, egressNames: egress.available }, this.#planCache);
    return { plan, key };
  }

  async #write(plan: RuleSet, key: PlanKey, repair: boolean, phases: Phases): Promise<RunOutcome> {
    const { egress, facts } = this.#o;
    const t2 = performance.now();
    try {
      const dataplane = await this.#dataplaneNow();
      await this.#o.foreign.beforeWrite(plan);
      await egress.beforeWrite(plan, repair);
      const result = repair ? await dataplane.repair(plan) : await dataplane.sync(plan);
      const renewed = this.#fresh.delete(dataplane);
      await egress.afterWrite(plan, repair);
      const t3 = performance.now();
      phases.writeMs = t3 - t2;
      this.#o.metrics?.committed(plan, dataplane);
      // Paced on the read alone: a slow write or a busy queue must not delay the next check.
      if (repair && result.readMs !== undefined) this.#o.checked(result.readMs);
      const firstWrite = this.#plan === undefined;
      const previous = this.#plan;
      this.#plan = plan;
      this.#planned = key;
      await this.#o.host.apply(plan, previous, facts.networks);
      // The dataplane now, not the one that wrote: a reload meanwhile dropped it.
      const kernel = kernelOf(this.#dataplane);
      await this.#o.bridge.apply(plan, kernel, repair || firstWrite);
      await this.#o.foreign.sync(plan, kernel);
      this.#kernelLimits();
      phases.hostMs = performance.now() - t3;
      this.#retry.reset();
      if (!firstWrite && !renewed && result.drift && !result.drift.clean) logDrift(this.#o.log, this.#o.metrics, result.drift, result.durationMs);
      this.#logWritten(plan, result, phases, firstWrite);
      if (firstWrite) this.#o.ready();
      return { ok: true };
    } catch (err) {
      return this.#failed(err);
    }
  }

  #logWritten(plan: RuleSet, result: Awaited<ReturnType<SyncTarget['sync']>>, phases: Phases, firstWrite: boolean): void {
    const { log } = this.#o;
    if (result.kind !== 'none' || firstWrite) {
      const round = (v: number): number => Math.round(v * 10) / 10;
      log.debug(
        {
          event: 'sync',
          kind: result.kind,
          tables: result.tables,
          durationMs: round(result.durationMs),
          phases: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, round(v)])),
          restores: this.restores,
          events: this.#o.events(),
        },
        'rules written',
      );
    }
    this.#changes.written(plan.containers, result.durationMs);
    if (firstWrite) {
      log.info(
        { event: 'ready', containers: plan.containers.length, networks: this.#o.facts.networks.length, kind: result.kind, durationMs: Math.round(result.durationMs) },
        `rules in place for ${plan.containers.length} containers`,
      );
    }
  }

  #failed(err: unknown): RunOutcome {
    const delay = this.#retry.take();
    this.#o.metrics?.failed(err, this.#dataplane);
    if (err instanceof RestoreError) {
      this.#o.log.error(
        { event: 'restore-failed', ended: howEnded(err.ended), stderr: err.stderr, failingLines: err.failingLines, retryInMs: delay },
        `${err.message}; previous rules kept, retrying in ${delay} ms`,
      );
    } else {
      this.#o.log.error({ event: 'sync-failed', err: errorMessage(err), retryInMs: delay }, `sync failed: ${errorMessage(err)}`);
    }
    // The runner retries on a timer, in full: new events are served meanwhile.
    return { ok: false, retryInMs: delay };
  }

  /**
   * A write finds out whether the kernel has the raw table (a refusal, dataplane/kernel-limits.ts);
   * a full check finds it back. Either way the drops raw holds must be planned anew, at once.
   */
  #kernelLimits(): void {
    const now = rawMissingOf(this.#dataplane);
    if (now.join() === this.#rawMissing.join()) return;
    logRawMissing(this.#o.log, this.#rawMissing, now);
    this.#rawMissing = now;
    this.#o.facts.changed();
    this.#o.again();
  }

  #newRetry(): Backoff {
    const { retryMinMs, retryMaxMs } = this.#o.config().sync;
    return new Backoff(retryMinMs, retryMaxMs);
  }
}
