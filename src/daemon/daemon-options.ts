// What a Daemon is made with: the config, Docker, the log, and the seams tests replace.
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { CommandQueue } from '../dataplane/command-queue.js';
import type { Ipv6Probe, SyncTarget } from '../dataplane/families.js';
import type { DaemonMetrics } from '../metrics/metrics.js';
import type { Listener } from '../model/types.js';
import type { Clock } from '../util/clock.js';
import type { DockerApi } from './docker-api.js';
import type { HostSocketWatchOptions } from './host-socket-watch.js';
import type { Lookup } from '../egress/resolver.js';
import type { IpsetWriter } from './egress-sync.js';
import { commandObserver } from './command-log.js';

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
  /** Timers and now(); tests use a fake clock (test/support/fake-clock.ts). */
  clock?: Clock;
  /** Prometheus metrics (metrics.listen); absent when they are off. */
  metrics?: DaemonMetrics;
  /** Answers the DNS names of egress lists instead of the nameservers of resolv.conf (tests, the bench). */
  lookup?: Lookup;
  /** Replaces the kernel's ipsets (tests and the bench, beside the in-memory dataplane). */
  ipsets?: IpsetWriter;
}

/** The queue when none is given: every command it runs logged at debug and counted in the metrics. */
export const defaultQueue = (o: DaemonOptions): CommandQueue => new CommandQueue({ onDone: commandObserver(o.log, o.metrics) });
