// The host's routes, read with `ip -j route`, and followed while the daemon runs so that
// `external_interfaces: auto` tracks every interface through which the host reaches a network:
// the uplinks of the default routes, and a LAN, a VPN or a static route's interface besides.
//
// How routes are followed (the measurements behind this are in docs/performance.md):
// - a periodic read costs two processes (IPv4 and IPv6) per poll, mostly Node's spawn (reading
//   the whole main table instead costs the same processes): at a period short enough to react,
//   a steady share of a core forever, and two more processes per second in the queue
//   iptables-restore waits on; a cheaper period reacts slowly;
// - `ip monitor route` costs no CPU while idle and next to nothing per change.
// So a supervised `ip monitor route` says *when* to read, and a read (through the queue, like
// every other short command) says *what* the routes are; the monitor's lines are never parsed, so
// its text format (which `-j` does not turn into JSON on iproute2 6.1) does not matter. A slow
// safety read (every `sync.full_check_ms`, 180 s by default) covers what a monitor can miss
// (netlink overruns, a restart gap). If the monitor keeps dying, the follower falls back to
// reading periodically.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Family } from '../model/types.js';
import { type DefaultRoute, type NetworkRoute, defaultRouteInterfaces, parseHostRoutes, parseLocalRoutes, reachInterfaces } from '../net/routes.js';
import { type CommandQueue, failureMessage, succeeded } from './command-queue.js';
import { type RunOutcome, SyncRunner } from '../util/sync-runner.js';
import { SupervisedMonitor } from './supervised.js';
import { errorMessage } from '../util/errors.js';

export interface HostRoutes {
  /** The default routes. */
  routes: DefaultRoute[];
  /** Every interface of the default routes, sorted. */
  interfaces: string[];
  /** The main table's routes to other networks (on-link subnets, static and VPN routes). */
  networks: NetworkRoute[];
  /**
   * Every interface through which the host reaches a network (default routes and the others),
   * sorted, Docker's own interfaces by name left out (reachInterfaces).
   */
  reach: string[];
}

/** Reads both families' main routing table of the queue's namespace. IPv6 only when `ipv6`. */
export async function readHostRoutes(queue: CommandQueue, ipv6: boolean, command = 'ip'): Promise<HostRoutes> {
  const routes: DefaultRoute[] = [];
  const networks: NetworkRoute[] = [];
  for (const family of ipv6 ? ([4, 6] as const) : ([4] as const)) {
    const args = family === 4 ? ['-j', 'route', 'show', 'table', 'main'] : ['-j', '-6', 'route', 'show', 'table', 'main'];
    const r = await queue.run(command, args, { timeoutMs: 10_000 });
    if (!succeeded(r)) throw new Error(failureMessage(`${command} ${args.join(' ')}`, r));
    const parsed = parseHostRoutes(r.stdout, family, `${command} ${args.join(' ')}`);
    if (!parsed.ok) throw new Error(parsed.error);
    routes.push(...parsed.value.defaults);
    networks.push(...parsed.value.networks);
  }
  return { routes, interfaces: defaultRouteInterfaces(routes), networks, reach: reachInterfaces(routes, networks) };
}

/** The queue's namespace's local destinations of one family (see parseLocalRoutes). */
export async function readLocalDestinations(queue: CommandQueue, family: Family, command = 'ip'): Promise<string[]> {
  const args = ['-j', ...(family === 6 ? ['-6'] : []), 'route', 'show', 'table', 'local'];
  const r = await queue.run(command, args, { timeoutMs: 10_000 });
  if (!succeeded(r)) throw new Error(failureMessage(`${command} ${args.join(' ')}`, r));
  const parsed = parseLocalRoutes(r.stdout, family, `${command} ${args.join(' ')}`);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.value;
}

export interface RouteFollowerOptions {
  queue: CommandQueue;
  log: Logger;
  /** Called after every read whose interfaces (default-route or reach) differ from the last read's, and after the first. */
  onChange: (now: HostRoutes, before: HostRoutes | undefined) => void;
  /** Whether this namespace has IPv6 (asked before every read: cheap, and it can change). */
  ipv6: () => Promise<boolean>;
  command?: string;
  /** Route events come in bursts (a link going down drops several routes): one read per burst. */
  debounceMs?: number;
  /** Safety read while the monitor runs; also the polling period's upper bound. */
  safetyReadMs?: number;
  /** Polling period once the monitor has been given up. */
  fallbackPollMs?: number;
  restartMinMs?: number;
  restartMaxMs?: number;
  /** Monitor starts in a row that die within `healthyRunMs` before polling takes over. */
  maxQuickRestarts?: number;
  healthyRunMs?: number;
}

