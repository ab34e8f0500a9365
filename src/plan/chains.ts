// Names of everything dockgate owns in the kernel. One place, so that flush, drift checks and
// the planner can never disagree about what is "ours".
import type { JumpRule, Table } from '../model/types.js';

/** Ordered: guards (internal networks, containers without egress), then a jump to OPENINGS. */
export const INPUT = 'DOCKGATE-INPUT';
/** Jumps to the shards holding every container's INPUT accepts (proxy mode); reached from DOCKGATE-INPUT. */
export const OPENINGS = 'DOCKGATE-OPENINGS';
export const FORWARD = 'DOCKGATE-FORWARD';
/** Jumps to the shards holding every container's FORWARD lines (dnat accepts, egress); reached from DOCKGATE-FORWARD. */
export const CONTAINERS = 'DOCKGATE-CONTAINERS';
/** Ordered: the same guards as DOCKGATE-INPUT, then a jump to DNAT. */
export const PREROUTING = 'DOCKGATE-PREROUTING';
/** Jumps to the shards holding every container's DNAT lines; reached from DOCKGATE-PREROUTING and DOCKGATE-OUTPUT. */
export const DNAT = 'DOCKGATE-DNAT';
/** Ordered: one jump to DNAT (the host's own connections to published ports). */
export const OUTPUT = 'DOCKGATE-OUTPUT';
export const POSTROUTING = 'DOCKGATE-POSTROUTING';
export const RAW = 'DOCKGATE-RAW';
/**
 * filter: the admin's own chain (fail2ban, CrowdSec, hand rules), jumped to before any of
 * dockgate's accepts in INPUT and FORWARD, as Docker's DOCKER-USER is. dockgate creates it when
 * it is missing and never empties, edits or deletes it (flush only with --user-chain).
 */
export const USER = 'DOCKGATE-USER';
/**
 * filter, only while the drop log is on: jumps to the shards holding every container's NFLOG
 * lines for its host ports (src/plan/drop-log.ts); reached last from DOCKGATE-INPUT, so only what
 * no opening accepted gets there.
 */
export const DROPS = 'DOCKGATE-DROPS';

/**
 * filter: one chain per distinct egress allow-list (and family), named by a hash of its rules and
 * shared by every container with that list: a container jumps to it once per address, so 1,000
 * containers with the same ten names are 1,000 jumps and ten accepts, not 10,000 accepts to read
 * back at every full check and to walk for every new connection.
 */
export const EGRESS = 'DOCKGATE-EGRESS';
/** 10 hex digits: with the mangle mirror's `DOCKGATE-MEGRESS-` still within iptables' 28 characters. */
const EGRESS_CHAIN = new RegExp(`^${EGRESS}-[0-9a-f]{10}$`);

export function egressChainName(hash: string): string {
  return `${EGRESS}-${hash.slice(0, 10)}`;
}

/** The tables of the plan proper, in the order a full write commits them. */
export const TABLES: readonly Table[] = ['raw', 'nat', 'filter'];

/** Comment on dockgate's own jump and network rules (container rules carry `name/shortid`). */
export const JUMP_COMMENT = 'dockgate';

export const JUMPS: readonly JumpRule[] = [
  { table: 'filter', builtin: 'INPUT', match: {}, target: INPUT, position: 'first' },
  { table: 'filter', builtin: 'FORWARD', match: {}, target: FORWARD, position: 'first' },
  {
    table: 'nat',
    builtin: 'PREROUTING',
    match: { dstLocal: true },
    target: PREROUTING,
    position: 'first',
  },
  {
    table: 'nat',
    builtin: 'OUTPUT',
    match: { dstLocal: true },
    target: OUTPUT,
    position: 'first',
  },
  { table: 'nat', builtin: 'POSTROUTING', match: {}, target: POSTROUTING, position: 'first' },
  { table: 'raw', builtin: 'PREROUTING', match: {}, target: RAW, position: 'first' },
];

/** Docker ids are 64 hex; 12 is what `docker ps` shows and keeps names under iptables' 28-char limit. */
export function shortId(id: string): string {
  return id.slice(0, 12);
}

