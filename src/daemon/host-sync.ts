// The host settings a plan needs beyond the rules: per-interface forwarding (IPv4 and IPv6, with
// the external interfaces followed from the host's routes), route_localnet for loopback dnat,
// the all.forwarding warning, and conntrack clean-up of changed dnat openings. Everything it
// changes goes through dataplane/ (Sysctl, Conntrack, the route follower).
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { CommandQueue } from '../dataplane/command-queue.js';
import type { Conntrack } from '../dataplane/conntrack.js';
import { type HostRoutes, RouteFollower } from '../dataplane/routes.js';
import type { Sysctl } from '../dataplane/sysctl.js';
import { describeHost } from '../model/format.js';
import type { Family, NetworkFacts, RuleSet } from '../model/types.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { type InterfaceSettings, conntrackFlushes, interfaceSettings, resolveExternalInterfaces } from '../plan/host-settings.js';
import { errorMessage } from '../util/errors.js';

export interface HostSyncOptions {
  log: Logger;
  queue: CommandQueue;
  sysctl: Sysctl;
  conntrack: Conntrack;
  /** Read at each use: a reload changes it. */
  config: () => Config;
  stopped: () => boolean;
  clock: Clock;
  /** The routes moved: a sync should turn forwarding on where they went. */
  onRoutesChanged: () => void;
}

export class HostSync {
  readonly #o: HostSyncOptions;
  #allForwarding: string | undefined;
  /** Follows the host's routes while external_interfaces is auto (see followRoutes). */
  #routes: RouteFollower | undefined;
  /** The auto external interfaces last logged; undefined until the first are known. */
  #logged: { key: string; interfaces: string[] } | undefined;
  /** IPv6 per-interface sysctls: null when the host has none, undefined until looked at. */
  #ipv6Sysctls: { forceForwarding: boolean } | null | undefined;

  constructor(options: HostSyncOptions) {
    this.#o = options;
  }

  /** The families the host routes in of the admin's accord (PlanInput.adminRouting), read now. */
  adminRouting(): Promise<Family[]> {
    return this.#o.sysctl.adminRouting();
  }

