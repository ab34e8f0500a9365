// Wires Docker facts → plan → dataplane. Single-flight: at most one sync cycle runs at a time;
// events that arrive meanwhile only mark what is dirty, so a burst coalesces into few writes.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { CommandQueue } from '../dataplane/command-queue.js';
import { Conntrack } from '../dataplane/conntrack.js';
import { Sysctl } from '../dataplane/sysctl.js';
import type { DockerEvent } from '../docker/source.js';
import type { SwarmNodeError } from '../docker/info.js';
import { readListeners } from '../dataplane/listeners.js';
import { readHostSocketsIn } from '../dataplane/host-sockets.js';
import { type SyncTarget, ip6tablesOptions, makeDataplanes, probeIpv6Support } from '../dataplane/families.js';
import type { ContainerFacts, RuleSet } from '../model/types.js';
import type { DaemonMetrics } from '../metrics/metrics.js';
import { type Clock, realClock } from '../util/clock.js';
import { HostSocketWatch } from './host-socket-watch.js';
import { EgressSync } from './egress-sync.js';
import { ResolvFollow } from './resolv-follow.js';
import type { DockerApi } from './docker-api.js';
import { type DaemonOptions, defaultQueue } from './daemon-options.js';
import { DockerWatch } from './docker-watch.js';
import { DriftWatch } from './drift-watch.js';
import { FactStore } from './fact-store.js';
import { ForeignSync } from './foreign-sync.js';
import { BridgeSync } from './bridge-sync.js';
import { HostSync } from './host-sync.js';
import { Ipv6Watch } from './ipv6-watch.js';
import { SwarmCheck } from './swarm-check.js';
import { SyncCycle } from './sync-cycle.js';
import { SyncRunner } from '../util/sync-runner.js';

export type { DaemonOptions } from './daemon-options.js';

export class Daemon {
  #config: Config;
  readonly #docker: DockerApi;
  readonly #log: Logger;
  readonly #queue: CommandQueue;
  readonly #clock: Clock;
  #makeDataplane: (config: Config, ipv6: boolean) => SyncTarget;
  readonly #watchRulesetWanted: boolean;
  readonly #metrics: DaemonMetrics | undefined;
  readonly #host: HostSync;
  readonly #sockets: HostSocketWatch;
  readonly #egress: EgressSync;
  /** What Docker reports, and what changed since (containers, networks; config through changed()). */
  readonly #facts: FactStore;
  readonly #cycle: SyncCycle;
  /** One sync at a time, coalescing, with retry-after. */
  readonly #runner: SyncRunner;
  readonly #watch: DockerWatch;
  readonly #drift: DriftWatch;
  readonly #swarm: SwarmCheck;
  readonly #ipv6: Ipv6Watch;
  #stopped = false;
  readonly #resolv: ResolvFollow;
  #events = 0;
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

