// Wires Docker facts → plan → dataplane. Single-flight: at most one sync cycle runs at a time;
// events that arrive meanwhile only mark what is dirty, so a burst coalesces into few writes.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { CommandQueue } from '../dataplane/command-queue.js';
import { Dataplane } from '../dataplane/dataplane.js';
import { Conntrack } from '../dataplane/conntrack.js';
import { Iptables, RestoreError, backendOf } from '../dataplane/iptables.js';
import { Footprint } from '../dataplane/footprint.js';
import { Nft } from '../dataplane/nft.js';
import { Sysctl } from '../dataplane/sysctl.js';
import { type DefaultRoutes, RouteFollower } from '../dataplane/routes.js';
import type { DockerEvent, DockerSource, EventSubscription } from '../docker/source.js';
import { readListeners } from '../dataplane/listeners.js';
import { NftMonitor } from '../dataplane/nft-monitor.js';
import { FamilyDataplanes, type SyncTarget, ip6tablesOptions, probeIpv6 } from '../dataplane/families.js';
import type { Listener, RuleSet } from '../model/types.js';
import { planInput } from '../plan/input.js';
import { mayClaim } from '../plan/ownership.js';
import type { DriftReport } from '../plan/kernel-state.js';
import { type InterfaceSettings, conntrackFlushes, interfaceSettings, resolveExternalInterfaces } from '../plan/host-settings.js';
import { PlanCache, buildRuleSet } from '../plan/ruleset.js';
import { Backoff } from './backoff.js';
import { FactStore } from './fact-store.js';
import { type RunOutcome, SyncRunner } from './sync-runner.js';
import { ChangeLog } from './change-log.js';
import type { DaemonMetrics } from '../metrics/metrics.js';