export class RouteFollower {
  readonly #o: Required<Omit<RouteFollowerOptions, 'onChange' | 'ipv6' | 'log' | 'queue'>> & RouteFollowerOptions;
  #current: HostRoutes | undefined;
  readonly #monitor: SupervisedMonitor;
  #stopped = false;
  #started = false;
  #polling = false;
  #safetyTimer: NodeJS.Timeout | undefined;
  /** One read at a time; requests during a read make exactly one more read after it (debounced). */
  readonly #reads: SyncRunner;
  #lastError: string | undefined;
  #firstDone!: () => void;
  #firstReadDone = false;
  /** Settles once the first read has finished, successfully or not. */
  readonly firstRead: Promise<void> = new Promise<void>((resolve) => (this.#firstDone = resolve)).then(() => {
    this.#firstReadDone = true;
  });

  constructor(options: RouteFollowerOptions) {
    this.#o = {
      command: 'ip',
      debounceMs: 100,
      safetyReadMs: 30_000,
      fallbackPollMs: 5_000,
      restartMinMs: 200,
      restartMaxMs: 30_000,
      maxQuickRestarts: 10,
      healthyRunMs: 60_000,
      ...options,
    };
    this.#reads = new SyncRunner({ run: () => this.#read(), debounceMs: () => this.#o.debounceMs, behind: () => false });
    this.#monitor = new SupervisedMonitor({
      queue: this.#o.queue,
      log: this.#o.log,
      name: 'route-monitor',
      command: this.#o.command,
      args: ['monitor', 'route'],
      // Any line, on stdout or stderr ("netlink receive error ... No buffer space": events lost),
      // means "read again"; what it says does not matter.
      onLine: () => this.#requestRead(this.#o.debounceMs),
      onGap: () => this.#requestRead(0),
      onGiveUp: () => {
        this.#polling = true;
        this.#scheduleSafetyRead();
      },
      restartMinMs: this.#o.restartMinMs,
      restartMaxMs: this.#o.restartMaxMs,
      maxQuickRestarts: this.#o.maxQuickRestarts,
      healthyRunMs: this.#o.healthyRunMs,
    });
  }

  /** The last routes read; undefined until a read succeeded. */
  get current(): HostRoutes | undefined {
    return this.#current;
  }

  /** The pid of the running `ip monitor` (tests kill it to prove the restart). */
  get monitorPid(): number | undefined {
    return this.#monitor.pid;
  }

  /** Whether the first read has finished (then waiting for it is pointless). */
  get firstReadDone(): boolean {
    return this.#firstReadDone;
  }

  get polling(): boolean {
    return this.#polling;
  }

  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    this.#monitor.start();
    this.#scheduleSafetyRead();
    this.#requestRead(0);
  }

  /** Stops the monitor by its pid (SIGTERM, SIGKILL after 1 s) and every timer. Never throws. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#reads.stop();
    clearTimeout(this.#safetyTimer);
    this.#firstDone();
    await this.#monitor.stop();
    await Promise.race([this.#reads.running ?? Promise.resolve(), sleep(2000, undefined, { ref: false })]);
  }

  #scheduleSafetyRead(): void {
    clearTimeout(this.#safetyTimer);
    if (this.#stopped) return;
    const every = this.#polling ? Math.min(this.#o.fallbackPollMs, this.#o.safetyReadMs) : this.#o.safetyReadMs;
    this.#safetyTimer = setTimeout(() => {
      this.#requestRead(0);
      this.#scheduleSafetyRead();
    }, every);
    this.#safetyTimer.unref();
  }

  #requestRead(delayMs: number): void {
    if (!this.#stopped) this.#reads.request(delayMs);
  }

  async #read(): Promise<RunOutcome> {
    try {
      const now = await readHostRoutes(this.#o.queue, await this.#o.ipv6(), this.#o.command);
      if (this.#stopped) return { ok: true };
      this.#lastError = undefined;
      const before = this.#current;
      this.#current = now;
      const key = (r: HostRoutes): string => `${r.interfaces.join(' ')}|${r.reach.join(' ')}`;
      if (!before || key(before) !== key(now)) this.#o.onChange(now, before);
      return { ok: true };
    } catch (err) {
      const msg = errorMessage(err);
      // Said once per distinct failure, not once per retry.
      if (msg !== this.#lastError) {
        this.#o.log.warn({ event: 'routes-unreadable', err: msg }, `cannot read the routes: ${msg}; keeping the last known interfaces`);
      }
      this.#lastError = msg;
      // Nothing known yet: try again soon rather than at the next safety read.
      return this.#current === undefined ? { ok: false, retryInMs: 2000 } : { ok: true };
    } finally {
      this.#firstDone();
    }
  }
}
