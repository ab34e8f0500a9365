// What the labels and the config ask for, parsed once (labels/, config/): the policy the planner
// turns into openings and rules. Plain data only.
import type { Protocol } from './rule.js';
import type { Family } from './facts.js';

export type Mode = 'proxy' | 'dnat';

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
    /** The host address the label names; absent: every local address, of both families. */
    ip?: string;
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