/** What the daemon needs of Docker (docker/source.ts; tests pass a fake). */
export type DockerApi = Pick<DockerSource, 'host' | 'apiTimeoutMs' | 'listAllNetworks' | 'listIds' | 'inspect' | 'subscribe'>;

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
  ipv6?: () => Promise<boolean>;
  /**
   * Watch the ruleset with `nft monitor` where the backend is nf_tables (default true). Tests
   * that run the daemon in the machine's own namespace turn it off.
   */
  watchRuleset?: boolean;
  /** Replaces /proc/net reading of the host's listening sockets (tests). */
  listeners?: () => Promise<Listener[]>;
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
  /** Whether this host has IPv6 (ip6tables rules are planned and written); probed once. */
  #ipv6: boolean | undefined;
  #restoresBefore = 0;
  readonly #changes: ChangeLog;
  readonly #sysctl: Sysctl;
  readonly #conntrack: Conntrack;
  #allForwarding: string | undefined;
  /** Follows the default routes while external_interfaces is auto (see #followRoutes). */
  #routes: RouteFollower | undefined;
  /** IPv6 per-interface sysctls: null when the host has none, undefined until looked at. */
  #ipv6Sysctls: { forceForwarding: boolean } | null | undefined;

  /** What Docker reports, and what changed since (containers, networks; config through changed()). */
  readonly #facts: FactStore;
  /** One sync at a time, coalescing, with retry-after. */
  readonly #runner: SyncRunner;
  #plan: RuleSet | undefined;
  readonly #planCache = new PlanCache();
  /** The facts version the last written plan was built from. */
  #plannedVersion = 0;
  #makeDataplane: (config: Config, ipv6: boolean) => SyncTarget;
  readonly #readListeners: () => Promise<Listener[]>;
  readonly #now: () => number;
  readonly #probeIpv6: () => Promise<boolean>;
  readonly #watchRulesetWanted: boolean;
  #nft: NftMonitor | undefined;
  readonly #metrics: DaemonMetrics | undefined;

  #retry: Backoff;
  #stopped = false;
  readonly #abort = new AbortController();
  #subscription: EventSubscription | undefined;
  #driftTimer: NodeJS.Timeout | undefined;
  #ready!: () => void;
  /** Resolves once the first full rule set has been written (systemd readiness). */
  readonly ready: Promise<void> = new Promise((resolve) => (this.#ready = resolve));
  #watching: Promise<void> | undefined;
  #events = 0;
  /** How long the last full read-and-compare took; paces the drift check. */
  #lastCheckMs = 0;
  /** The footprint in other firewalls' chains, and what was last logged about it. */
  #foreign: { footprint: Footprint; iptables: Iptables; has: Set<string>; said: string } | undefined;

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
    this.#now = options.now ?? (() => Date.now());
    this.#watchRulesetWanted = options.watchRuleset ?? true;
    this.#probeIpv6 = options.ipv6 ?? (() => probeIpv6(this.#queue, ip6tablesOptions(options.config.iptables)));
    this.#metrics = options.metrics;
    this.#changes = new ChangeLog(options.log);
    this.#sysctl = new Sysctl(options.sysctlRoot);
    this.#conntrack = new Conntrack(this.#queue);
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
  }

  get stats(): { events: number; restores: number; processes: number; containers: number } {
    return { events: this.#events, restores: this.#restores(), processes: this.#queue.runs, containers: this.#facts.count };
  }

  start(): void {
    this.#watching = this.#watch();
    this.#scheduleDriftCheck();
    this.#followRoutes();
    if (this.#watchRulesetWanted) void this.#watchRuleset();
  }

  /**
   * On the nf_tables backend the kernel says when someone touches the ruleset: a repair follows
   * at once, and the full read-and-compare becomes a slow safety net (full_check_ms). The legacy
   * backend has no such events and keeps polling; so does this one while the watcher is down.
   */
  async #watchRuleset(): Promise<void> {
    const version = await this.#queue.run(this.#config.iptables.saveCommand, ['--version'], { timeoutMs: 10_000 }).catch(() => undefined);
    if (this.#stopped || backendOf(version?.stdout ?? '') !== 'nf_tables') {
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
    this.#abort.abort();
    clearTimeout(this.#driftTimer);
    this.#runner.stop();
    this.#facts.stop();
    this.#subscription?.close();
    await this.#stopFollowingRoutes();
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
   * Applies a new config (SIGHUP). The caller has already validated it. Every key takes effect
   * at the next cycle except docker.host, which needs a restart (the events stream and its
   * resync are bound to one endpoint); the log says so.
   */
  reload(config: Config): void {
    const before = this.#config;
    this.#config = config;
    this.#facts.changed();
    this.#restoresBefore = this.#restores();
    this.#dataplane = undefined;
    this.#retry = new Backoff(config.sync.retryMinMs, config.sync.retryMaxMs);
    this.#docker.apiTimeoutMs = config.sync.dockerTimeoutMs;
    const restart = before.docker.host !== config.docker.host ? ['docker.host'] : [];
    this.#log.info(
      { event: 'reloaded', needsRestart: restart },
      restart.length > 0
        ? `configuration reloaded; ${restart.join(', ')} changed and takes effect only after a restart`
        : 'configuration reloaded',
    );
    this.#runner.request(0, { full: true });
    this.#scheduleDriftCheck();
    this.#followRoutes();
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
          { event: 'docker-unreachable', docker: this.#docker.host, err: (err as Error).message, retryInMs: delay, attempt },
          `cannot reach Docker at ${this.#docker.host}: ${(err as Error).message}; retrying in ${delay} ms`,
        );
        await this.#pause(delay);
        continue;
      }
      await this.#pause(backoff.take());
    }
  }

  #onEvent(e: DockerEvent): void {
    this.#events++;
    this.#metrics?.eventSeen(e);
    this.#log.debug({ event: 'docker-event', type: e.type, action: e.action, id: e.containerId?.slice(0, 12) }, 'docker event');
    this.#facts.onEvent(e);
    this.#runner.request(this.#config.sync.debounceMs);
  }

  /** One sync: bring the facts up to date, plan (only when they changed), write, settle the host. */
  async #sync(full: boolean): Promise<RunOutcome> {
    try {
      await this.#facts.refresh();
    } catch (err) {
      // Docker is away: keep enforcing what we know; the watcher reconnects and resyncs.
      this.#facts.resync();
      this.#log.warn({ event: 'docker-error', err: (err as Error).message }, `reading Docker state failed: ${(err as Error).message}`);
    }
    if (!this.#facts.haveFacts) return { ok: true };
    this.#facts.expireUnknown();
    const version = this.#facts.version;
    // A drift check with no new facts reuses the last plan instead of re-planning every second.
    let plan = this.#plan;
    if (plan === undefined || this.#plannedVersion !== version) {
      const containers = this.#facts.containers;
      let listeners: Listener[] | undefined;
      if (mayClaim(containers, this.#config.labelPrefix)) {
        try {
          listeners = await this.#readListeners();
        } catch (err) {
          this.#log.warn({ event: 'listeners-unreadable', err: (err as Error).message }, `cannot read the host's listening sockets: ${(err as Error).message}`);
        }
      }
      plan = buildRuleSet(
        planInput(this.#config, { containers, networks: this.#facts.networks, otherNetworks: this.#facts.otherNetworks, listeners, ipv6: await this.#hasIpv6() }),
        this.#planCache,
      );
    }
    // Containers dirty again, still being inspected or unanswered: this plan lacks their newest facts.
    this.#metrics?.planned(this.#facts.pending);
    const repair = full;
    try {
      const dataplane = (this.#dataplane ??= this.#makeDataplane(this.#config, await this.#hasIpv6()));
      const result = repair ? await dataplane.repair(plan) : await dataplane.sync(plan);
      this.#metrics?.committed(plan, dataplane);
      // Paced on the read alone: a slow write or a busy queue must not delay the next check.
      if (repair && result.readMs !== undefined) this.#lastCheckMs = result.readMs;
      const firstWrite = this.#plan === undefined;
      const previous = this.#plan;
      this.#plan = plan;
      this.#plannedVersion = version;
      await this.#hostSettings(plan, previous);
      await this.#foreignChains(plan);
      this.#retry.reset();
      if (!firstWrite && result.drift && !result.drift.clean) this.#logDrift(result.drift, result.durationMs);
      if (result.kind !== 'none' || firstWrite) {
        this.#log.debug(
          {
            event: 'sync',
            kind: result.kind,
            tables: result.tables,
            durationMs: Math.round(result.durationMs * 10) / 10,
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
          { event: 'restore-failed', exitCode: err.exitCode, stderr: err.stderr, failingLines: err.failingLines, retryInMs: delay },
          `${err.message}; previous rules kept, retrying in ${delay} ms`,
        );
      } else {
        this.#log.error({ event: 'sync-failed', err: (err as Error).message, retryInMs: delay }, `sync failed: ${(err as Error).message}`);
      }
      // The runner retries on a timer, in full: new events are served meanwhile.
      return { ok: false, retryInMs: delay };
    }
  }

  #restores(): number {
    return this.#restoresBefore + (this.#dataplane?.restores ?? 0);
  }

  /** Probed once: a host booted without IPv6 runs IPv4-only, says so once, and never fails for it. */
  async #hasIpv6(): Promise<boolean> {
    if (this.#ipv6 === undefined) {
      this.#ipv6 = await this.#probeIpv6();
      if (!this.#ipv6) {
        this.#log.info({ event: 'ipv4-only' }, 'IPv6 is not available on this host (no ip6tables tables): writing IPv4 rules only');
      }
    }
    return this.#ipv6;
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

  get plan(): RuleSet | undefined {
    return this.#plan;
  }

  /**
   * Other firewalls' base chains (native nft tables, firewalld): with foreign_chains allow,
   * dockgate's mark accept is kept at the top of each that would drop its openings, checked and
   * put back on every sync (so within sync.drift_check_ms of a firewall reload); with leave,
   * each chain that blocks an opening is logged. Runs on the same command queue (and so the same
   * network namespace) as the iptables writes; never with a dataplane that is not real iptables.
   * A failure is logged and retried at the next check: it must not undo the iptables sync.
   */
  async #foreignChains(plan: RuleSet): Promise<void> {
    const dp = this.#dataplane;
    const iptables = dp instanceof FamilyDataplanes ? dp.v4.iptables : dp instanceof Dataplane ? dp.iptables : undefined;
    if (!(iptables instanceof Iptables)) return;
    if (this.#foreign?.iptables !== iptables) {
      const v6 = dp instanceof FamilyDataplanes ? dp.v6?.iptables : undefined;
      this.#foreign = { footprint: new Footprint(iptables, new Nft(iptables.queue), v6), iptables, has: this.#foreign?.has ?? new Set(), said: '' };
    }
    const state = this.#foreign;
    const mode = this.#config.foreignChains;
    // Another look after drift_check_ms: the change that caused a failure may be the last for a while.
    const retry = (): void => {
      setTimeout(() => {
        if (this.#stopped) return;
        this.#runner.request(0, { full: true });
      }, this.#config.sync.driftCheckMs).unref();
    };
    const say = (key: string, log: () => void): void => {
      if (state.said !== key) log();
      state.said = key;
    };
    try {
      const r = await state.footprint.sync(plan, mode);
      for (const chain of r.inserted) {
        // Seen there before: someone (a firewalld reload, `nft -f`) took it away.
        if (state.has.has(chain)) {
          this.#log.warn({ event: 'drift-repaired', table: chain, problem: 'footprint missing' }, `put dockgate's mark accept back at the top of ${chain}`);
          this.#metrics?.driftRepaired('footprint_missing');
        } else {
          this.#log.info({ event: 'foreign-chain', chain, action: 'inserted' }, `${chain} would drop what dockgate opens: added one mark accept (comment "dockgate") at its top`);
        }
      }
      for (const chain of r.removed) {
        this.#log.info({ event: 'foreign-chain', chain, action: 'removed' }, `removed dockgate's mark accept from ${chain}`);
        state.has.delete(chain);
      }
      // Remembered while its table is gone too: the footprint coming back after a reload is a repair.
      if (mode === 'allow') for (const chain of r.inserted) state.has.add(chain);
      if (r.retry) retry();
      if (mode === 'leave' && r.needed.length > 0) {
        say(`leave:${r.needed.join(',')}`, () =>
          this.#log.warn(
            { event: 'foreign-chain-blocks', chains: r.needed },
            `foreign_chains is leave: ${r.needed.join(', ')} drop${r.needed.length === 1 ? 's' : ''} openings dockgate made; open them there, or set foreign_chains: allow (dockgate status names each)`,
          ),
        );
      } else {
        say('', () => undefined);
      }
    } catch (err) {
      const message = (err as Error).message;
      say(`error:${message}`, () =>
        this.#log.error({ event: 'foreign-chains-failed', err: message }, `cannot check other firewalls' chains: ${message}; retrying`),
      );
      retry();
    }
  }


  /** Forwarding and route_localnet per interface, conntrack clean-up, the all.forwarding warning. */
  async #hostSettings(plan: RuleSet, previous: RuleSet | undefined): Promise<void> {
    const wanted = interfaceSettings(plan, this.#facts.networks, await this.#externalInterfaces());
    // route_localnet is dockgate's on every bridge it manages, whoever set it: 1 only while a
    // 127.x dnat port leads into that bridge, 0 otherwise. Remembering only what this process
    // turned on would forget it across a restart, and would leave open what Docker itself set
    // (1 on every bridge when it ran with userland-proxy off). Other interfaces are never touched.
    const steps = [
      ['forwarding', '1', wanted.forwarding],
      ['route_localnet', '1', wanted.routeLocalnet.on],
      ['route_localnet', '0', wanted.routeLocalnet.off],
    ] as const;
    for (const [setting, value, ifaces] of steps) {
      try {
        const { changed, missing } = await this.#sysctl.set(setting, ifaces, value);
        if (changed.length > 0) {
          this.#log.info({ event: 'sysctl', setting, value, interfaces: changed }, `net.ipv4.conf.<iface>.${setting}=${value} on ${changed.join(', ')}`);
        }
        if (missing.length > 0) this.#log.debug({ event: 'sysctl-missing', setting, interfaces: missing }, 'interfaces not present yet');
      } catch (err) {
        this.#log.error({ event: 'sysctl-failed', setting, err: (err as Error).message }, `cannot set ${setting}: ${(err as Error).message}`);
      }
    }
    await this.#ipv6Forwarding(wanted);
    const all = await this.#sysctl.read('net.ipv4.conf.all.forwarding');
    if (all !== this.#allForwarding) {
      this.#allForwarding = all;
      if (all === '1') {
        this.#log.warn(
          { event: 'all-forwarding', value: all },
          'net.ipv4.conf.all.forwarding=1: this host routes between all its interfaces; set "ip-forward": false in daemon.json and let dockgate enable forwarding per interface',
        );
      }
    }
    // Not at start-up: a restarted daemon must not cut the flows of ports that never changed.
    const flushes = previous ? conntrackFlushes(previous, plan) : [];
    if (flushes.length > 0) {
      const r = await this.#conntrack.flush(flushes);
      if (r.warning) this.#log.warn({ event: 'conntrack-missing' }, r.warning);
      for (const e of r.errors) this.#log.error({ event: 'conntrack-failed', err: e }, `stale conntrack entries not removed: ${e}`);
      const ports = flushes.map((f) => `${f.hostIp || '*'}:${f.hostPort}/${f.protocol}${f.target ? ` via ${f.target.ip}:${f.target.port}` : ''}`);
      this.#log.debug({ event: 'conntrack-flushed', ports, deleted: r.deleted }, 'conntrack entries removed');
    }
  }

  /**
   * The external interfaces now: config's list, or in auto mode the interfaces of the default
   * routes last read. Until the first read is in, waits for it (bounded): the first cycle after
   * a reboot should already forward on the uplink, but a hung `ip` must not hold up the rest.
   */
  async #externalInterfaces(): Promise<string[]> {
    const spec = this.#config.externalInterfaces;
    const routes = this.#routes;
    if (spec.kind !== 'list' && routes && !routes.firstReadDone) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([routes.firstRead, new Promise<void>((resolve) => (timer = setTimeout(resolve, 3000)))]);
      clearTimeout(timer);
    }
    return resolveExternalInterfaces(spec, routes?.current?.interfaces);
  }

  /**
   * IPv6 forwarding on the same interfaces as IPv4. An external interface that learns its
   * address and default route from router advertisements (accept_ra=1) gets accept_ra=2 first:
   * forwarding=1 would make it ignore them, and writing forwarding=1 on any interface (a bridge
   * included) deletes the RA-learned default routes of interfaces whose accept_ra is not 2.
   * `force_forwarding` (Linux 6.17+) is what makes the kernel forward IPv6 per interface; older
   * kernels forward IPv6 only with net.ipv6.conf.all.forwarding=1, which dockgate leaves alone.
   */
  async #ipv6Forwarding(wanted: InterfaceSettings): Promise<void> {
    if (this.#ipv6Sysctls === undefined) {
      const found = (await this.#sysctl.hasIpv6()) ? { forceForwarding: await this.#sysctl.knowsIpv6('force_forwarding') } : null;
      this.#ipv6Sysctls = found;
      if (found === null) {
        this.#log.info({ event: 'ipv6-sysctls-absent' }, 'no /proc/sys/net/ipv6: IPv6 is disabled on this host; only IPv4 forwarding is set');
      } else if (!found.forceForwarding) {
        this.#log.info(
          { event: 'ipv6-no-force-forwarding' },
          'this kernel has no net.ipv6.conf.<iface>.force_forwarding (Linux 6.17+): IPv6 is forwarded only where net.ipv6.conf.all.forwarding=1',
        );
      }
    }
    const v6 = this.#ipv6Sysctls;
    if (v6 === null) return;
    try {
      const ra = await this.#sysctl.keepAcceptingRa(wanted.external);
      if (ra.changed.length > 0) {
        this.#log.info(
          { event: 'sysctl', family: 6, setting: 'accept_ra', value: '2', interfaces: ra.changed },
          `net.ipv6.conf.<iface>.accept_ra=2 on ${ra.changed.join(', ')} (was 1): keeps router advertisements, and the default route they give, once IPv6 forwarding is on`,
        );
      }
      const settings = v6.forceForwarding ? (['forwarding', 'force_forwarding'] as const) : (['forwarding'] as const);
      for (const setting of settings) {
        const { changed, missing } = await this.#sysctl.set6(setting, wanted.forwarding, '1');
        if (changed.length > 0) {
          this.#log.info({ event: 'sysctl', family: 6, setting, value: '1', interfaces: changed }, `net.ipv6.conf.<iface>.${setting}=1 on ${changed.join(', ')}`);
        }
        if (missing.length > 0) this.#log.debug({ event: 'sysctl-missing', family: 6, setting, interfaces: missing }, 'interfaces not present yet');
      }
    } catch (err) {
      this.#log.error({ event: 'sysctl-failed', family: 6, err: (err as Error).message }, `cannot set IPv6 forwarding: ${(err as Error).message}`);
    }
  }

  /**
   * Follows the default routes while external_interfaces is auto (started by start() and by a
   * reload that makes it auto; stopped by stop() and by a reload that makes it a list).
   */
  #followRoutes(): void {
    if (this.#stopped) return;
    const auto = this.#config.externalInterfaces.kind !== 'list';
    if (auto && !this.#routes) {
      this.#routes = new RouteFollower({
        queue: this.#queue,
        log: this.#log,
        ipv6: () => this.#sysctl.hasIpv6(),
        safetyReadMs: this.#config.sync.fullCheckMs,
        restartMinMs: this.#config.sync.retryMinMs,
        restartMaxMs: this.#config.sync.retryMaxMs,
        onChange: (now, before) => this.#onDefaultRoutes(now, before),
      });
      this.#routes.start();
    } else if (!auto && this.#routes) {
      void this.#stopFollowingRoutes();
    }
  }

  async #stopFollowingRoutes(): Promise<void> {
    const routes = this.#routes;
    this.#routes = undefined;
    await routes?.stop();
  }

  /** The default routes moved: log it, and let the next cycle turn forwarding on where they went. */
  #onDefaultRoutes(now: DefaultRoutes, before: DefaultRoutes | undefined): void {
    const was = before?.interfaces ?? [];
    const added = now.interfaces.filter((i) => !was.includes(i));
    const removed = was.filter((i) => !now.interfaces.includes(i));
    const list = now.interfaces.join(', ') || 'none';
    const detail = [
      ...(before && added.length > 0 ? [`forwarding goes on on ${added.join(', ')}`] : []),
      // Never off: flows that still arrive there (a second uplink, a route coming back) keep working.
      ...(removed.length > 0 ? [`${removed.join(', ')} keeps its forwarding`] : []),
      ...(now.interfaces.length === 0 ? ['no default route: only the bridges forward until one appears'] : []),
    ];
    this.#log[now.interfaces.length === 0 ? 'warn' : 'info'](
      { event: 'external-interfaces', mode: 'auto', interfaces: now.interfaces, added, removed, routes: now.routes },
      `${before ? 'default routes changed; ' : ''}external interfaces (auto, from the default routes): ${list}${detail.length > 0 ? `; ${detail.join('; ')}` : ''}`,
    );
    if (this.#plan !== undefined) this.#runner.request(0);
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
