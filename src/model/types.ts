// The domain, shared by every part: the facts (facts.ts), the policy (policy.ts), typed rules
// (rule.ts) and, here, the plan made of them. Plain data only: no classes, no I/O.
import type { ChainPlan, JumpRule, Protocol } from './rule.js';
import type { Family, ImageLabel } from './facts.js';
import type { EgressEntry, EgressSet, LabelError, Mode } from './policy.js';

export type { ChainPlan, JumpRule, Protocol, Table } from './rule.js';
export type * from './facts.js';
export type * from './policy.js';

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

/** What every opening has, whatever its mode. */
interface OpeningCommon {
  /** Written with iptables (4) or ip6tables (6). */
  family: Family;
  protocol: Protocol;
  /** Host address of `family`, or any local address. */
  hostIp: HostAddress;
  hostPort: number;
  containerPort: number;
  /** Sources of `family` allowed (no sources → no opening, so a list is never empty). */
  sources: Sources;
}

/** The host port is DNATed to the container's own address of `family`. */
export interface DnatOpening extends OpeningCommon {
  containerIp: string;
  mode: 'dnat';
}

/**
 * The host accepts the connection itself (docker-proxy, or a host-network container's socket).
 * `containerIp`: the container's address of `family` behind the proxy; absent when it has none
 * (a host-network container, or an IPv6 opening of a container without IPv6: docker-proxy serves
 * IPv6 clients over IPv4).
 */
export interface ProxyOpening extends OpeningCommon {
  containerIp?: string;
  mode: 'proxy';
}

/** One resolved opening: a host address/port that leads to a container port. */
export type Opening = DnatOpening | ProxyOpening;

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

