// The domain, shared by every part. Plain data only: no classes, no I/O.
import type { ChainPlan, JumpRule, Protocol } from './rule.js';

export type { ChainPlan, JumpRule, Protocol, Table } from './rule.js';

export type Mode = 'proxy' | 'dnat';
export type Family = 4 | 6;

/** One `-p` binding as Docker reports it (NetworkSettings.Ports). */
export interface PortBinding {
  containerPort: number;
  protocol: Protocol;
  /** '0.0.0.0', '::' or a concrete address; '' is normalised to '0.0.0.0' by docker/. */
  hostIp: string;
  hostPort: number;
}

/** A container's attachment to one Docker network. */
export interface NetworkAttachment {
  networkId: string;
  networkName: string;
  /** Container IPv4 on that network, '' when none. */
  ipv4: string;
  ipv6: string;
  /**
   * The container's MAC address on that network (lower case), undefined when Docker gave none.
   * Anti-spoofing holds the interface to it, and its IPv6 link-local address derives from it.
   */
  mac?: string;
}

/** What dockgate needs to know of one running container, taken from `docker inspect`. */
export interface ContainerFacts {
  id: string;
  /** Without Docker's leading '/'. */
  name: string;
  /** As Docker reports them: the image's labels merged with those given to `docker run`. */
  labels: Record<string, string>;
  /** Which of `labels` may be the image's rather than the admin's. */
  image: ContainerImage;
  networks: NetworkAttachment[];
  ports: PortBinding[];
  /**
   * Docker's creation time, RFC 3339 in UTC with nine fraction digits so that text order is time
   * order. Decides which container owns a host port that several labels claim: it survives
   * restarts, so the winner never flips.
   */
  created: string;
  /**
   * The pid of the container's init process (Docker's State.Pid), through whose network
   * namespace the host end of each of its interfaces is found. Absent when Docker gave none.
   */
  pid?: number;
  /**
   * Docker's start time of this run (State.StartedAt), in the form of `created`; a restart
   * changes it. Tells one run from the next, so a claim granted to a run ends with it. Absent
   * when Docker did not report it.
   */
  started?: string;
  /**
   * `--network host` (HostConfig.NetworkMode): it shares the host's network namespace, so its
   * ports are sockets on the host itself and its openings come from what it listens on
   * (plan/host-network.ts). Absent for every other network mode.
   */
  hostNetwork?: true;
}

/**
 * A host port a `dnat` mapping label holds without -p (see plan/ownership.ts), granted to one run
 * of one container. A plan lists the claims it grants; the daemon hands them to its next plan, so
 * that a host process binding the port later cannot take it back.
 */
export interface GrantedClaim {
  containerId: string;
  /** The run it was granted to (ContainerFacts.started): a new start is checked again. */
  started: string;
  protocol: Protocol;
  /** The host address the label names; undefined for every address. */
  hostIp: string | undefined;
  hostPort: number;
}

/**
 * The image a container was created from, as far as its labels go. Docker copies an image's
 * LABELs into every container made from it and reports them as the container's own, so a label
 * whose value equals the image's may be the image author's word rather than the admin's.
 */
export type ContainerImage =
  /** `sameAsImage`: the keys of the container's labels whose value equals the image's own, sorted. */
  | { kind: 'inspected'; ref: string; sameAsImage: string[] }
  /** The image cannot be inspected (removed while the container lives): any label may be its. */
  | { kind: 'unknown'; ref: string; reason: string };

/**
 * A label under the prefix that may be the image's, and what dockgate made of it: it never opens
 * or widens anything (`ignored`), but one that only takes away still counts (`restricts`), so an
 * image cannot cancel the admin's own `egress=false` or `from` by carrying the same value.
 */
export interface ImageLabel {
  /** Full label key, e.g. 'dockgate.ports'. */
  label: string;
  /** Its value, cut to 200 characters for logs. */
  value: string;
  /** The image as the container names it (ContainerImage.ref). */
  image: string;
  /** `same-value`: the image carries this very value; `image-unknown`: the image cannot be inspected. */
  why: 'same-value' | 'image-unknown';
  effect: 'ignored' | 'restricts';
}

/** The host end (a veth on the network's bridge) of one container's interface, as the kernel reports it. */
export interface BridgePort {
  containerId: string;
  networkId: string;
  /** The host-side interface, a port of the network's bridge. */
  port: string;
}

/**
 * Who may send from which address on dockgate's bridges (src/plan/antispoof.ts): one entry per
 * container interface on a managed bridge. Every address listed is *known*: a packet from it is
 * accepted on its own port only.
 */
