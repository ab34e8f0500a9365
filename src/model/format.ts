// Openings, host addresses and source lists, made and written out in one place: for people
// (status, explain, doctor, the daemon's log lines) and for JSON (status --json, plan --json,
// explain --json, log fields). Everything else reads the typed values of types.ts and never
// spells "any" itself. Rule text is not here: that is iptables syntax (plan/ruleset.ts). Pure.
import type { ContainerPlan, Family, HostAddress, Mode, Opening, Protocol, Sources } from './types.js';
import { familyOf } from '../net/address.js';

export const ANY_HOST: HostAddress = Object.freeze({ kind: 'any' });
export const ANY_SOURCE: Sources = Object.freeze({ kind: 'any' });
export const hostAddress = (ip: string): HostAddress => ({ kind: 'address', ip });
export const sourceList = (cidrs: string[]): Sources => ({ kind: 'list', cidrs });

/** The concrete address, undefined for any (a rule or a tool option then matches none). */
export const boundAddress = (h: HostAddress): string | undefined => (h.kind === 'address' ? h.ip : undefined);

/** How many rules the sources take: one each, and one without `-s` for everyone. */
export const sourceCount = (s: Sources): number => (s.kind === 'any' ? 1 : s.cidrs.length);

/** Every address of a family as a CIDR. */
export const everyone = (family: Family): string => (family === 6 ? '::/0' : '0.0.0.0/0');

// ---------------------------------------------------------------------------------------------
// For people

/** An IPv6 address in brackets, for `ADDRESS:PORT`. */
export const bracketed = (ip: string): string => (familyOf(ip) === 6 ? `[${ip}]` : ip);

/**
 * `10.0.0.5`, `[2001:db8::5]`; every address: `[::]` for IPv6, else `*` (also when the family is
 * not known, as for a label's claim without an address).
 */
export function describeHost(h: HostAddress, family?: Family): string {
  if (h.kind === 'any') return family === 6 ? '[::]' : '*';
  return bracketed(h.ip);
}

/** `10.0.0.5:8080/tcp`, `*:53/udp`, `[::]:8080/tcp`. */
export function describeHostPort(o: { family: Family; hostIp: HostAddress; hostPort: number; protocol: Protocol }): string {
  return `${describeHost(o.hostIp, o.family)}:${o.hostPort}/${o.protocol}`;
}

/** `10.0.0.5:8080->172.17.0.2:80/tcp` (dnat), `[::]:8080->80/tcp` (proxy: the container port only). */
export function describeOpening(o: Opening): string {
  const target = o.mode === 'dnat' ? `${bracketed(o.containerIp)}:${o.containerPort}` : String(o.containerPort);
  return `${describeHost(o.hostIp, o.family)}:${o.hostPort}->${target}/${o.protocol}`;
}

/** `anywhere`, or `192.0.2.0/24, 198.51.100.7/32`. */
export const describeSources = (s: Sources): string => (s.kind === 'any' ? 'anywhere' : s.cidrs.join(', '));

/** The sources as CIDRs, everyone being the family's /0: what a log field or a trace starts from. */
export const sourceCidrs = (o: { family: Family; sources: Sources }): string[] => (o.sources.kind === 'any' ? [everyone(o.family)] : [...o.sources.cidrs]);

// ---------------------------------------------------------------------------------------------
// JSON

/**
 * An opening in JSON: `sources` is `"any"` or the list; `hostIp` is `""` for every local address
 * (as Docker itself writes HostIp), else the address; `containerIp` is `""` for a proxy opening
 * without a container address (as it always was in this output). Every field, in this order.
 */
export interface OpeningJson {
  family: Family;
  protocol: Protocol;
  hostIp: string;
  hostPort: number;
  containerIp: string;
  containerPort: number;
  mode: Mode;
  sources: 'any' | string[];
}

export function openingJson(o: Opening): OpeningJson {
  return {
    family: o.family,
    protocol: o.protocol,
    hostIp: o.hostIp.kind === 'any' ? '' : o.hostIp.ip,
    hostPort: o.hostPort,
    containerIp: o.containerIp ?? '',
    containerPort: o.containerPort,
    mode: o.mode,
    sources: o.sources.kind === 'any' ? 'any' : [...o.sources.cidrs],
  };
}

export type ContainerPlanJson = Omit<ContainerPlan, 'openings'> & { openings: OpeningJson[] };

export function containerPlanJson(c: ContainerPlan): ContainerPlanJson {
  return { ...c, openings: c.openings.map(openingJson) };
}