  constructor(options: DaemonOptions) {
    this.#config = options.config;
    this.#docker = options.docker;
    this.#log = options.log;
    this.#resolv = new ResolvFollow({ log: options.log, onChange: () => this.#runner.request(0) });
    this.#clock = options.clock ?? realClock;
    this.#queue = options.queue ?? defaultQueue(options);
    this.#makeDataplane = options.dataplane ?? ((config, ipv6) => makeDataplanes(this.#queue, config.iptables, ipv6));
    this.#watchRulesetWanted = options.watchRuleset ?? true;
    this.#metrics = options.metrics;
    this.#egress = new EgressSync({
      queue: this.#queue,
      log: options.log,
      graceS: options.config.egress.dnsGraceS,
      ...(options.lookup ? { lookup: options.lookup } : {}),
      ...(options.ipsets ? { ipsets: options.ipsets } : {}),
    });
    options.metrics?.egress?.(() => this.#egress.snapshot());
    this.#docker.apiTimeoutMs = options.config.sync.dockerTimeoutMs;
    const { config, stopped, written, full } = this.#hooks;
    const [log, clock] = [this.#log, this.#clock];
    this.#host = new HostSync({
      log,
      clock,
      queue: this.#queue,
      sysctl: new Sysctl(options.sysctlRoot),
      conntrack: new Conntrack(this.#queue),
      config,
      stopped,
      onRoutesChanged: () => {
        if (written()) this.#runner.request(0);
      },
    });
    this.#sockets = this.#newSockets(options);
    this.#facts = new FactStore({
      docker: this.#docker,
      log,
      clock,
      timing: () => this.#config.sync,
      // A sync in flight either planned with this answer or finds itself behind when it ends.
      onChange: () => {
        if (this.#behind() && !this.#runner.running) this.#runner.request(this.#config.sync.debounceMs);
      },
      onAskAgain: () => this.#runner.request(0),
    });
    this.#ipv6 = new Ipv6Watch({
      probe: options.ipv6 ?? (() => probeIpv6Support(this.#queue, ip6tablesOptions(this.#config.iptables))),
      log,
      clock,
      retry: () => this.#config.sync,
      stopped,
      // A change of facts, so that the next sync plans IPv6 rather than reusing the last plan.
      arrived: () => {
        this.#facts.changed();
        full();
      },
    });
    this.#drift = new DriftWatch({ queue: this.#queue, log, clock, config, stopped, written, check: full });
    this.#cycle = this.#newCycle(options);
    this.#runner = new SyncRunner({
      run: (f) => this.#cycle.run(f),
      debounceMs: () => this.#config.sync.debounceMs,
      behind: () => this.#facts.haveFacts && this.#behind(),
      clock,
    });
    this.#swarm = this.#newSwarmCheck();
    this.#watch = this.#newDockerWatch();
    // A refusal is for whoever awaits readiness; nobody awaiting it is no crash.
    this.ready.catch(() => undefined);
  }

  /** What the parts ask of the daemon, read at each use. */
  readonly #hooks = {
    config: (): Config => this.#config,
    stopped: (): boolean => this.#stopped,
    written: (): boolean => this.#cycle.plan !== undefined,
    full: (): void => this.#runner.request(0, { full: true }),
  };

  #newSockets(options: DaemonOptions): HostSocketWatch {
    return new HostSocketWatch({
      log: this.#log,
      read: options.hostSockets ?? ((containers) => readHostSocketsIn(this.#queue.options.netns, containers)),
      containers: () => (this.#facts.haveFacts ? this.#facts.containers : undefined),
      labelPrefix: () => this.#config.labelPrefix,
      intervalMs: () => this.#config.sync.driftCheckMs,
      stopped: this.#hooks.stopped,
      clock: this.#clock,
      changed: () => {
        this.#facts.changed();
        this.#runner.request(0);
      },
    });
  }

  #newCycle(options: DaemonOptions): SyncCycle {
    const { config, stopped, full } = this.#hooks;
    const log = this.#log;
    return new SyncCycle({
      log,
      config,
      facts: this.#facts,
      host: this.#host,
      bridge: new BridgeSync({ log, stopped, recheck: full, retryMs: () => this.#config.sync.driftCheckMs, clock: this.#clock }),
      foreign: new ForeignSync({ log, config, stopped, metrics: this.#metrics, recheck: full }),
      egress: this.#egress,
      sockets: this.#sockets,
      ipv6: this.#ipv6,
      metrics: this.#metrics,
      readListeners: options.listeners ?? (() => readListeners()),
      makeDataplane: (c, v6) => this.#makeDataplane(c, v6),
      resolvWatch: () => this.#resolv.watch,
      events: () => this.#events,
      checked: (readMs) => (this.#drift.lastCheckMs = readMs),
      ready: () => this.#ready(),
      again: () => this.#runner.request(0),
    });
  }

  #newSwarmCheck(): SwarmCheck {
    return new SwarmCheck({
      docker: this.#docker,
      log: this.#log,
      clock: this.#clock,
      everyMs: () => this.#config.sync.fullCheckMs,
      stopped: this.#hooks.stopped,
      written: this.#hooks.written,
      connected: () => this.#watch.subscribed,
      refuse: (err) => {
        this.#refuse(err);
        void this.stop();
      },
    });
  }

  #newDockerWatch(): DockerWatch {
    return new DockerWatch({
      docker: this.#docker,
      log: this.#log,
      clock: this.#clock,
      retry: () => this.#config.sync,
      onEvent: (e) => this.#onEvent(e),
      // Before the first sync is asked for, so that a swarm node never gets a rule written.
      connected: async () => {
        if ((await this.#swarm.check()) === 'refused') return 'stop';
        this.#facts.resync();
        this.#runner.request(0);
        return 'go';
      },
    });
  }

  get stats(): { events: number; restores: number; processes: number; containers: number } {
    return { events: this.#events, restores: this.#cycle.restores, processes: this.#queue.runs, containers: this.#facts.count };
  }

  start(): void {
    this.#watch.start();
    this.#drift.start(this.#watchRulesetWanted);
    this.#swarm.schedule();
    this.#sockets.start();
    this.#host.followRoutes();
    void this.#resolv.follow(this.#config.egress.resolvConf);
  }

  /** Stops watching and leaves every rule in place: the firewall must not flap across restarts. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#egress.stop();
    this.#resolv.stop();
    this.#swarm.stop();
    this.#ipv6.stop();
    this.#runner.stop();
    this.#sockets.stop();
    this.#facts.stop();
    const watching = this.#watch.stop();
    await this.#host.stop();
    await this.#drift.stop();
    await Promise.race([Promise.allSettled([this.#runner.running, watching]), sleep(1500)]);
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
    this.#cycle.reload();
    this.#docker.apiTimeoutMs = config.sync.dockerTimeoutMs;
    const restart = [...(before.docker.host !== config.docker.host ? ['docker.host'] : []), ...alsoNeedsRestart];
    const said = restart.length > 0 ? `configuration reloaded; ${restart.join(', ')} changed and takes effect only after a restart` : 'configuration reloaded';
    this.#log.info({ event: 'reloaded', needsRestart: restart }, said);
    this.#runner.request(0, { full: true });
    this.#drift.schedule();
    this.#host.followRoutes();
    void this.#resolv.follow(this.#config.egress.resolvConf);
  }

  #onEvent(e: DockerEvent): void {
    this.#events++;
    // `docker swarm init` and `join` create the ingress and docker_gwbridge networks.
    if (e.type === 'network' && e.action === 'create') void this.#swarm.check();
    this.#metrics?.eventSeen(e);
    this.#log.debug({ event: 'docker-event', type: e.type, action: e.action, id: e.containerId?.slice(0, 12) }, 'docker event');
    this.#facts.onEvent(e);
    this.#runner.request(this.#config.sync.debounceMs);
  }

  /** Facts changed since the last written plan was made. */
  #behind = (): boolean => this.#cycle.plannedVersion !== this.#facts.version;

  /** Test hook: whether a retry is waiting, a sync running (and in it, Docker being read), and the facts version planned last. */
  get state(): { retryPending: boolean; syncing: boolean; refreshing: boolean; version: number; plannedVersion: number; unknown: string[]; containers: string[] } {
    const [runner, facts] = [this.#runner, this.#facts];
    const running = { retryPending: runner.retryPending, syncing: runner.running !== undefined, refreshing: facts.refreshing };
    return { ...running, version: facts.version, plannedVersion: this.#cycle.plannedVersion, unknown: facts.unknown, containers: facts.ids };
  }

  /** The running containers as last read, and the facts version they are of: the drop log attributes packets by them. */
  get facts(): { version: number; containers: () => ContainerFacts[] } {
    return { version: this.#facts.version, containers: () => this.#facts.containers };
  }

  get plan(): RuleSet | undefined {
    return this.#cycle.plan;
  }
}