  /** Forwarding and route_localnet per interface, conntrack clean-up, the all.forwarding warning. */
  async apply(plan: RuleSet, previous: RuleSet | undefined, networks: readonly NetworkFacts[]): Promise<void> {
    const wanted = interfaceSettings(plan, networks, await this.#externalInterfaces(networks));
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
        const { changed, missing } = await this.#o.sysctl.set(setting, ifaces, value);
        if (changed.length > 0) {
          this.#o.log.info({ event: 'sysctl', setting, value, interfaces: changed }, `net.ipv4.conf.<iface>.${setting}=${value} on ${changed.join(', ')}`);
        }
        if (missing.length > 0) this.#o.log.debug({ event: 'sysctl-missing', setting, interfaces: missing }, 'interfaces not present yet');
      } catch (err) {
        this.#o.log.error({ event: 'sysctl-failed', setting, err: errorMessage(err) }, `cannot set ${setting}: ${errorMessage(err)}`);
      }
    }
    await this.#ipv6Forwarding(wanted);
    const all = await this.#o.sysctl.read('net.ipv4.conf.all.forwarding');
    if (all !== this.#allForwarding) {
      this.#allForwarding = all;
      if (all === '1') {
        this.#o.log.warn(
          { event: 'all-forwarding', value: all },
          'net.ipv4.conf.all.forwarding=1: this host routes between all its interfaces, and dockgate leaves that routing to your FORWARD rules; if that was not meant, set "ip-forward": false in daemon.json, set net.ipv4.conf.all.forwarding=0, and let dockgate enable forwarding per interface',
        );
      }
    }
    // Not at start-up: a restarted daemon must not cut the flows of ports that never changed.
    const flushes = previous ? conntrackFlushes(previous, plan) : [];
    if (flushes.length > 0) {
      const r = await this.#o.conntrack.flush(flushes);
      if (r.warning) this.#o.log.warn({ event: 'conntrack-missing' }, r.warning);
      for (const e of r.errors) this.#o.log.error({ event: 'conntrack-failed', err: e }, `stale conntrack entries not removed: ${e}`);
      const ports = flushes.map((f) => `${describeHost(f.hostIp, f.family)}:${f.hostPort}/${f.protocol}${f.target ? ` via ${f.target.ip}:${f.target.port}` : ''}`);
      this.#o.log.debug({ event: 'conntrack-flushed', ports, deleted: r.deleted }, 'conntrack entries removed');
    }
  }

  /**
   * The external interfaces now: config's list, or in auto mode every interface of the routes
   * last read but the managed bridges. Until the first read is in, waits for it (bounded): the
   * first cycle after a reboot should already forward on the uplink and the LAN, but a hung `ip`
   * must not hold up the rest. Logged here, where the managed bridges are known, so that the
   * line names exactly the interfaces that get forwarding.
   */
  async #externalInterfaces(networks: readonly NetworkFacts[]): Promise<string[]> {
    const spec = this.#o.config().externalInterfaces;
    const routes = this.#routes;
    if (spec.kind !== 'list' && routes && !routes.firstReadDone) {
      let timer: TimerHandle | undefined;
      await Promise.race([routes.firstRead, new Promise<void>((resolve) => (timer = this.#o.clock.setTimeout(resolve, 3000)))]);
      this.#o.clock.clearTimeout(timer);
    }
    const current = routes?.current;
    const external = resolveExternalInterfaces(spec, current?.reach, networks.map((n) => n.bridge));
    if (spec.kind !== 'list' && current) this.#logExternal(external, current);
    return external;
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
      const found = (await this.#o.sysctl.hasIpv6()) ? { forceForwarding: await this.#o.sysctl.knowsIpv6('force_forwarding') } : null;
      this.#ipv6Sysctls = found;
      if (found === null) {
        this.#o.log.info({ event: 'ipv6-sysctls-absent' }, 'no /proc/sys/net/ipv6: IPv6 is disabled on this host; only IPv4 forwarding is set');
      } else if (!found.forceForwarding) {
        this.#o.log.info(
          { event: 'ipv6-no-force-forwarding' },
          'this kernel has no net.ipv6.conf.<iface>.force_forwarding (Linux 6.17+): IPv6 is forwarded only where net.ipv6.conf.all.forwarding=1',
        );
      }
    }
    const v6 = this.#ipv6Sysctls;
    if (v6 === null) return;
    try {
      const ra = await this.#o.sysctl.keepAcceptingRa(wanted.external);
      if (ra.changed.length > 0) {
        this.#o.log.info(
          { event: 'sysctl', family: 6, setting: 'accept_ra', value: '2', interfaces: ra.changed },
          `net.ipv6.conf.<iface>.accept_ra=2 on ${ra.changed.join(', ')} (was 1): keeps router advertisements, and the default route they give, once IPv6 forwarding is on`,
        );
      }
      const settings = v6.forceForwarding ? (['forwarding', 'force_forwarding'] as const) : (['forwarding'] as const);
      for (const setting of settings) {
        const { changed, missing } = await this.#o.sysctl.set6(setting, wanted.forwarding, '1');
        if (changed.length > 0) {
          this.#o.log.info({ event: 'sysctl', family: 6, setting, value: '1', interfaces: changed }, `net.ipv6.conf.<iface>.${setting}=1 on ${changed.join(', ')}`);
        }
        if (missing.length > 0) this.#o.log.debug({ event: 'sysctl-missing', family: 6, setting, interfaces: missing }, 'interfaces not present yet');
      }
    } catch (err) {
      this.#o.log.error({ event: 'sysctl-failed', family: 6, err: errorMessage(err) }, `cannot set IPv6 forwarding: ${errorMessage(err)}`);
    }
  }

  /**
   * Follows the host's routes while external_interfaces is auto (started by start() and by a
   * reload that makes it auto; stopped by stop() and by a reload that makes it a list).
   */
  followRoutes(): void {
    if (this.#o.stopped()) return;
    const auto = this.#o.config().externalInterfaces.kind !== 'list';
    if (auto && !this.#routes) {
      this.#routes = new RouteFollower({
        queue: this.#o.queue,
        log: this.#o.log,
        ipv6: () => this.#o.sysctl.hasIpv6(),
        safetyReadMs: this.#o.config().sync.fullCheckMs,
        restartMinMs: this.#o.config().sync.retryMinMs,
        restartMaxMs: this.#o.config().sync.retryMaxMs,
        onChange: () => this.#o.onRoutesChanged(),
      });
      this.#routes.start();
    } else if (!auto && this.#routes) {
      void this.stop();
    }
  }

  async stop(): Promise<void> {
    const routes = this.#routes;
    this.#routes = undefined;
    this.#logged = undefined;
    await routes?.stop();
  }

  /** The auto external interfaces, logged when they differ from the last logged (and the first time). */
  #logExternal(now: string[], routes: HostRoutes): void {
    const before = this.#logged;
    const uplinks = routes.interfaces.filter((i) => now.includes(i));
    // Also when only the default route moved between followed interfaces: the line says which is the uplink.
    const key = `${now.join(' ')}|${uplinks.join(' ')}`;
    if (before && before.key === key) return;
    this.#logged = { key, interfaces: now };
    const was = before?.interfaces ?? [];
    const added = now.filter((i) => !was.includes(i));
    const removed = was.filter((i) => !now.includes(i));
    const list = now.map((i) => (uplinks.includes(i) ? `${i} (default route)` : i)).join(', ') || 'none';
    const detail = [
      ...(before && added.length > 0 ? [`forwarding goes on on ${added.join(', ')}`] : []),
      // Never off: flows that still arrive there (a second uplink, a route coming back) keep working.
      ...(removed.length > 0 ? [`${removed.join(', ')} keeps its forwarding`] : []),
      ...(now.length === 0 ? ['no route: only the bridges forward until one appears'] : []),
    ];
    this.#o.log[now.length === 0 ? 'warn' : 'info'](
      { event: 'external-interfaces', mode: 'auto', interfaces: now, uplinks, added, removed, routes: routes.routes, networks: routes.networks },
      `${before ? 'routes changed; ' : ''}external interfaces (auto, every interface the host's routes lead through, Docker's bridges left out): ${list}${detail.length > 0 ? `; ${detail.join('; ')}` : ''}`,
    );
  }
}
