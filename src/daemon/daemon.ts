// Wires Docker facts → plan → dataplane. Single-flight: at most one sync cycle runs at a time;
// events that arrive meanwhile only mark what is dirty, so a burst coalesces into few writes.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { CommandQueue } from '../dataplane/command-queue.js';
import { Dataplane } from '../dataplane/dataplane.js';
import { Conntrack } from '../dataplane/conntrack.js';
import { Iptables, RestoreError } from '../dataplane/iptables.js';
import { Sysctl } from '../dataplane/sysctl.js';
import type { DockerEvent, DockerSource, EventSubscription } from '../docker/source.js';
import type { ContainerFacts, NetworkFacts, RuleSet } from '../model/types.js';
import type { DriftReport } from '../plan/kernel-state.js';
import { conntrackFlushes, interfaceSettings } from '../plan/host-settings.js';
import { PlanCache, buildRuleSet } from '../plan/ruleset.js';
import { Backoff } from './backoff.js';
import { ChangeLog } from './change-log.js';

export interface DaemonOptions {
  config: Config;
  docker: DockerSource;
  log: Logger;
  queue?: CommandQueue;
  /** Where /proc/sys is (tests point it elsewhere). */
  sysctlRoot?: string;
}

export class Daemon {
  #config: Config;
  readonly #docker: DockerSource;
  readonly #log: Logger;
  readonly #queue: CommandQueue;
  #dataplane: Dataplane;
  readonly #changes: ChangeLog;
  readonly #sysctl: Sysctl;
  readonly #conntrack: Conntrack;
  #allForwarding: string | undefined;

  readonly #containers = new Map<string, ContainerFacts>();
  #networks: NetworkFacts[] = [];
  #plan: RuleSet | undefined;
  readonly #planCache = new PlanCache();

  readonly #dirty = new Set<string>();
  #networksDirty = false;
  #resyncAll = true;
  #repairRequested = false;
  #haveFacts = false;
  /** Set whenever facts or config change; cleared once a plan has been built from them. */
  #factsChanged = true;

  #timer: NodeJS.Timeout | undefined;
  #cycle: Promise<void> | undefined;
  #cycleAgain = false;
  readonly #retry: Backoff;
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

  constructor(options: DaemonOptions) {
    this.#config = options.config;
    this.#docker = options.docker;
    this.#log = options.log;
    this.#queue = options.queue ?? new CommandQueue();
    this.#dataplane = new Dataplane(new Iptables(this.#queue, options.config.iptables));
    this.#changes = new ChangeLog(options.log);
    this.#sysctl = new Sysctl(options.sysctlRoot);
    this.#conntrack = new Conntrack(this.#queue);
    this.#retry = new Backoff(options.config.sync.retryMinMs, options.config.sync.retryMaxMs);
  }

