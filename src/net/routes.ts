// The host's routes of the main table and its local routes, from `ip -j route` (and
// `ip -j -6 ...`) output. Pure: the process that produces the text runs in src/dataplane/routes.ts.
import { z } from 'zod';
import { type Result, ok } from '../model/result.js';
import type { Family } from '../model/types.js';
import { parseCidr } from './address.js';
import { IFNAME } from './ifname.js';
import { readJsonOutput } from '../util/json-output.js';

export interface DefaultRoute {
  family: Family;
  /** The interfaces the route leaves by: one, or one per nexthop of a multipath route. */
  devs: string[];
  metric?: number;
}

/** A route of the main table to a network other than the default: an on-link subnet, a static or VPN route. */
export interface NetworkRoute {
  family: Family;
  /** Canonical CIDR ('192.168.1.0/24', '10.8.0.1/32'). */
  dst: string;
  /** The interfaces the route leaves by. */
  devs: string[];
}

/** One family's main table: its default routes and its routes to other networks. */
export interface HostRouteTable {
  defaults: DefaultRoute[];
  networks: NetworkRoute[];
}

// Linux IFNAMSIZ is 16 including the NUL. A name outside this never reaches a /proc path.
const DEFAULT_DST = new Set(['default', '0.0.0.0/0', '::/0']);

// The answer must be a list; an entry that is not a route dockgate can read is skipped (an
// iproute2 version may print kinds of entries this one does not know).
const routeList = z.array(z.unknown());
const withDev = z.object({ dev: z.string() });
const routeEntry = z.object({
  dst: z.string(),
  // Read by devOf, which skips a dev that is not an interface name.
  dev: z.unknown().optional(),
  type: z.string().optional(),
  table: z.string().optional(),
  metric: z.number().optional().catch(undefined),
  nexthops: z.array(z.unknown()).optional().catch(undefined),
});
type RouteEntry = z.output<typeof routeEntry>;

function devOf(v: unknown): string | undefined {
  const r = withDev.safeParse(v);
  // `unreachable default dev lo` (IPv6 shows one on many hosts) leads nowhere.
  return r.success && IFNAME.test(r.data.dev) && r.data.dev !== 'lo' ? r.data.dev : undefined;
}

/**
 * The entries of `ip -j route` output that are routes, as `command` printed them, but those to
 * destinations `skip` names: one family's table holds a link-local route per interface (a host
 * with 1,000 containers has 1,000 veths, each with its fe80::/64), and each would cost a schema
 * check and an address parse at every read only to be left out.
 */
function routeEntries(text: string, command: string, skip?: RegExp): Result<RouteEntry[]> {
  const list = readJsonOutput(text, routeList, command, []);
  if (!list.ok) return list;
  const entries: RouteEntry[] = [];
  for (const item of list.value) {
    if (skip !== undefined && typeof item === 'object' && item !== null && 'dst' in item && typeof item.dst === 'string' && skip.test(item.dst)) continue;
    const r = routeEntry.safeParse(item);
    if (r.success) entries.push(r.data);
  }
  return ok(entries);
}

/**
 * Parses one family's `ip -j route show default`. Only unicast routes count: unreachable,
 * blackhole, prohibit and throw defaults (installed as fallbacks by some network managers)
 * forward nothing. A route on a link that is down still counts: it carries traffic again as soon
 * as the link comes back, and forwarding there changes nothing until then.
 */
export function parseDefaultRoutes(text: string, family: Family, command = 'ip -j route'): Result<DefaultRoute[]> {
  const r = parseHostRoutes(text, family, command);
  return r.ok ? ok(r.value.defaults) : r;
}

function routeDevs(r: RouteEntry): string[] {
  const devs = new Set<string>();
  const own = devOf(r);
  if (own) devs.add(own);
  for (const nh of r.nexthops ?? []) {
    const d = devOf(nh);
    if (d) devs.add(d);
  }
  return [...devs];
}

