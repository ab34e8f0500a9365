// Wires Docker facts → plan → dataplane. Single-flight: at most one sync cycle runs at a time;
// events that arrive meanwhile only mark what is dirty, so a burst coalesces into few writes.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { CommandQueue, howEnded, succeeded } from '../dataplane/command-queue.js';
import { Dataplane } from '../dataplane/dataplane.js';
import { Conntrack } from '../dataplane/conntrack.js';
import { Iptables, RestoreError, backendOf } from '../dataplane/iptables.js';
import { Sysctl } from '../dataplane/sysctl.js';
import type { DockerEvent, DockerSource, EventSubscription } from '../docker/source.js';
import { SwarmNodeError, inSwarm, joinedSwarmMessage } from '../docker/info.js';
import { readListeners } from '../dataplane/listeners.js';
import { readHostSocketsIn } from '../dataplane/host-sockets.js';
import { HostSocketWatch, type HostSocketWatchOptions } from './host-socket-watch.js';
import { readResolvConf } from '../egress/resolv-conf.js';
import { EgressSync } from './egress-sync.js';
import { NftMonitor } from '../dataplane/nft-monitor.js';
import { FamilyDataplanes, type Ipv6Probe, type SyncTarget, ip6tablesOptions, probeIpv6Support, rawMissingOf } from '../dataplane/families.js';
import { rawBackMessage, rawMissingMessage } from '../dataplane/kernel-limits.js';
import type { ContainerFacts, Family, Listener, RuleSet } from '../model/types.js';
import { planInput } from '../plan/input.js';
import { mayClaim } from '../plan/ownership.js';
import type { DriftReport } from '../plan/kernel-state.js';
import { PlanCache, buildRuleSet } from '../plan/ruleset.js';
import { Backoff } from './backoff.js';
import { FactStore } from './fact-store.js';
import { ForeignSync } from './foreign-sync.js';
import { BridgeSync } from './bridge-sync.js';
import { HostSync } from './host-sync.js';
import { type RunOutcome, SyncRunner } from './sync-runner.js';
import { ChangeLog } from './change-log.js';
import type { DaemonMetrics } from '../metrics/metrics.js';
import { errorMessage } from '../util/errors.js';

/** What the daemon needs of Docker (docker/source.ts; tests pass a fake). */
export type DockerApi = Pick<DockerSource, 'host' | 'apiTimeoutMs' | 'listAllNetworks' | 'listIds' | 'inspect' | 'subscribe' | 'swarmState'>;

export interface DaemonOptions {
  config: Config;
  docker: DockerApi;
  log: Logger;
  queue?: CommandQueue;
  /** Where /proc/sys is (tests point it elsewhere). */
  sysctlRoot?: string;
  /** Replaces the iptables dataplane (tests use an in-memory one). */
  dataplane?: (config: Config, ipv6: boolean) => SyncTarget;
  /** Replaces the IPv6 probe (tests). */
  ipv6?: () => Promise<Ipv6Probe>;
  /**
   * Watch the ruleset with `nft monitor` where the backend is nf_tables (default true). Tests
   * that run the daemon in the machine's own namespace turn it off.
   */
  watchRuleset?: boolean;
  /** Replaces /proc/net reading of the host's listening sockets (tests). */
  listeners?: () => Promise<Listener[]>;
  /** Replaces the reading of listening sockets and their host-network owners (tests). */
  hostSockets?: HostSocketWatchOptions['read'];
  /** Milliseconds now; tests use a fake clock. */
  now?: () => number;
  /** Prometheus metrics (metrics.listen); absent when they are off. */
  metrics?: DaemonMetrics;
}