export interface PortOwner {
  /** `name/shortid`, the comment its set elements carry. */
  comment: string;
  bridge: string;
  /** The host-side port; undefined while it is not known (the container's own packets are then dropped). */
  port: string | undefined;
  mac: string;
  ipv4: string[];
  /** Global/ULA address and the link-local address derived from the MAC. */
  ipv6: string[];
}

/** The `bridge dockgate` nft table's content: everything in it but the fixed chain. */
export interface BridgeFilter {
  owners: PortOwner[];
  /** The drop log's settings (src/plan/drop-log.ts) when it is on: the chain logs `spoofed` in front of its drops. */
  log?: { group: number; ratePerSecond: number; burst: number };
}

/** A Docker bridge network dockgate manages. */
export interface NetworkFacts {
  id: string;
  name: string;
  /** The Linux bridge interface (com.docker.network.bridge.name, else br-<12 hex>). */
  bridge: string;
  /** IPv4 subnets in CIDR form. */
  subnets: string[];
  /** IPv6 subnets in CIDR form (only for networks created with --ipv6). */
  subnets6: string[];
  /** `docker network create --internal`: nothing dockgate writes lets traffic in or out of it. */
  internal: boolean;
}

/** A Docker network whose driver is not `bridge` (macvlan, ipvlan, overlay, host): not firewalled by dockgate. */
export interface OtherNetwork {
  id: string;
  name: string;
  driver: string;
}

/** A socket a host process listens on; a label may never claim its port (dnat without -p). */
export interface Listener {
  protocol: Protocol;
  /** Local address, or undefined for every address (0.0.0.0 or ::). */
  ip: string | undefined;
  port: number;
}

/** Host ports a `dnat` mapping label may claim without a Docker binding. */
export interface PortRange {
  start: number;
  end: number;
}

/** `dockgate.ports` entry after parsing, before it is matched against Docker's bindings. */
export interface PortSpec {
  /** Inclusive container port range; start === end for a single port. */
  start: number;
  end: number;
  protocol: Protocol;
  /** Present only for the mapping form `[HOSTIP:]HOSTPORT:PORT`. */
  host?: {
    /** '' when the label gave no host IP (means all addresses). */
    ip: string;
    start: number;
    end: number;
  };
}

/** An IPv4 or IPv6 CIDR, re-rendered canonically (e.g. '10.0.0.0/8', '2001:db8::/32'). */
export interface Cidr {
  family: Family;
  /** Canonical text, always with a prefix length. */
  text: string;
}

/** The ports an egress entry allows: every protocol and port, or one protocol's port range. */
export type EgressPorts = { kind: 'any' } | { kind: 'range'; protocol: Protocol; start: number; end: number };

/** Where an egress entry leads: fixed addresses, or whatever a DNS name resolves to (A and AAAA). */
export type EgressDestination = { kind: 'cidr'; cidr: Cidr } | { kind: 'name'; name: string };

/** One entry of an egress allow-list (`dockgate.egress` or `defaults.egress`). */
export interface EgressEntry {
  destination: EgressDestination;
  ports: EgressPorts;
}

/**
 * Where a container may open connections beyond its own networks: anywhere, nowhere, or only to
 * the listed destinations (and its resolvers on port 53).
 */
export type EgressPolicy = { kind: 'all' } | { kind: 'none' } | { kind: 'list'; entries: EgressEntry[] };

/**
 * The ipset holding a DNS name's addresses of one family (egress/sets.ts), which egress accepts
 * match on; one per name and family, shared by every container that lists the name.
 */
export interface EgressSet {
  /** `dockgate-e4-` or `dockgate-e6-` and 12 hex digits of the name's hash. */
  set: string;
  family: Family;
  /** The DNS name whose A (4) or AAAA (6) answers fill it. */
  name: string;
}

/** The typed result of a container's `dockgate.*` labels (Traefik-style: parsed once, in one place). */
export interface ContainerPolicy {
  ports: PortSpec[];
  from: Cidr[];
  mode: Mode;
  egress: EgressPolicy;
  /** True when the container carries a `dockgate.ports` label at all. */
  declared: boolean;
}

export interface LabelError {
  /** Full label key, e.g. 'dockgate.ports'. */
  label: string;
  /** The offending value, cut to 200 characters for logs. */
  value: string;
  reason: string;
  /**
   * What the error costs. Absent: the container gets nothing at all (fail closed). 'entry': only
   * this label entry is left out (an ownership refusal); the container's other openings stay.
   */
  closes?: 'entry';
}