  get stats(): { events: number; restores: number; processes: number; containers: number } {
    return { events: this.#events, restores: this.#dataplane.restores, processes: this.#queue.runs, containers: this.#containers.size };
  }

  start(): void {
    this.#watching = this.#watch();
    this.#scheduleDriftCheck();
  }

  /** Stops watching and leaves every rule in place: the firewall must not flap across restarts. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort.abort();
    clearTimeout(this.#driftTimer);
    clearTimeout(this.#timer);
    this.#subscription?.close();
    await Promise.race([Promise.allSettled([this.#cycle, this.#watching]), sleep(1500)]);
  }

  /**
   * The drift check reads the whole kernel state (iptables-save) and compares it with what was
   * written. That catches everything (a flushed chain, a deleted jump, a reloaded table) but
   * costs time proportional to the rule count, so the interval stretches to keep the check
   * under ~10% of one core: every drift_check_ms on ordinary hosts, less often on huge ones, and
   * never less often than full_check_ms.
   */
  #scheduleDriftCheck(): void {
    if (this.#stopped) return;
    const { driftCheckMs, fullCheckMs } = this.#config.sync;
    const delay = Math.min(Math.max(driftCheckMs, 10 * this.#lastCheckMs), Math.max(fullCheckMs, driftCheckMs));
    this.#driftTimer = setTimeout(() => {
      if (this.#plan !== undefined) {
        this.#repairRequested = true;
        this.#schedule(0);
      }
      this.#scheduleDriftCheck();
    }, delay);
    this.#driftTimer.unref();
  }

  /** Applies a new config (SIGHUP). The caller has already validated it. */
  reload(config: Config): void {
    this.#config = config;
    this.#factsChanged = true;
    this.#dataplane = new Dataplane(new Iptables(this.#queue, config.iptables));
    this.#log.info({ event: 'reloaded' }, 'configuration reloaded');
    this.#repairRequested = true;
    this.#schedule(0);
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
        this.#resyncAll = true;
        this.#schedule(0);
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
    this.#log.debug({ event: 'docker-event', type: e.type, action: e.action, id: e.containerId?.slice(0, 12) }, 'docker event');
    if (e.type === 'network') {
      if (e.action === 'create' || e.action === 'destroy') this.#networksDirty = true;
      if (e.containerId) this.#dirty.add(e.containerId);
    } else if (e.containerId) {
      this.#dirty.add(e.containerId);
    }
    this.#schedule(this.#config.sync.debounceMs);
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    if (this.#cycle) {
      this.#cycleAgain = true;
      return;
    }
    if (this.#timer) {
      if (delayMs > 0) return;
      clearTimeout(this.#timer);
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#cycle = this.#runCycle().finally(() => {
        this.#cycle = undefined;
        if (this.#cycleAgain) {
          this.#cycleAgain = false;
          this.#schedule(this.#config.sync.debounceMs);
        }
      });
    }, delayMs);
  }

  async #runCycle(): Promise<void> {
    try {
      await this.#refreshFacts();
    } catch (err) {
      // Docker is away: keep enforcing what we know; the watcher reconnects and resyncs.
      this.#resyncAll = true;
      this.#log.warn({ event: 'docker-error', err: (err as Error).message }, `reading Docker state failed: ${(err as Error).message}`);
      if (!this.#haveFacts) return;
    }
    if (!this.#haveFacts) return;
    // A drift check with no new facts reuses the last plan instead of re-planning every second.
    const plan =
      !this.#factsChanged && this.#plan
        ? this.#plan
        : buildRuleSet(
            {
              labelPrefix: this.#config.labelPrefix,
              defaults: this.#config.defaults,
              containers: [...this.#containers.values()],
              networks: this.#networks,
            },
            this.#planCache,
          );
    const repair = this.#repairRequested;
    this.#repairRequested = false;
    try {
      const result = repair ? await this.#dataplane.repair(plan) : await this.#dataplane.sync(plan);
      // Paced on the read alone: a slow write or a busy queue must not delay the next check.
      if (repair && result.readMs !== undefined) this.#lastCheckMs = result.readMs;
      const firstWrite = this.#plan === undefined;
      const previous = this.#plan;
      this.#plan = plan;
      this.#factsChanged = false;
      await this.#hostSettings(plan, previous);
      this.#retry.reset();
      if (!firstWrite && result.drift && !result.drift.clean) this.#logDrift(result.drift, result.durationMs);
      if (result.kind !== 'none' || firstWrite) {
        this.#log.debug(
          {
            event: 'sync',
            kind: result.kind,
            tables: result.tables,
            durationMs: Math.round(result.durationMs * 10) / 10,
            restores: this.#dataplane.restores,
            events: this.#events,
          },
          'rules written',
        );
      }
      this.#changes.written(plan.containers, result.durationMs);
      if (firstWrite) {
        this.#log.info(
          { event: 'ready', containers: plan.containers.length, networks: this.#networks.length, kind: result.kind, durationMs: Math.round(result.durationMs) },
          `rules in place for ${plan.containers.length} containers`,
        );
        this.#ready();
      }
    } catch (err) {
      const delay = this.#retry.take();
      if (err instanceof RestoreError) {
        this.#log.error(
          { event: 'restore-failed', exitCode: err.exitCode, stderr: err.stderr, failingLines: err.failingLines, retryInMs: delay },
          `${err.message}; previous rules kept, retrying in ${delay} ms`,
        );
      } else {
        this.#log.error({ event: 'sync-failed', err: (err as Error).message, retryInMs: delay }, `sync failed: ${(err as Error).message}`);
      }
      this.#repairRequested = true;
      await this.#pause(delay);
      this.#cycleAgain = true;
    }
  }

  async #refreshFacts(): Promise<void> {
    if (this.#resyncAll) {
      this.#resyncAll = false;
      this.#dirty.clear();
      this.#networksDirty = false;
      try {
        const networks = await this.#docker.listNetworks();
        const running = await this.#docker.listRunning();
        this.#networks = networks;
        this.#containers.clear();
        for (const c of running) this.#containers.set(c.id, c);
        this.#haveFacts = true;
        this.#factsChanged = true;
      } catch (err) {
        this.#resyncAll = true;
        throw err;
      }
      return;
    }
    if (this.#networksDirty) {
      this.#networksDirty = false;
      this.#networks = await this.#docker.listNetworks();
      this.#factsChanged = true;
    }
    const ids = [...this.#dirty];
    this.#dirty.clear();
    // In parallel: Docker answers inspect only once a starting container has finished starting,
    // so one slow container must not hold up the rules of all the others in the burst.
    const results = await Promise.allSettled(ids.map((id) => this.#docker.inspect(id)));
    if (ids.length > 0) this.#factsChanged = true;
    let failure: unknown;
    results.forEach((r, i) => {
      const id = ids[i]!;
      if (r.status === 'rejected') {
        this.#dirty.add(id);
        failure ??= r.reason;
      } else if (r.value) {
        this.#containers.set(r.value.id, r.value);
      } else {
        this.#containers.delete(id);
      }
    });
    if (failure !== undefined) throw failure;
  }

  /** Forwarding and route_localnet per interface, conntrack clean-up, the all.forwarding warning. */
  async #hostSettings(plan: RuleSet, previous: RuleSet | undefined): Promise<void> {
    const wanted = interfaceSettings(plan, this.#networks, this.#config.externalInterfaces);
    for (const setting of ['forwarding', 'route_localnet'] as const) {
      const ifaces = setting === 'forwarding' ? wanted.forwarding : wanted.routeLocalnet;
      try {
        const { changed, missing } = await this.#sysctl.enable(setting, ifaces);
        if (changed.length > 0) {
          this.#log.info({ event: 'sysctl', setting, interfaces: changed }, `net.ipv4.conf.<iface>.${setting}=1 on ${changed.join(', ')}`);
        }
        if (missing.length > 0) this.#log.debug({ event: 'sysctl-missing', setting, interfaces: missing }, 'interfaces not present yet');
      } catch (err) {
        this.#log.error({ event: 'sysctl-failed', setting, err: (err as Error).message }, `cannot set ${setting}: ${(err as Error).message}`);
      }
    }
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
      if (r.error) this.#log.warn({ event: 'conntrack-missing' }, r.error);
      this.#log.debug({ event: 'conntrack-flushed', ports: flushes.map((f) => `${f.hostIp || '*'}:${f.hostPort}/${f.protocol}`), deleted: r.deleted }, 'conntrack entries removed');
    }
  }

  #logDrift(drift: DriftReport, durationMs: number): void {
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
  }

  async #pause(ms: number): Promise<void> {
    try {
      await sleep(ms, undefined, { signal: this.#abort.signal });
    } catch {
      /* aborted by stop() */
    }
  }
}