export class Daemon {
  #config: Config;
  readonly #docker: DockerApi;
  readonly #log: Logger;
  readonly #queue: CommandQueue;
  #dataplane: SyncTarget | undefined;
  /**
   * Whether this host has IPv6 (ip6tables rules are planned and written). Probed at the first
   * sync; a probe that could not tell is repeated on its own timer until one can.
   */
  #ipv6: boolean | undefined;
  #ipv6Probe: { timer: NodeJS.Timeout | undefined; backoff: Backoff } | undefined;
  /** A repeated probe found IPv6: the next sync plans it and makes a dataplane for both families. */
  #ipv6Arrived = false;
  #restoresBefore = 0;
  readonly #changes: ChangeLog;
  readonly #host: HostSync;
  readonly #foreign: ForeignSync;
  readonly #bridge: BridgeSync;
  readonly #sockets: HostSocketWatch;

  /** What Docker reports, and what changed since (containers, networks; config through changed()). */
  readonly #facts: FactStore;
  /** One sync at a time, coalescing, with retry-after. */
  readonly #runner: SyncRunner;
  #plan: RuleSet | undefined;
  readonly #planCache = new PlanCache();
  /** The facts version the last written plan was built from. */
  #plannedVersion = 0;
  /** The families the host routed in of its own accord (PlanInput.adminRouting) when the last written plan was made. */
  #plannedRouting: string | undefined;
  /** The nameservers (resolv.conf) the last written plan let allow-listed containers reach. */
  #plannedResolvers: string | undefined;
  /** Why resolv.conf could not be read, once logged, so a lasting problem is one line. */
  #resolvConfProblem: string | undefined;
  /** The DNS names of egress allow-lists and their ipsets. */
  readonly #egress: EgressSync;
  /** Whether the last written plan matched on name sets (false once ipset turned out missing). */
  #plannedNames: boolean | undefined;
  /**
   * The families planned without the raw table (PlanInput.rawMissing), which is also what the log
   * last said about it: one warning when a kernel turns out to lack it, one line when it is back.
   */
  #plannedRawMissing: Family[] = [];
  #makeDataplane: (config: Config, ipv6: boolean) => SyncTarget;
  readonly #readListeners: () => Promise<Listener[]>;
  readonly #now: () => number;
  readonly #probeIpv6: () => Promise<Ipv6Probe>;
  readonly #watchRulesetWanted: boolean;
  #nft: NftMonitor | undefined;
  readonly #metrics: DaemonMetrics | undefined;

  #retry: Backoff;
  #stopped = false;
  readonly #abort = new AbortController();
  #subscription: EventSubscription | undefined;
  #driftTimer: NodeJS.Timeout | undefined;
  #swarmTimer: NodeJS.Timeout | undefined;
  #swarmCheck: Promise<'refused' | 'ok'> | undefined;
  #ready!: () => void;
  #refuse!: (err: SwarmNodeError) => void;
  /**
   * Resolves once the first full rule set has been written (systemd readiness); rejects with
   * SwarmNodeError when Docker is a swarm node before anything was written.
   */
  readonly ready: Promise<void> = new Promise((resolve, reject) => {
    this.#ready = resolve;
    this.#refuse = reject;
  });
  #watching: Promise<void> | undefined;
  #events = 0;
  /** How long the last full read-and-compare took; paces the drift check. */
  #lastCheckMs = 0;

  /**
   * The host's nameservers, read each sync like the forwarding sysctls (one small file, changed
   * with no Docker event): a change re-plans the resolver accepts of allow-listed containers.
   */
  async #resolvers(): Promise<string[]> {
    const r = await readResolvConf(this.#config.egress.resolvConf);
    if (r.ok) {
      this.#resolvConfProblem = undefined;
      return r.value;
    }
    if (this.#resolvConfProblem !== r.error) {
      this.#log.warn({ event: 'resolv-conf-unreadable', path: this.#config.egress.resolvConf, err: r.error }, `cannot read ${this.#config.egress.resolvConf}: ${r.error}; containers with an egress allow-list reach no resolver`);
    }
    this.#resolvConfProblem = r.error;
    return [];
  }

