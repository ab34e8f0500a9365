// The host's default and local routes, from `ip -j route` (and `ip -j -6 ...`) output. Pure:
// the process that produces the text runs in src/dataplane/routes.ts.
import type { Family } from '../model/types.js';
import { parseCidr } from './cidr.js';
import { IFNAME } from './ifname.js';

export interface DefaultRoute {
  family: Family;
  /** The interfaces the route leaves by: one, or one per nexthop of a multipath route. */
  devs: string[];
  metric?: number;
}

export type RoutesResult = { ok: true; routes: DefaultRoute[] } | { ok: false; reason: string };

// Linux IFNAMSIZ is 16 including the NUL. A name outside this never reaches a /proc path.
const DEFAULT_DST = new Set(['default', '0.0.0.0/0', '::/0']);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function devOf(v: unknown): string | undefined {
  if (!isRecord(v) || typeof v.dev !== 'string') return undefined;
  // `unreachable default dev lo` (IPv6 shows one on many hosts) leads nowhere.
  return IFNAME.test(v.dev) && v.dev !== 'lo' ? v.dev : undefined;
}

/**
 * Parses one family's `ip -j route show default`. Only unicast routes count: unreachable,
 * blackhole, prohibit and throw defaults (installed as fallbacks by some network managers)
 * forward nothing. A route on a link that is down still counts: it carries traffic again as soon
 * as the link comes back, and forwarding there changes nothing until then.
 */
export function parseDefaultRoutes(text: string, family: Family): RoutesResult {
  let data: unknown;
  try {
    // iproute2 prints nothing at all for an empty dump on some versions.
    data = text.trim() === '' ? [] : JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `ip -j route output is not JSON: ${(err as Error).message}` };
  }
  if (!Array.isArray(data)) return { ok: false, reason: 'ip -j route output is not a JSON list' };
  const routes: DefaultRoute[] = [];
  for (const r of data) {
    if (!isRecord(r)) continue;
    if (typeof r.dst !== 'string' || !DEFAULT_DST.has(r.dst)) continue;
    if (r.type !== undefined && r.type !== 'unicast') continue;
    const devs = new Set<string>();
    const own = devOf(r);
    if (own) devs.add(own);
    if (Array.isArray(r.nexthops)) {
      for (const nh of r.nexthops) {
        const d = devOf(nh);
        if (d) devs.add(d);
      }
    }
    if (devs.size === 0) continue;
    const route: DefaultRoute = { family, devs: [...devs] };
    if (typeof r.metric === 'number') route.metric = r.metric;
    routes.push(route);
  }
  return { ok: true, routes };
}

/** Every interface that carries a default route of either family, sorted, each once. */
export function defaultRouteInterfaces(routes: readonly DefaultRoute[]): string[] {
  return [...new Set(routes.flatMap((r) => r.devs))].sort();
}

export type LocalRoutesResult = { ok: true; destinations: string[] } | { ok: false; reason: string };

/**
 * The destinations the kernel delivers locally, from `ip -j [-6] route show table local`: what
 * `-m addrtype --dst-type LOCAL` matches, so what an any-address DNAT rule applies to. Canonical
 * CIDRs (`127.0.0.0/8`, `10.0.0.5/32`), each once. Broadcast, anycast and multicast routes are
 * not local deliveries of unicast traffic and are left out.
 */
export function parseLocalRoutes(text: string, family: Family): LocalRoutesResult {
  let data: unknown;
  try {
    data = text.trim() === '' ? [] : JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `ip -j route output is not JSON: ${(err as Error).message}` };
  }
  if (!Array.isArray(data)) return { ok: false, reason: 'ip -j route output is not a JSON list' };
  const out = new Set<string>();
  for (const r of data) {
    if (!isRecord(r) || r.type !== 'local' || typeof r.dst !== 'string') continue;
    const cidr = parseCidr(r.dst);
    if (cidr.ok && cidr.value.family === family) out.add(cidr.value.text);
  }
  return { ok: true, destinations: [...out] };
}