export type PolicyResult =
  | { ok: true; policy: ContainerPolicy }
  | { ok: false; errors: LabelError[] };

/** Defaults applied when a label is absent (from config). */
export interface PolicyDefaults {
  mode: Mode;
  from: Cidr[];
  egress: EgressPolicy;
}

/*
 * "Any" is a case of its own, not a spelling of an address. A tagged union rather than a branded
 * string or a sentinel ('', '0.0.0.0', '::/0', undefined): the compiler makes every reader handle
 * "any" on purpose (it renders as *no* match: no `-d`/`-s`, `--dst-type LOCAL`, no conntrack
 * `--orig-dst`), and "everyone" can never sit in a list beside CIDRs. Built and rendered for
 * people and JSON only through src/model/format.ts.
 */

/** The host address an opening is bound to: every local address, or one address of its family. */
export type HostAddress = { kind: 'any' } | { kind: 'address'; ip: string };

/** Who may connect: everyone, or a non-empty list of CIDRs of the opening's family. */
export type Sources = { kind: 'any' } | { kind: 'list'; cidrs: string[] };

/** One resolved opening: a host address/port that leads to a container port. */
export interface Opening {
  /** Written with iptables (4) or ip6tables (6). */
  family: Family;
  protocol: Protocol;
  /** Host address of `family`, or any local address. */
  hostIp: HostAddress;
  hostPort: number;
  containerIp: string;
  containerPort: number;
  mode: Mode;
  /** Sources of `family` allowed (no sources → no opening, so a list is never empty). */
  sources: Sources;
}

/** What one container ends up with: for status, logs and the plan's JSON. */
export interface ContainerPlan {
  id: string;
  name: string;
  mode: Mode;
  /** Whether it may leave its networks at all (everywhere, or to the destinations of `egressTo`). */
  egress: boolean;
  /** Present when its egress is an allow-list: only these destinations (and its resolvers on port 53). */
  egressTo?: EgressEntry[];
  openings: Opening[];
  errors: LabelError[];
  warnings: string[];
  /** Its labels that may be the image's (none under trust_image_labels). */
  imageLabels: ImageLabel[];
  /** A `--network host` container: `mode` and `egress` do not apply, its openings are sockets it listens on. */
  hostNetwork?: true;
  /** Its address on each managed bridge it is served through (never an internal one), both families; absent: none. */
  addresses?: BridgeAddress[];
  /** Of `addresses`, those its egress accepts leave from (families in which it may reach something); absent: none. */
  leavesFrom?: BridgeAddress[];
}

/** A container's address on one bridge, as its egress rules and guards key on it. */
export interface BridgeAddress {
  family: Family;
  address: string;
  bridge: string;
}

/** The chains and jumps of one address family. */
export interface FamilyRules {
  chains: ChainPlan[];
  jumps: JumpRule[];
}

/**
 * The whole desired state: computed purely from config + facts. `chains`/`jumps` are the IPv4
 * rules (iptables); `ipv6` the IPv6 ones (ip6tables), absent when the plan is IPv4-only.
 */
export interface RuleSet {
  chains: ChainPlan[];
  jumps: JumpRule[];
  ipv6?: FamilyRules;
  containers: ContainerPlan[];
  /** Anti-spoofing on the bridge ports (nft bridge family); absent from plans built by hand in tests. */
  bridge?: BridgeFilter;
  /** The ipsets the egress accepts match on (DNS names in allow-lists), both families; absent: none. */
  egressSets?: EgressSet[];
  /** The claims this plan grants, for the next plan's `granted`; absent on one family's view of a plan. */
  granted?: GrantedClaim[];
  /** The bridge interfaces of the networks dockgate manages, internal ones included; absent from plans built by hand. */
  bridges?: string[];
}

/** Who holds a listening socket: a process of one host-network container, or anyone else (the host, another container). */
export type SocketOwner = { kind: 'container'; id: string } | { kind: 'other' };

/**
 * A listening socket in the network namespace the daemon runs in, the one `--network host`
 * containers share, with its owner (dataplane/host-sockets.ts): what a host-network container's
 * `dockgate.ports` may open.
 */
export interface HostSocket {
  protocol: Protocol;
  /**
   * The table it is listed in (/proc/net/tcp or tcp6). A wildcard in tcp6 takes IPv4 as well
   * unless the socket is IPv6-only, which the kernel does not show there.
   */
  table: Family;
  /** Local address, or undefined for every address (0.0.0.0 or ::). A v4-mapped address is its IPv4 form. */
  ip: string | undefined;
  port: number;
  owner: SocketOwner;
}
