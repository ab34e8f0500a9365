// A firewall rule as data (Felix's Rule{Match, Action, Comment}): the planner builds these, and
// only the renderer at the edge (src/plan/render.ts) turns them into iptables text. Whoever needs
// to know what a rule does (the marks, status's analysis, explain) reads these fields, never the
// text. Plain data only.
import type { MarkBit } from './mark-bit.js';

export type Protocol = 'tcp' | 'udp';

/** conntrack states as `-m conntrack --ctstate` names them. */
export type CtState = 'NEW' | 'RELATED' | 'ESTABLISHED' | 'INVALID' | 'DNAT';

/** An inclusive port range; start === end for one port. */
export interface PortSpan {
  start: number;
  end: number;
}

/**
 * What a packet must look like for the rule to apply. Every field absent matches every packet:
 * "any" is the absence of a match, never a sentinel value.
 */
export interface Match {
  /** Source address or CIDR (an address alone is one host). */
  src?: string;
  dst?: string;
  in?: string;
  notIn?: string;
  out?: string;
  notOut?: string;
  proto?: Protocol;
  /** Only with `proto`. */
  dport?: PortSpan;
  /** The destination is in this ipset (an egress list's DNS name). */
  dstSet?: string;
  /** The destination is one of the host's own addresses (no broadcast, no multicast). */
  dstLocal?: true;
  ctstate?: readonly CtState[];
  notCtstate?: readonly CtState[];
  /**
   * A hashlimit bucket shared by every rule naming it (the drop log's per-reason rate): the rule
   * applies to packets within the rate only.
   */
  limit?: { name: string; perSecond: number; burst: number };
}

/** What the rule does with a packet that matches. */
export type Action =
  | { kind: 'accept' }
  | { kind: 'drop' }
  /** Back to the calling chain: the packet is left to what follows there (the admin's rules). */
  | { kind: 'return' }
  | { kind: 'jump'; chain: string }
  | { kind: 'dnat'; ip: string; port: number }
  | { kind: 'masquerade' }
  /** Logs to a netlink group and carries on with the next rule: never changes a verdict. */
  | { kind: 'nflog'; prefix: string; group: number }
  /** Sets one mark bit and carries on (the footprint marks, src/plan/marks.ts). */
  | { kind: 'mark'; bit: MarkBit };

export interface Rule {
  match: Match;
  action: Action;
  /** Who the rule is for: `name/shortid` for a container's, `dockgate ...` for the network's own. */
  comment: string;
}

export const ACCEPT: Action = Object.freeze({ kind: 'accept' });
export const DROP: Action = Object.freeze({ kind: 'drop' });
export const RETURN: Action = Object.freeze({ kind: 'return' });
export const MASQUERADE: Action = Object.freeze({ kind: 'masquerade' });
export const jumpTo = (chain: string): Action => ({ kind: 'jump', chain });

/** The iptables tables dockgate writes: its plan's three, and mangle for the footprint marks. */
export type Table = 'filter' | 'nat' | 'raw' | 'mangle';

/**
 * A chain dockgate owns. `ordered` chains are rewritten whole when they change; `set` chains
 * hold lines whose order does not matter (containers' accepts and DNATs, jumps to shards) and
 * are edited line by line, so that one container's change touches only its own lines.
 */
export interface ChainPlan {
  table: Table;
  name: string;
  kind: 'ordered' | 'set';
  /** In order; rendered to iptables-save's text only at the edge (src/plan/render.ts). */
  rules: Rule[];
}

/** A jump from a built-in chain into a dockgate chain. */
export interface JumpRule {
  table: Table;
  builtin: string;
  /** What the jump takes (its comment is always dockgate's own); empty: every packet. */
  match: Match;
  target: string;
  /** Position: dockgate's jumps go first so the admin's DROP rules cannot shadow them. */
  position: 'first';
}