/**
 * Containers' lines are spread over shard chains by the first two hex digits of their id
 * (`DOCKGATE-OPENINGS-3f`). On the nf_tables backend, `iptables-restore -D` finds a rule by
 * comparing it with every rule of its chain, so one container's stop cost grew with the number of
 * containers in one shared chain (380 ms at 5,000); with 256 shards a chain holds about N/256
 * containers. Only shards with lines exist, so a small host has few chains.
 */
export function shardOf(id: string): string {
  const head = id.slice(0, 2).toLowerCase();
  if (/^[0-9a-f]{2}$/.test(head)) return head;
  // Docker's ids are hex; anything else still lands in a valid chain name.
  let h = 0;
  for (let i = 0; i < id.length; i++) h = (h * 31 + id.charCodeAt(i)) & 0xff;
  return h.toString(16).padStart(2, '0');
}

export function shardChain(parent: string, shard: string): string {
  return `${parent}-${shard}`;
}

// Ownership is by exact name, never by prefix: the admin may well call their own chains
// DOCKGATE-USER-BANS or DOCKGATE-MYMARKS, and whatever dockgate takes for its own it empties and
// deletes at the next repair or flush.

/** The chains of the plan that are not shard chains, by table. */
const FIXED_CHAINS: ReadonlyMap<string, Table> = new Map<string, Table>([
  [INPUT, 'filter'],
  [OPENINGS, 'filter'],
  [FORWARD, 'filter'],
  [CONTAINERS, 'filter'],
  [PREROUTING, 'nat'],
  [DNAT, 'nat'],
  [OUTPUT, 'nat'],
  [POSTROUTING, 'nat'],
  [RAW, 'raw'],
  [DROPS, 'filter'],
]);

/** `shardChain(parent, shardOf(id))`: two lowercase hex digits, nothing else. */
const SHARD_CHAIN = new RegExp(`^(${OPENINGS}|${CONTAINERS}|${DNAT}|${DROPS})-[0-9a-f]{2}$`);

/**
 * Chains of the layout before the shards (one per container, `DOCKGATE-CI-<12 hex>`): still
 * dockgate's, so that a host upgraded from it loses them at the first repair or flush.
 */
const PER_CONTAINER_CHAIN = /^DOCKGATE-C([IFN])-[0-9a-f]{12}$/;
const PER_CONTAINER_TABLE: Readonly<Record<string, Table>> = { I: 'filter', F: 'filter', N: 'nat' };

/**
 * The table a chain dockgate writes, empties and deletes belongs in, from its exact name; undefined
 * for every other name, DOCKGATE-USER (the admin's) and the admin's look-alikes included.
 */
export function managedChainTable(name: string): Table | undefined {
  const fixed = FIXED_CHAINS.get(name);
  if (fixed !== undefined) return fixed;
  const shard = SHARD_CHAIN.exec(name)?.[1];
  if (shard !== undefined) return FIXED_CHAINS.get(shard);
  if (EGRESS_CHAIN.test(name)) return 'filter';
  const old = PER_CONTAINER_CHAIN.exec(name)?.[1];
  if (old !== undefined) return PER_CONTAINER_TABLE[old];
  return isMarkChain(name) ? MARK_TABLE : undefined;
}

/** Chains dockgate writes, empties and deletes. The one ownership test for iptables chains. */
export function isManagedChain(name: string): boolean {
  return managedChainTable(name) !== undefined;
}

/** The table of the footprint marks (src/plan/marks.ts). */
export const MARK_TABLE = 'mangle' satisfies Table;

const MARK_HEAD = 'DOCKGATE-M';
const HEAD = 'DOCKGATE-';

/** The mangle mirror of a filter chain: DOCKGATE-FORWARD → DOCKGATE-MFORWARD (under iptables' 28 characters). */
export function markChainName(filterChain: string): string {
  return `${MARK_HEAD}${filterChain.slice(HEAD.length)}`;
}

/** Is this a chain dockgate writes in the mangle table: the mirror of one of its filter chains (recursion ends: the name shrinks). */
export function isMarkChain(name: string): boolean {
  return name.startsWith(MARK_HEAD) && managedChainTable(`${HEAD}${name.slice(MARK_HEAD.length)}`) === 'filter';
}
