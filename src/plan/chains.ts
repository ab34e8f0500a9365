// Names of everything dockgate owns in the kernel. One place, so that flush, drift checks and
// the planner can never disagree about what is "ours".
import type { JumpRule, Table } from '../model/types.js';

export const CHAIN_PREFIX = 'DOCKGATE-';

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

export const TABLES: readonly Table[] = ['raw', 'nat', 'filter'];

/** Comment on dockgate's own jump and network rules (container rules carry `name/shortid`). */
export const JUMP_COMMENT = 'dockgate';

export const JUMPS: readonly JumpRule[] = [
  { table: 'filter', builtin: 'INPUT', match: `-m comment --comment ${JUMP_COMMENT}`, target: INPUT, position: 'first' },
  { table: 'filter', builtin: 'FORWARD', match: `-m comment --comment ${JUMP_COMMENT}`, target: FORWARD, position: 'first' },
  {
    table: 'nat',
    builtin: 'PREROUTING',
    match: `-m addrtype --dst-type LOCAL -m comment --comment ${JUMP_COMMENT}`,
    target: PREROUTING,
    position: 'first',
  },
  {
    table: 'nat',
    builtin: 'OUTPUT',
    match: `-m addrtype --dst-type LOCAL -m comment --comment ${JUMP_COMMENT}`,
    target: OUTPUT,
    position: 'first',
  },
  { table: 'nat', builtin: 'POSTROUTING', match: `-m comment --comment ${JUMP_COMMENT}`, target: POSTROUTING, position: 'first' },
  { table: 'raw', builtin: 'PREROUTING', match: `-m comment --comment ${JUMP_COMMENT}`, target: RAW, position: 'first' },
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

export function isOwnedChain(name: string): boolean {
  return name.startsWith(CHAIN_PREFIX);
}

export function jumpLine(jump: JumpRule): string {
  return jump.match ? `${jump.match} -j ${jump.target}` : `-j ${jump.target}`;
}