// Destinations no host reaches a network through: link-local (every interface has fe80::/64,
// Docker's veths included, and 169.254/16 is zeroconf noise), loopback and multicast.
const NOT_A_NETWORK: Record<Family, RegExp> = {
  4: /^(127\.|169\.254\.|22[4-9]\.|23\d\.)/,
  6: /^(fe[89ab][0-9a-f]?:|ff[0-9a-f]{0,2}:|::1\/128$)/i,
};

/**
 * Parses one family's `ip -j route show` (the main table): its default routes, and the routes to
 * every other network (on-link subnets, static and VPN routes). Only unicast routes count:
 * unreachable, blackhole, prohibit and throw routes (installed as fallbacks by some network
 * managers) forward nothing. A route on a link that is down still counts: it carries traffic
 * again as soon as the link comes back, and forwarding there changes nothing until then. A route
 * that names another table (policy routing) is left out: which packets it serves depends on
 * rules the host's own traffic may never match.
 */
export function parseHostRoutes(text: string, family: Family, command = 'ip -j route'): Result<HostRouteTable> {
  // iproute2 prints nothing at all for an empty dump on some versions.
  const data = routeEntries(text, command, NOT_A_NETWORK[family]);
  if (!data.ok) return data;
  const defaults: DefaultRoute[] = [];
  const networks: NetworkRoute[] = [];
  for (const r of data.value) {
    if (r.type !== undefined && r.type !== 'unicast') continue;
    if (r.table !== undefined && r.table !== 'main') continue;
    const devs = routeDevs(r);
    if (devs.length === 0) continue;
    if (DEFAULT_DST.has(r.dst)) {
      const route: DefaultRoute = { family, devs };
      if (r.metric !== undefined) route.metric = r.metric;
      defaults.push(route);
      continue;
    }
    // iproute2 prints a host route without its prefix length.
    const cidr = parseCidr(r.dst.includes('/') ? r.dst : `${r.dst}/${family === 4 ? 32 : 128}`);
    if (!cidr.ok || cidr.value.family !== family || NOT_A_NETWORK[family].test(cidr.value.text)) continue;
    networks.push({ family, dst: cidr.value.text, devs });
  }
  return ok({ defaults, networks });
}

/** Every interface that carries a default route of either family, sorted, each once. */
export function defaultRouteInterfaces(routes: readonly DefaultRoute[]): string[] {
  return [...new Set(routes.flatMap((r) => r.devs))].sort();
}

/**
 * Interfaces Docker makes for itself, by the names it gives them: its default bridge, the bridge
 * of each network (br-<first 12 hex of the id>) and the host end of each container's veth
 * (veth<7 hex>). Routes through them lead to containers, never to a network the host reaches.
 * Bridges with a custom name (com.docker.network.bridge.name) are known only from Docker.
 */
export const DOCKER_INTERFACE_NAME = /^(docker0|br-[0-9a-f]{12}|veth[0-9a-f]{7})$/;

/**
 * Every interface through which the host reaches a network, sorted, each once: those of the
 * default routes and of every other route, minus Docker's own interfaces and `bridges` (the
 * managed bridges, custom names included).
 */
export function reachInterfaces(defaults: readonly DefaultRoute[], networks: readonly NetworkRoute[], bridges: readonly string[] = []): string[] {
  const docker = new Set(bridges);
  return [...new Set([...defaults, ...networks].flatMap((r) => r.devs))].filter((i) => !DOCKER_INTERFACE_NAME.test(i) && !docker.has(i)).sort();
}

/**
 * The destinations the kernel delivers locally, from `ip -j [-6] route show table local`: what
 * `-m addrtype --dst-type LOCAL` matches, so what an any-address DNAT rule applies to. Canonical
 * CIDRs (`127.0.0.0/8`, `10.0.0.5/32`), each once. Broadcast, anycast and multicast routes are
 * not local deliveries of unicast traffic and are left out.
 */
export function parseLocalRoutes(text: string, family: Family, command = 'ip -j route show table local'): Result<string[]> {
  const data = routeEntries(text, command);
  if (!data.ok) return data;
  const out = new Set<string>();
  for (const r of data.value) {
    if (r.type !== 'local') continue;
    const cidr = parseCidr(r.dst);
    if (cidr.ok && cidr.value.family === family) out.add(cidr.value.text);
  }
  return ok([...out]);
}
