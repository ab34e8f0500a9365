// The drop log's kernel side: NFLOG lines placed in front of the refusals dockgate makes, and at
// the end of DOCKGATE-INPUT for published ports nothing opened. Pure, like the rest of plan/.
//
// NFLOG, not LOG: LOG is silent outside the initial network namespace unless the global
// nf_log_all_netns is set, and NFLOG goes to a netlink group a helper reads (ulogd2, see
// src/drops/). Every line is rate-limited in the kernel by a hashlimit table named per reason and
// without a mode, so all lines of one reason share one bucket: a flood costs the reader at most
// `rate` entries per second per reason, however many containers it hits.
//
// A log line only ever carries NFLOG, a target that returns to the next rule: adding or removing
// them never changes what passes (test/drops/drop-log-plan.test.ts proves it over every golden
// fixture).
import type { ContainerFacts, ContainerPolicy, Family, Opening } from '../model/types.js';
import type { Match, Rule } from '../model/rule.js';
import { shortId } from './chains.js';
import { familyOf } from '../net/address.js';

/** Why a packet was turned away; the words users see in `dockgate drops`. */
export const DROP_REASONS = ['not-labelled', 'source-not-allowed', 'egress-denied', 'isolation', 'direct-access', 'spoofed'] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/** drops.* in the config, as the planner needs it. Absent from PlanInput: no log lines at all. */
export interface DropLogSettings {
  /** The NFLOG group the reader listens on (0-65535). */
  group: number;
  /** Entries per second per reason the kernel lets through, and the burst above it. */
  ratePerSecond: number;
  burst: number;
}

/** Before every prefix: tells dockgate's entries from anyone else's on the same group. */
export const PREFIX_HEAD = 'dockgate';
/** In the prefix where no single container is named (network-wide lines): the reader attributes by address. */
export const NO_CONTAINER = '-';

/**
 * `dockgate:REASON:SHORTID`: the reader needs nothing but the prefix to know why, and which
 * container when the line is one container's. At most 64 bytes with NUL (xt_NFLOG): 9 + 19 + 1 + 12.
 */
export function dropPrefix(reason: DropReason, containerId: string | undefined): string {
  return `${PREFIX_HEAD}:${reason}:${containerId === undefined ? NO_CONTAINER : shortId(containerId)}`;
}

/** A hashlimit name is at most 31 characters; `dg-source-not-allowed` is 21. */
function limitOf(s: DropLogSettings, reason: DropReason): NonNullable<Match['limit']> {
  return { name: `dg-${reason}`, perSecond: s.ratePerSecond, burst: s.burst };
}

/** One NFLOG rule: the matches, then the reason's rate limit. */
export function logRule(s: DropLogSettings, reason: DropReason, containerId: string | undefined, match: Omit<Match, 'limit'>, comment: string): Rule {
  return { match: { ...match, limit: limitOf(s, reason) }, action: { kind: 'nflog', prefix: dropPrefix(reason, containerId), group: s.group }, comment };
}

/**
 * The log rule in front of a DROP: the same matches (so it logs exactly what the drop refuses),
 * or none when the log is off. Callers write `...logBefore(settings, reason, drop)` before the drop.
 */
export function logBefore(s: DropLogSettings | undefined, reason: DropReason, drop: { match: Omit<Match, 'limit'>; comment: string }): Rule[] {
  return s === undefined ? [] : [logRule(s, reason, undefined, drop.match, drop.comment)];
}

/**
 * One container's log rules for the end of DOCKGATE-INPUT (through the DOCKGATE-DROPS shards): a
 * connection to one of its host ports that reached them was accepted by none of the openings,
 * so the admin's INPUT policy refuses it. A port with an opening in some family whose source list
 * left this one out is `source-not-allowed`; a port no label opens is `not-labelled`. The dnat
 * sources that are DNATed never reach INPUT, so a dnat port's other sources land here too.
 */
export function inputLogRules(
  s: DropLogSettings,
  facts: ContainerFacts,
  policy: ContainerPolicy | undefined,
  openings: readonly Opening[],
  family: Family,
  note: string,
): Rule[] {
  // Keyed by what they match: a port both opened for some sources and bound twice logs once.
  const out = new Map<string, Rule>();
  const anyAddress = (ip: string): boolean => ip === '0.0.0.0' || ip === '::' || ip === '';
  const line = (reason: DropReason, hostIp: string | undefined, proto: 'tcp' | 'udp', port: number): void => {
    const r = logRule(s, reason, facts.id, { dst: hostIp, proto, dport: { start: port, end: port }, ...(hostIp === undefined ? { dstLocal: true as const } : {}), ctstate: ['NEW'] }, note);
    const key = JSON.stringify(r);
    if (!out.has(key)) out.set(key, r);
  };
  const mine = openings.filter((o) => o.family === family);
  for (const o of mine) {
    if (o.sources.kind === 'any') continue;
    line('source-not-allowed', o.hostIp.kind === 'any' ? undefined : o.hostIp.ip, o.protocol, o.hostPort);
  }
  for (const b of facts.ports) {
    const bFamily = anyAddress(b.hostIp) && b.hostIp !== '::' ? 4 : familyOf(b.hostIp);
    if (bFamily !== family) continue;
    const hostIp = anyAddress(b.hostIp) ? undefined : b.hostIp;
    const opened = mine.some((o) => o.protocol === b.protocol && o.hostPort === b.hostPort);
    if (opened) continue;
    // Opened in the other family only: the label named the port, `from` named no source of this family.
    const labelled = openings.some((o) => o.protocol === b.protocol && o.containerPort === b.containerPort) ||
      (policy?.ports.some((p) => p.protocol === b.protocol && p.start <= b.containerPort && b.containerPort <= p.end && p.host === undefined) ?? false);
    line(labelled ? 'source-not-allowed' : 'not-labelled', hostIp, b.protocol, b.hostPort);
  }
  return [...out.values()];
}
