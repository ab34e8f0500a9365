// Names of everything dockgate owns in the kernel. One place, so that flush, drift checks and
// the planner can never disagree about what is "ours".
import type { JumpRule, Table } from '../model/types.js';

export const CHAIN_PREFIX = 'DOCKGATE-';

/** Ordered: guards (internal networks, containers without egress), then a jump to OPENINGS. */
export const INPUT = 'DOCKGATE-INPUT';
/** Every container's INPUT accepts (proxy mode), one line each; reached from DOCKGATE-INPUT. */
export const OPENINGS = 'DOCKGATE-OPENINGS';
export const FORWARD = 'DOCKGATE-FORWARD';
/** Every container's FORWARD lines (dnat accepts, egress), one each; reached from DOCKGATE-FORWARD. */
export const CONTAINERS = 'DOCKGATE-CONTAINERS';
/** Ordered: the same guards as DOCKGATE-INPUT, then a jump to DNAT. */
export const PREROUTING = 'DOCKGATE-PREROUTING';
/** Every container's DNAT lines; reached from DOCKGATE-PREROUTING (and the same lines from DOCKGATE-OUTPUT). */
export const DNAT = 'DOCKGATE-DNAT';
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

export function isOwnedChain(name: string): boolean {
  return name.startsWith(CHAIN_PREFIX);
}

export function jumpLine(jump: JumpRule): string {
  return jump.match ? `${jump.match} -j ${jump.target}` : `-j ${jump.target}`;
}