  constructor(options: DaemonOptions) {
    this.#config = options.config;
    this.#docker = options.docker;
    this.#log = options.log;
    this.#queue = options.queue ?? new CommandQueue();
    this.#makeDataplane =
      options.dataplane ??
      ((config, ipv6) =>
        new FamilyDataplanes(
          new Dataplane(new Iptables(this.#queue, config.iptables)),
          ipv6 ? new Dataplane(new Iptables(this.#queue, ip6tablesOptions(config.iptables), 6)) : undefined,
        ));
    this.#readListeners = options.listeners ?? (() => readListeners());
    this.#egress = new EgressSync({ queue: this.#queue, log: options.log, graceS: options.config.egress.dnsGraceS });
    options.metrics?.egress?.(() => this.#egress.snapshot());
    this.#now = options.now ?? (() => Date.now());
    this.#watchRulesetWanted = options.watchRuleset ?? true;
    this.#probeIpv6 = options.ipv6 ?? (() => probeIpv6Support(this.#queue, ip6tablesOptions(this.#config.iptables)));
    this.#metrics = options.metrics;
    this.#changes = new ChangeLog(options.log);
    this.#host = new HostSync({
      log: this.#log,
      queue: this.#queue,
      sysctl: new Sysctl(options.sysctlRoot),
      conntrack: new Conntrack(this.#queue),
      config: () => this.#config,
      stopped: () => this.#stopped,
      onRoutesChanged: () => {
        if (this.#plan !== undefined) this.#runner.request(0);
      },
    });
    this.#bridge = new BridgeSync({
      log: this.#log,
      stopped: () => this.#stopped,
      recheck: () => this.#runner.request(0, { full: true }),
      retryMs: () => this.#config.sync.driftCheckMs,
    });
    this.#foreign = new ForeignSync({
      log: this.#log,
      config: () => this.#config,
      stopped: () => this.#stopped,
      metrics: this.#metrics,
      recheck: () => this.#runner.request(0, { full: true }),
    });
    this.#sockets = new HostSocketWatch({
      log: this.#log,
      read: options.hostSockets ?? ((containers) => readHostSocketsIn(this.#queue.options.netns, containers)),
      containers: () => (this.#facts.haveFacts ? this.#facts.containers : undefined),
      labelPrefix: () => this.#config.labelPrefix,
      intervalMs: () => this.#config.sync.driftCheckMs,
      stopped: () => this.#stopped,
      changed: () => {
        this.#facts.changed();
        this.#runner.request(0);
      },
    });
    this.#retry = new Backoff(options.config.sync.retryMinMs, options.config.sync.retryMaxMs);
    this.#docker.apiTimeoutMs = options.config.sync.dockerTimeoutMs;
    this.#facts = new FactStore({
      docker: this.#docker,
      log: this.#log,
      now: this.#now,
      timing: () => this.#config.sync,
      // A sync in flight either planned with this answer or finds itself behind when it ends.
      onChange: () => {
        if (this.#plannedVersion !== this.#facts.version && !this.#runner.running) this.#runner.request(this.#config.sync.debounceMs);
      },
      onAskAgain: () => this.#runner.request(0),
    });
    this.#runner = new SyncRunner({
      run: (full) => this.#sync(full),
      debounceMs: () => this.#config.sync.debounceMs,
      behind: () => this.#facts.haveFacts && this.#plannedVersion !== this.#facts.version,
    });
    // A refusal is for whoever awaits readiness; nobody awaiting it is no crash.
    this.ready.catch(() => undefined);
  }

  get stats(): { events: number; restores: number; processes: number; containers: number } {
    return { events: this.#events, restores: this.#restores(), processes: this.#queue.runs, containers: this.#facts.count };
  }

  start(): void {
    this.#watching = this.#watch();
    this.#scheduleDriftCheck();
    this.#scheduleSwarmCheck();
    this.#sockets.start();
    this.#host.followRoutes();
    if (this.#watchRulesetWanted) void this.#watchRuleset();
  }

  /**
   * On the nf_tables backend the kernel says when someone touches the ruleset: a repair follows
   * at once, and the full read-and-compare becomes a slow safety net (full_check_ms). The legacy
   * backend has no such events and keeps polling; so does this one while the watcher is down.
   */
  async #watchRuleset(): Promise<void> {
    const version = await this.#queue.run(this.#config.iptables.saveCommand, ['--version'], { timeoutMs: 10_000 }).catch(() => undefined);
    if (this.#stopped || version === undefined || !succeeded(version) || backendOf(version.stdout) !== 'nf_tables') {
      this.#log.info({ event: 'drift-watch', mode: 'polling', reason: 'not the nf_tables backend' }, `drift check: polling every ${this.#config.sync.driftCheckMs} ms`);
      return;
    }
    const monitor = new NftMonitor({
      queue: this.#queue,
      log: this.#log,
      onChange: (change) => {
        if (this.#stopped || this.#plan === undefined) return;
        this.#log.debug({ event: 'ruleset-changed', pid: change?.pid, lines: change?.lines }, 'the ruleset changed: checking');
        this.#runner.request(0, { full: true });
      },
      onGiveUp: () => this.#scheduleDriftCheck(),
    });
    this.#nft = monitor;
    monitor.start();
    this.#log.info(
      { event: 'drift-watch', mode: 'nft-monitor', fullCheckMs: this.#config.sync.fullCheckMs },
      `drift check: nft monitor, and a full check every ${this.#config.sync.fullCheckMs} ms`,
    );
    this.#scheduleDriftCheck();
  }

  /** Stops watching and leaves every rule in place: the firewall must not flap across restarts. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#egress.stop();
    this.#abort.abort();
    clearTimeout(this.#driftTimer);
    clearTimeout(this.#swarmTimer);
    clearTimeout(this.#ipv6Probe?.timer);
    this.#runner.stop();
    this.#sockets.stop();
    this.#facts.stop();
    this.#subscription?.close();
    await this.#host.stop();
    await this.#nft?.stop();
    await Promise.race([Promise.allSettled([this.#runner.running, this.#watching]), sleep(1500)]);
  }

  /**
   * The drift check reads the whole kernel state (iptables-save) and compares it with what was
   * written. That catches everything (a flushed chain, a deleted jump, a reloaded table) but
   * costs time proportional to the rule count, so the interval stretches to keep the check
   * under ~10% of one core: every drift_check_ms on ordinary hosts, less often on huge ones, and
   * never less often than full_check_ms.
   */
  #scheduleDriftCheck(): void {
    clearTimeout(this.#driftTimer);
    if (this.#stopped) return;
    const { driftCheckMs, fullCheckMs } = this.#config.sync;
    // While the kernel reports changes, the periodic read is only the safety net.
    const watched = this.#nft !== undefined && !this.#nft.givenUp;
    const delay = watched
      ? Math.max(fullCheckMs, driftCheckMs)
      : Math.min(Math.max(driftCheckMs, 10 * this.#lastCheckMs), Math.max(fullCheckMs, driftCheckMs));
    this.#driftTimer = setTimeout(() => {
      if (this.#plan !== undefined) this.#runner.request(0, { full: true });
      this.#scheduleDriftCheck();
    }, delay);
    this.#driftTimer.unref();
  }

  /**
   * Swarm's routing mesh and overlay networks need Docker's own iptables rules, which dockgate
   * replaces. Before the first write the daemon refuses (`ready` rejects with SwarmNodeError, and
   * it stops). Once rules are in place, stopping would remove none of them (they stay when dockgate
   * stops) and only freeze them as they are, so each sighting is an error line and the daemon
   * keeps enforcing the labels. Docker not answering is no finding: the next check asks again.
   * Checked on each connect, on each network creation, and every full_check_ms.
   */
  #checkSwarm(): Promise<'refused' | 'ok'> {
    this.#swarmCheck ??= this.#askSwarm().finally(() => (this.#swarmCheck = undefined));
    return this.#swarmCheck;
  }

  async #askSwarm(): Promise<'refused' | 'ok'> {
    let state: string;
    try {
      state = await this.#docker.swarmState();
    } catch (err) {
      this.#log.debug({ event: 'swarm-unknown', err: errorMessage(err) }, `cannot ask Docker for its swarm state: ${errorMessage(err)}`);
      return 'ok';
    }
    if (this.#stopped || !inSwarm(state)) return 'ok';
    if (this.#plan === undefined) {
      const refusal = new SwarmNodeError(state);
      this.#log.error({ event: 'swarm', state, refused: true }, refusal.message);
      this.#refuse(refusal);
      void this.stop();
      return 'refused';
    }
    this.#log.error({ event: 'swarm', state }, joinedSwarmMessage(state));
    return 'ok';
  }

  #scheduleSwarmCheck(): void {
    clearTimeout(this.#swarmTimer);
    if (this.#stopped) return;
    this.#swarmTimer = setTimeout(() => {
      // Only once connected: before that, the connect itself asks.
      if (this.#subscription !== undefined) void this.#checkSwarm();
      this.#scheduleSwarmCheck();
    }, this.#config.sync.fullCheckMs);
    this.#swarmTimer.unref();
  }

  /**
   * Applies a new config (SIGHUP). The caller has already validated it. Every key takes effect
   * at the next cycle except docker.host, which needs a restart (the events stream and its
   * resync are bound to one endpoint); the log says so, with whatever else the caller found
   * needing one (`alsoNeedsRestart`: metrics.listen turned on, see cli/run.ts).
   */
  reload(config: Config, alsoNeedsRestart: readonly string[] = []): void {
    const before = this.#config;
    this.#config = config;
    this.#facts.changed();
    this.#restoresBefore = this.#restores();
    this.#dataplane = undefined;
    // A new dataplane knows nothing of the kernel yet: its first write finds out again.
    this.#plannedRawMissing = [];
    this.#retry = new Backoff(config.sync.retryMinMs, config.sync.retryMaxMs);
    this.#docker.apiTimeoutMs = config.sync.dockerTimeoutMs;
    const restart = [...(before.docker.host !== config.docker.host ? ['docker.host'] : []), ...alsoNeedsRestart];
    this.#log.info(
      { event: 'reloaded', needsRestart: restart },
      restart.length > 0
        ? `configuration reloaded; ${restart.join(', ')} changed and takes effect only after a restart`
        : 'configuration reloaded',
    );
    this.#runner.request(0, { full: true });
    this.#scheduleDriftCheck();
    this.#host.followRoutes();
  }

  /** Subscribes to events FIRST, then lists: nothing that happens in between can be missed. */
  async #watch(): Promise<void> {
    const backoff = new Backoff(this.#config.sync.retryMinMs, this.#config.sync.retryMaxMs);
    let attempt = 0;
    while (!this.#stopped) {
      attempt++;
      try {
        const sub = await this.#docker.subscribe((e) => this.#onEvent(e));
        this.#subscription = sub;
        if (this.#stopped) sub.close();
        this.#log.info({ event: 'docker-connected', docker: this.#docker.host, attempt }, 'watching Docker events');
        backoff.reset();
        attempt = 0;
        // Before the first sync is asked for, so that a swarm node never gets a rule written.
        if ((await this.#checkSwarm()) === 'refused') {
          sub.close();
          return;
        }
        this.#facts.resync();
        this.#runner.request(0);
        const err = await sub.ended;
        if (this.#stopped) return;
        this.#log.warn(
          { event: 'docker-disconnected', docker: this.#docker.host, err: err?.message },
          'Docker events stream ended; will reconnect and resync in full',
        );
      } catch (err) {
        const delay = backoff.take();
        this.#log.error(
          { event: 'docker-unreachable', docker: this.#docker.host, err: errorMessage(err), retryInMs: delay, attempt },
          `cannot reach Docker at ${this.#docker.host}: ${errorMessage(err)}; retrying in ${delay} ms`,
        );
        await this.#pause(delay);
        continue;
      }
      await this.#pause(backoff.take());
    }
  }

  #onEvent(e: DockerEvent): void {
    this.#events++;
    // `docker swarm init` and `join` create the ingress and docker_gwbridge networks.
    if (e.type === 'network' && e.action === 'create') void this.#checkSwarm();
    this.#metrics?.eventSeen(e);
    this.#log.debug({ event: 'docker-event', type: e.type, action: e.action, id: e.containerId?.slice(0, 12) }, 'docker event');
    this.#facts.onEvent(e);
    this.#runner.request(this.#config.sync.debounceMs);
  }

  /** One sync: bring the facts up to date, plan (only when they changed), write, settle the host. */
  async #sync(full: boolean): Promise<RunOutcome> {
    // Where a sync's time goes, for the debug log and the benchmark's event → kernel breakdown.
    const t0 = performance.now();
    const phases = { factsMs: 0, planMs: 0, writeMs: 0, hostMs: 0 };
    try {
      await this.#facts.refresh();
    } catch (err) {
      // Docker is away: keep enforcing what we know; the watcher reconnects and resyncs.
      this.#facts.resync();
      this.#log.warn({ event: 'docker-error', err: errorMessage(err) }, `reading Docker state failed: ${errorMessage(err)}`);
    }
    if (!this.#facts.haveFacts) return { ok: true };
    if (this.#ipv6Arrived) {
      // A dataplane serves the families it was made with: a new one, which reads both kernels
      // before it writes (this sync is a full one).
      this.#ipv6Arrived = false;
      this.#ipv6 = true;
      this.#restoresBefore = this.#restores();
      this.#dataplane = undefined;
      this.#plannedRawMissing = [];
    }
    for (const { reason } of this.#facts.expireUnknown()) this.#metrics?.expired(reason);
    const version = this.#facts.version;
    const t1 = performance.now();
    phases.factsMs = t1 - t0;
    // The admin sets all.forwarding with no Docker event: read each time (two small files), and
    // a change re-plans like new facts do.
    const adminRouting = await this.#host.adminRouting();
    const routingKey = adminRouting.join();
    // A drift check with no new facts reuses the last plan instead of re-planning every second.
    const resolvers = await this.#resolvers();
    this.#egress.setServers(resolvers);
    const resolversKey = resolvers.join();
    let plan = this.#plan;
    if (plan === undefined || this.#plannedVersion !== version || this.#plannedRouting !== routingKey || this.#plannedResolvers !== resolversKey || this.#plannedNames !== this.#egress.available) {
      const containers = this.#facts.containers;
      let listeners: Listener[] | undefined;
      if (mayClaim(containers, this.#config.labelPrefix)) {
        try {
          listeners = await this.#readListeners();
        } catch (err) {
          this.#log.warn({ event: 'listeners-unreadable', err: errorMessage(err) }, `cannot read the host's listening sockets: ${errorMessage(err)}`);
        }
      }
      // The claims the last written plan granted: a host process that binds such a port since
      // is reported, not obeyed. A container that stopped is absent from `containers`, and a
      // restarted one has a new start time, so their claims are judged again.
      const granted = this.#plan?.granted;
      const hostSockets = await this.#sockets.forPlan(containers);
      // The host end of each new container's interfaces, for anti-spoofing: found before the plan,
      // so that a container's source-keyed rules and the hold on its port are written together.
      const bridgePorts = await this.#bridge.ports(
        (this.#dataplane ??= this.#makeDataplane(this.#config, await this.#hasIpv6())),
        containers,
        this.#facts.networks,
      );
      plan = buildRuleSet(
        { ...planInput(this.#config, { containers, networks: this.#facts.networks, otherNetworks: this.#facts.otherNetworks, listeners, granted, ipv6: await this.#hasIpv6(), bridgePorts, adminRouting, resolvers, hostSockets }), rawMissing: this.#plannedRawMissing, egressNames: this.#egress.available },
        this.#planCache,
      );
    }
    // Containers dirty again, still being inspected or unanswered: this plan lacks their newest facts.
    this.#metrics?.planned(this.#facts.pending);
    const repair = full;
    const t2 = performance.now();
    phases.planMs = t2 - t1;
    try {
      const dataplane = (this.#dataplane ??= this.#makeDataplane(this.#config, await this.#hasIpv6()));
      await this.#foreign.beforeWrite(plan);
      await this.#egress.beforeWrite(plan, repair);
      const result = repair ? await dataplane.repair(plan) : await dataplane.sync(plan);
      await this.#egress.afterWrite(plan, repair);
      const t3 = performance.now();
      phases.writeMs = t3 - t2;
      this.#metrics?.committed(plan, dataplane);
      // Paced on the read alone: a slow write or a busy queue must not delay the next check.
      if (repair && result.readMs !== undefined) this.#lastCheckMs = result.readMs;
      const firstWrite = this.#plan === undefined;
      const previous = this.#plan;
      this.#plan = plan;
      this.#plannedVersion = version;
      this.#plannedRouting = routingKey;
      this.#plannedResolvers = resolversKey;
      this.#plannedNames = this.#egress.available;
      await this.#host.apply(plan, previous, this.#facts.networks);
      await this.#bridge.apply(plan, this.#dataplane, repair || firstWrite);
      await this.#foreign.sync(plan, this.#dataplane);
      this.#kernelLimits();
      phases.hostMs = performance.now() - t3;
      this.#retry.reset();
      if (!firstWrite && result.drift && !result.drift.clean) this.#logDrift(result.drift, result.durationMs);
      if (result.kind !== 'none' || firstWrite) {
        this.#log.debug(
          {
            event: 'sync',
            kind: result.kind,
            tables: result.tables,
            durationMs: Math.round(result.durationMs * 10) / 10,
            phases: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, Math.round(v * 10) / 10])),
            restores: this.#restores(),
            events: this.#events,
          },
          'rules written',
        );
      }
      this.#changes.written(plan.containers, result.durationMs);
      if (firstWrite) {
        this.#log.info(
          { event: 'ready', containers: plan.containers.length, networks: this.#facts.networks.length, kind: result.kind, durationMs: Math.round(result.durationMs) },
          `rules in place for ${plan.containers.length} containers`,
        );
        this.#ready();
      }
      return { ok: true };
    } catch (err) {
      const delay = this.#retry.take();
      this.#metrics?.failed(err, this.#dataplane);
      if (err instanceof RestoreError) {
        this.#log.error(
          { event: 'restore-failed', ended: howEnded(err.ended), stderr: err.stderr, failingLines: err.failingLines, retryInMs: delay },
          `${err.message}; previous rules kept, retrying in ${delay} ms`,
        );
      } else {
        this.#log.error({ event: 'sync-failed', err: errorMessage(err), retryInMs: delay }, `sync failed: ${errorMessage(err)}`);
      }
      // The runner retries on a timer, in full: new events are served meanwhile.
      return { ok: false, retryInMs: delay };
    }
  }

  /**
   * A write finds out whether the kernel has the raw table (a refusal, dataplane/kernel-limits.ts);
   * a full check finds it back. Either way the drops raw holds must be planned anew, at once.
   */
  #kernelLimits(): void {
    const now = rawMissingOf(this.#dataplane);
    const before = this.#plannedRawMissing;
    if (now.join() === before.join()) return;
    for (const family of now.filter((f) => !before.includes(f))) {
      this.#log.warn({ event: 'kernel-limit', table: 'raw', family, missing: true }, rawMissingMessage(family));
    }
    for (const family of before.filter((f) => !now.includes(f))) {
      this.#log.info({ event: 'kernel-limit', table: 'raw', family, missing: false }, rawBackMessage(family));
    }
    this.#plannedRawMissing = now;
    this.#facts.changed();
    this.#runner.request(0);
  }

  #restores(): number {
    return this.#restoresBefore + (this.#dataplane?.restores ?? 0);
  }

  /**
   * Probed at the first sync. A host booted without IPv6 runs IPv4-only and says so once; one
   * whose ip6tables could not be read runs IPv4-only while #reprobeIpv6 keeps asking.
   */
  async #hasIpv6(): Promise<boolean> {
    if (this.#ipv6 === undefined) {
      const probe = await this.#probeIpv6();
      this.#ipv6 = probe.kind === 'available';
      this.#ipv6Said(probe);
    }
    return this.#ipv6;
  }

  #ipv6Said(probe: Ipv6Probe): void {
    if (probe.kind === 'absent') {
      this.#log.info({ event: 'ipv4-only' }, 'IPv6 is not available on this host (no /proc/sys/net/ipv6): writing IPv4 rules only');
    } else if (probe.kind === 'unreadable') {
      this.#ipv6Probe ??= { timer: undefined, backoff: new Backoff(this.#config.sync.retryMinMs, this.#config.sync.retryMaxMs) };
      const delay = this.#ipv6Probe.backoff.take();
      // Said once: the repeats are the same news until one succeeds.
      if (this.#ipv6Probe.timer === undefined) {
        this.#log.warn(
          { event: 'ipv6-probe-failed', err: probe.reason, retryInMs: delay },
          `cannot read ip6tables (${probe.reason}): writing IPv4 rules only for now, asking again in ${delay} ms with backoff`,
        );
      }
      this.#ipv6Probe.timer = setTimeout(() => void this.#reprobeIpv6(), delay);
      this.#ipv6Probe.timer.unref();
    }
  }

  async #reprobeIpv6(): Promise<void> {
    if (this.#stopped) return;
    const probe = await this.#probeIpv6().catch((err: unknown): Ipv6Probe => ({ kind: 'unreadable', reason: errorMessage(err) }));
    if (this.#stopped) return;
    if (probe.kind === 'available') {
      this.#ipv6Arrived = true;
      this.#log.info({ event: 'ipv6-available' }, 'ip6tables answers now: writing IPv6 rules too');
      // A change of facts, so that the next sync plans IPv6 rather than reusing the last plan.
      this.#facts.changed();
      this.#runner.request(0, { full: true });
      return;
    }
    this.#ipv6Said(probe);
  }

  /** Test hook: whether a retry is waiting, and the facts version planned last. */
  get state(): { retryPending: boolean; version: number; plannedVersion: number; unknown: string[]; containers: string[] } {
    return {
      retryPending: this.#runner.retryPending,
      version: this.#facts.version,
      plannedVersion: this.#plannedVersion,
      unknown: this.#facts.unknown,
      containers: this.#facts.ids,
    };
  }

  /** The running containers as last read, and the facts version they are of: the drop log attributes packets by them. */
  get facts(): { version: number; containers: () => ContainerFacts[] } {
    return { version: this.#facts.version, containers: () => this.#facts.containers };
  }

  get plan(): RuleSet | undefined {
    return this.#plan;
  }

  #logDrift(drift: DriftReport, durationMs: number): void {
    this.#metrics?.drift(drift);
    for (const c of drift.chains) {
      this.#log.warn(
        { event: 'drift-repaired', table: c.table, chain: c.chain, problem: c.problem, missing: c.missing, unexpected: c.unexpected, durationMs: Math.round(durationMs) },
        `repaired ${c.table} ${c.chain}: ${c.problem}`,
      );
    }
    for (const j of drift.jumps) {
      this.#log.warn(
        { event: 'drift-repaired', table: j.table, chain: j.builtin, problem: j.count === 0 ? 'jump missing' : 'jump duplicated', count: j.count },
        `repaired jump ${j.table} ${j.builtin} -> ${j.target} (found ${j.count})`,
      );
    }
    for (const s of drift.strays) {
      this.#log.warn({ event: 'drift-repaired', table: s.table, chain: s.builtin, problem: 'stray jump', line: s.line }, `removed stray jump in ${s.table} ${s.builtin}`);
    }
    // Not repaired (dockgate deletes only what it wrote); the dataplane hands each over once.
    for (const f of drift.foreign) {
      const what = f.line === '' ? `chain ${f.chain}` : `rule "${f.line}" in ${f.chain}`;
      const why = f.why === 'admin-jump' ? `jumps into ${f.target} but was not written by dockgate` : `is in a table dockgate does not manage`;
      this.#log.warn({ event: 'drift-reported', table: f.table, chain: f.chain, problem: f.why, line: f.line, target: f.target }, `left alone: ${f.table} ${what} ${why}`);
    }
  }

  async #pause(ms: number): Promise<void> {
    try {
      await sleep(ms, undefined, { signal: this.#abort.signal });
    } catch {
      /* aborted by stop() */
    }
  }
}
