// Which per-interface sysctls and conntrack clean-ups a plan needs. Pure.
import type { ExternalInterfaces } from '../config/schema.js';
import { type Net, parseNet, relation } from '../net/address.js';
import type { DnatOpening, Family, HostAddress, NetworkFacts, Protocol, RuleSet } from '../model/types.js';
import { boundAddress, describeHost } from '../model/format.js';

export interface InterfaceSettings {
  /**
   * The external interfaces, resolved (config's list, or in auto mode every interface the host
   * reaches a network through). They get IPv6 accept_ra=2 where it is 1 before any IPv6 forwarding is written.
   */
  external: string[];
  /**
   * Interfaces that must route, both families: the external ones and every managed bridge.
   * Linux forwards by the interface a packet arrives on, so both directions of a container's
   * flow need it: its bridge (requests out) and the uplink (replies, dnat clients in).
   */
  forwarding: string[];
  /**
   * Every managed bridge, by whether net.ipv4.conf.BRIDGE.route_localnet must be 1. It lets a
   * bridge carry 127.0.0.0/8 sources, which a port published on 127.x in dnat mode needs (the
   * host's own connection leaves towards the container still from 127.0.0.1), and which is
   * otherwise a hole (CVE-2020-8558): so only the bridges such a target lives on get it.
   */
  routeLocalnet: { on: string[]; off: string[] };
}

function inSubnet(ip: Net, cidr: string): boolean {
  const subnet = parseNet(cidr);
  return subnet !== undefined && relation(subnet, ip) === 'yes';
}

/**
 * The external interfaces config means now: its list as written, or in auto mode every interface
 * through which the host reaches a network (`reach`: the interfaces of the default routes and of
 * every other route, HostRoutes.reach; undefined: not read yet, so none for now), minus the
 * managed `bridges`. Not only the default routes: Linux forwards by the interface a packet
 * arrives on, and a LAN client's dnat request or a LAN server's reply to a container arrives on
 * the LAN interface. The routing guard (DOCKGATE-FORWARD) keeps that from routing between the
 * host's own interfaces.
 */
export function resolveExternalInterfaces(spec: ExternalInterfaces, reach: readonly string[] | undefined, bridges: readonly string[] = []): string[] {
  if (spec.kind === 'list') return [...spec.names];
  const docker = new Set(bridges);
  return (reach ?? []).filter((i) => !docker.has(i));
}

/** `external`: the resolved external interfaces (resolveExternalInterfaces). */
export function interfaceSettings(plan: RuleSet, networks: readonly NetworkFacts[], external: readonly string[]): InterfaceSettings {
  const bridges = [...new Set(networks.map((n) => n.bridge))].sort();
  const on = new Set<string>();
  for (const c of plan.containers) {
    for (const o of c.openings) {
      if (o.mode !== 'dnat' || !(boundAddress(o.hostIp) ?? '').startsWith('127.')) continue;
      const ip = parseNet(o.containerIp);
      if (ip === undefined || ip.family !== 4) continue;
      // A target on no known subnet gets nothing: its port stays unreachable rather than
      // some other bridge being opened to loopback sources.
      for (const n of networks) if (n.subnets.some((s) => inSubnet(ip, s))) on.add(n.bridge);
    }
  }
  return {
    external: [...new Set(external)],
    forwarding: [...new Set([...external, ...bridges])],
    routeLocalnet: { on: bridges.filter((b) => on.has(b)), off: bridges.filter((b) => !on.has(b)) },
  };
}

/** Docker's own names for its bridges: the default one and br-<first 12 hex of the network id>. */
const DOCKER_BRIDGE_NAME = /^(docker0|br-[0-9a-f]{12})$/;

/**
 * The interfaces `flush` and `uninstall` may turn route_localnet off on, without a plan: those
 * that carry Docker's bridge names, plus the bridges Docker reports (custom names from
 * com.docker.network.bridge.name) when it answers. Any other interface's route_localnet was set
 * by someone else for their own reasons.
 */
export function dockerBridgeInterfaces(present: readonly string[], dockerBridges: readonly string[]): string[] {
  const reported = new Set(dockerBridges);
  return present.filter((i) => DOCKER_BRIDGE_NAME.test(i) || reported.has(i)).sort();
}

export interface ConntrackFlush {
  /** conntrack keeps IPv4 and IPv6 flows apart (`-f ipv6`). */
  family: Family;
  protocol: Protocol;
  /** conntrack's `--orig-dst`; for any address, each of the host's local destinations. */
  hostIp: HostAddress;
  hostPort: number;
  /**
   * The DNAT target the flows went to (conntrack's reply source). Undefined for flows that were
   * not DNATed at all (they answer from the host port itself).
   */
  target?: { ip: string; port: number };
}

const hostKey = (o: { family: Family; protocol: Protocol; hostIp: HostAddress; hostPort: number }): string =>
  `${o.family}|${o.protocol}|${describeHost(o.hostIp, o.family)}|${o.hostPort}`;
const key = (o: DnatOpening): string => `${hostKey(o)}|${o.containerIp}|${o.containerPort}`;

/**
 * The conntrack entries that changed dnat openings leave behind. A UDP client that keeps sending
 * would otherwise stay pinned to the old container, or to "no DNAT", until its entry times out,
 * which with a steady sender is never. Only those flows go: a flush by port alone would also cut
 * the flows of the new target and anything else using that port number (egress included).
 *
 * - An opening that vanished or moved: the flows DNATed to its old target.
 * - A UDP host port that only now gets DNATed: the flows that reached the host without DNAT. TCP
 *   needs nothing there: a refused connection leaves no flow a retry would reuse.
 */
export function conntrackFlushes(before: RuleSet | undefined, after: RuleSet): ConntrackFlush[] {
  // A full check at rest passes the plan it wrote before: nothing moved (and at 1,000 containers
  // indexing every opening twice was 5 % of the daemon's CPU at rest).
  if (before === after) return [];
  const openings = (p: RuleSet | undefined): Map<string, DnatOpening> =>
    new Map((p?.containers ?? []).flatMap((c) => c.openings.filter((o) => o.mode === 'dnat').map((o) => [key(o), o] as const)));
  const was = openings(before);
  const now = openings(after);
  const wasHosts = new Set([...was.values()].map(hostKey));
  const out = new Map<string, ConntrackFlush>();
  for (const [k, o] of was) {
    if (now.has(k)) continue;
    const f: ConntrackFlush = { family: o.family, protocol: o.protocol, hostIp: o.hostIp, hostPort: o.hostPort, target: { ip: o.containerIp, port: o.containerPort } };
    out.set(`${hostKey(o)}|${o.containerIp}|${o.containerPort}`, f);
  }
  for (const [k, o] of now) {
    if (was.has(k) || o.protocol !== 'udp' || wasHosts.has(hostKey(o))) continue;
    out.set(hostKey(o), { family: o.family, protocol: o.protocol, hostIp: o.hostIp, hostPort: o.hostPort });
  }
  return [...out.values()];
}
