// Config + Docker facts → the planner's input. One place, so that `run`, `plan` and `status`
// compute exactly the same plan.
import type { Config } from '../config/schema.js';
import type {
  BridgePort,
  ContainerFacts,
  Family,
  GrantedClaim,
  HostSocket,
  Listener,
  NetworkFacts,
  OtherNetwork,
  PolicyDefaults,
  PortRange,
} from '../model/types.js';
import type { DropLogSettings } from './drop-log.js';
import type { Ipv6Masquerade } from './network-rules.js';

/** Everything the planner reads: config and facts, nothing else (the plan is a pure function of it). */
export interface PlanInput {
  labelPrefix: string;
  defaults: PolicyDefaults;
  containers: readonly ContainerFacts[];
  networks: readonly NetworkFacts[];
  /** Non-bridge networks, so that their containers are reported as not firewalled. */
  otherNetworks?: readonly OtherNetwork[];
  /** Host ports a dnat mapping may claim without -p (default 1024-65535). */
  claimable?: PortRange;
  /** Host sockets; a label never claims a port a host process listens on. Undefined: not checked. */
  listeners?: readonly Listener[];
  /**
   * The sockets listening in the host's network namespace and which host-network container's
   * process holds each (dataplane/host-sockets.ts): all a `--network host` container may open.
   * Undefined: not read, such containers get nothing opened.
   */
  hostSockets?: readonly HostSocket[];
  /**
   * The claims the previous plan granted (`RuleSet.granted`), the caller's memory: a claim among
   * them for the same run of its container keeps its port against a host process that listens on
   * it since. Absent: every claim is judged as at its container's start.
   */
  granted?: readonly GrantedClaim[];
  /** trust_image_labels: labels equal to the image's count as the admin's (default false: they only restrict). */
  trustImageLabels?: boolean;
  /**
   * The host's nameservers (resolv.conf), addresses of either family: a container with an egress
   * allow-list may reach them on port 53. Absent: none.
   */
  resolvers?: readonly string[];
  /**
   * Whether the host has ipset, which a DNS name in an egress list needs (the daemon finds out at
   * its first write). False: names allow nothing, with a warning. Absent: true.
   */
  egressNames?: boolean;
  /** Plan ip6tables rules too (default true; false on hosts booted without IPv6). */
  ipv6?: boolean;
  /** Which IPv6 subnets are masqueraded when they leave (default 'ula': fc00::/7 only; global ones are routed). */
  ipv6Masquerade?: Ipv6Masquerade;
  /**
   * The families in which the host routes between all its interfaces of the admin's accord:
   * net.ipv4.conf.all.forwarding (= ip_forward) or net.ipv6.conf.all.forwarding is 1 (a router,
   * a VPN gateway, Docker's "ip-forward"). In every other family the host was no router before
   * dockgate, and DOCKGATE-FORWARD ends with the routing guard (networkChains). Read by the daemon
   * and the one-shot commands alike (Sysctl.adminRouting). Absent: not known, no guard planned.
   */
  adminRouting?: readonly Family[];
  /**
   * The host end of each container interface on a managed bridge, as the kernel reports it
   * (dataplane/bridge-ports.ts): anti-spoofing holds each port to its container's addresses.
   * Absent or incomplete: those containers' addresses are still known, so only they are cut off.
   */
  bridgePorts?: readonly BridgePort[];
  /** drops.log: NFLOG lines in front of what dockgate refuses (src/plan/drop-log.ts). Absent: none. */
  dropLog?: DropLogSettings;
  /**
   * The families whose kernel has no raw table (LXC/Proxmox, no iptable_raw; the dataplane finds
   * out, dataplane/kernel-limits.ts). Nothing is planned in raw there; its drops stand in filter
   * and nat instead (networkChains, LOOPBACK_GUARD). Absent: raw everywhere.
   */
  rawMissing?: readonly Family[];
}


export interface HostFacts {
  containers: readonly ContainerFacts[];
  networks: readonly NetworkFacts[];
  otherNetworks: readonly OtherNetwork[];
  listeners: readonly Listener[] | undefined;
  /** Listening sockets and their host-network owners (PlanInput.hostSockets); absent: not read. */
  hostSockets?: readonly HostSocket[];
  /** Claims granted before (the running daemon's memory, see PlanInput.granted); absent for a plan made from nothing. */
  granted?: readonly GrantedClaim[];
  /** The host end of each container interface (anti-spoofing); absent: none known. */
  bridgePorts?: readonly BridgePort[];
  /** Whether the host has IPv6 (then ip6tables rules are planned too). */
  ipv6: boolean;
  /** The families whose all.forwarding is 1 (PlanInput.adminRouting); absent: no routing guard. */
  adminRouting?: readonly Family[];
  /** The host's nameservers (PlanInput.resolvers); absent: none known. */
  resolvers?: readonly string[];
}

export function planInput(config: Config, facts: HostFacts): PlanInput {
  return {
    labelPrefix: config.labelPrefix,
    defaults: config.defaults,
    trustImageLabels: config.trustImageLabels,
    claimable: config.claimablePorts,
    containers: facts.containers,
    networks: facts.networks,
    otherNetworks: facts.otherNetworks,
    listeners: facts.listeners,
    hostSockets: facts.hostSockets,
    granted: facts.granted,
    ipv6: facts.ipv6,
    bridgePorts: facts.bridgePorts,
    ipv6Masquerade: config.ipv6Masquerade,
    adminRouting: facts.adminRouting,
    dropLog: config.drops.log ? { group: config.drops.nflogGroup, ratePerSecond: config.drops.ratePerSecond, burst: config.drops.burst } : undefined,
    resolvers: facts.resolvers,
  };
}
