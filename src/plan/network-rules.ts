// The network-wide chains of one family: FORWARD's order of replies, isolation, containers and
// fail-closed drops, POSTROUTING's masquerades and the raw table's direct-access drops. Pure.
import type { ChainPlan, Family, NetworkFacts } from '../model/types.js';
import { ACCEPT, DROP, MASQUERADE, type Match, type Rule, jumpTo } from '../model/rule.js';
import { byText } from '../util/compare.js';
import * as C from './chains.js';
import { type DropLogSettings, logBefore } from './drop-log.js';

export type Ipv6Masquerade = 'ula' | 'all' | 'none';

/** fc00::/7, Docker's default for IPv6 networks: not routable, so it must be masqueraded to leave. */
const isUla = (cidr: string): boolean => /^f[cd][0-9a-f]{0,2}:/i.test(cidr);

/** A drop with the same matches logged in front of it when the drop log is on. */
function loggedDrop(log: DropLogSettings | undefined, reason: Parameters<typeof logBefore>[1], match: Match, comment: string): Rule[] {
  return [...logBefore(log, reason, { match, comment }), { match, action: DROP, comment }];
}

const toChain = (chain: string): Rule => ({ match: {}, action: jumpTo(chain), comment: C.JUMP_COMMENT });

/**
 * 127.0.0.0/8 arriving on any interface but lo (CVE-2020-8558: route_localnet is on for bridges
 * that carry a 127.0.0.1 dnat port). Where the kernel has no raw table, the same match RETURNs at
 * the top of DOCKGATE-PREROUTING, so that dockgate DNATs none of it, and DROPs at the top of
 * DOCKGATE-INPUT, where what is not DNATed would reach the host's loopback services: every packet
 * raw would have dropped meets one of the two, since a DNATed one is by dockgate's rules only.
 */
export const LOOPBACK_GUARD: Omit<Rule, 'action'> = Object.freeze({ match: Object.freeze({ dst: '127.0.0.0/8', notIn: 'lo' }), comment: 'dockgate loopback only from lo' });

export interface NetworkOptions {
  family: Family;
  masquerade6: Ipv6Masquerade;
  /** PlanInput.adminRouting. */
  adminRouting: readonly Family[] | undefined;
  log: DropLogSettings | undefined;
  hasRaw: boolean;
}

export function networkChains(networks: readonly NetworkFacts[], o: NetworkOptions): ChainPlan[] {
  const bridges = [...networks].sort((a, b) => byText(a.bridge, b.bridge));
  const { family } = o;
  const masqueraded = (n: NetworkFacts, subnet: string): boolean =>
    !n.internal && (family === 4 || o.masquerade6 === 'all' || (o.masquerade6 === 'ula' && isUla(subnet)));
  const subnetsOf = (n: NetworkFacts): string[] => (family === 4 ? n.subnets : n.subnets6);
  const chains: ChainPlan[] = [
    { table: 'filter', name: C.FORWARD, kind: 'ordered', rules: forwardChain(bridges, o, subnetsOf, masqueraded) },
    { table: 'nat', name: C.POSTROUTING, kind: 'ordered', rules: postroutingChain(bridges, family, subnetsOf, masqueraded) },
  ];
  if (o.hasRaw) chains.push({ table: 'raw', name: C.RAW, kind: 'ordered', rules: rawChain(bridges, o, subnetsOf, masqueraded) });
  return chains;
}

type SubnetsOf = (n: NetworkFacts) => string[];
type Masqueraded = (n: NetworkFacts, subnet: string) => boolean;

function forwardChain(bridges: readonly NetworkFacts[], o: NetworkOptions, subnetsOf: SubnetsOf, masqueraded: Masqueraded): Rule[] {
  const { log, hasRaw } = o;
  // The admin's chain first: a DROP there (a fail2ban ban) wins over everything below, replies included.
  const forward: Rule[] = [toChain(C.USER)];
  for (const n of bridges) {
    for (const subnet of subnetsOf(n)) {
      if (hasRaw && (masqueraded(n, subnet) || n.internal)) continue;
      // A routed subnet's replies arrive addressed to the container itself, and raw runs before
      // conntrack could tell them from direct access: its direct-access drop lives here instead.
      // So does every subnet's on a kernel without raw: conntrack state gives the same verdict
      // (replies, de-masqueraded before FORWARD, are ESTABLISHED; published flows are DNAT; a
      // packet sent straight to a container is NEW or INVALID), at the cost of a conntrack entry
      // per refused packet, which the raw drop spared.
      const direct: Match = { dst: subnet, notIn: n.bridge, notCtstate: ['RELATED', 'ESTABLISHED', 'DNAT'] };
      const comment = `dockgate no direct access to ${n.name}`;
      // Standing in for raw's drop, it is logged as that one was.
      forward.push(...loggedDrop(hasRaw ? undefined : log, 'direct-access', direct, comment));
    }
  }
  for (const n of bridges) {
    // Nothing dockgate writes lets a flow cross an internal network's boundary, so it has no
    // replies to let back either.
    if (n.internal) continue;
    forward.push({ match: { out: n.bridge, ctstate: ['RELATED', 'ESTABLISHED'] }, action: ACCEPT, comment: `dockgate replies into ${n.name}` });
    forward.push({ match: { in: n.bridge, ctstate: ['RELATED', 'ESTABLISHED'] }, action: ACCEPT, comment: `dockgate replies from ${n.name}` });
  }
  for (const n of bridges) forward.push({ match: { in: n.bridge, out: n.bridge }, action: ACCEPT, comment: `dockgate inside ${n.name}` });
  for (const a of bridges) {
    for (const b of bridges) {
      if (a === b) continue;
      // A published (DNATed) port stays reachable from other networks; direct traffic does not.
      forward.push(...loggedDrop(log, 'isolation', { in: a.bridge, out: b.bridge, notCtstate: ['DNAT'] }, `dockgate isolate ${a.name} from ${b.name}`));
    }
  }
  forward.push(toChain(C.CONTAINERS));
  for (const n of bridges) {
    // New flows only: what else reaches here from a container (invalid packets) is no attempt to go out.
    const from = `dockgate fail closed from ${n.name}`;
    const into = `dockgate fail closed into ${n.name}`;
    forward.push(...logBefore(log, 'egress-denied', { match: { in: n.bridge, ctstate: ['NEW'] }, comment: from }));
    forward.push({ match: { in: n.bridge }, action: DROP, comment: from });
    forward.push(...logBefore(log, 'direct-access', { match: { out: n.bridge, ctstate: ['NEW'] }, comment: into }));
    forward.push({ match: { out: n.bridge }, action: DROP, comment: into });
  }
  // Whatever is still here touches no managed bridge. Linux forwards by the interface a packet
  // arrives on, so the forwarding dockgate turns on for an uplink (and leaves on once the default
  // route has moved away) would route it to any other interface, a LAN or a VPN, whatever the
  // admin's FORWARD policy (Debian's is ACCEPT). On a host that was no router (all.forwarding=0)
  // every such flow exists only because of dockgate: no list of interfaces, so a former uplink
  // and a restart are covered too. Flows already established when the guard appeared go on.
  if (o.adminRouting !== undefined && !o.adminRouting.includes(o.family)) {
    forward.push({ match: { notCtstate: ['RELATED', 'ESTABLISHED'] }, action: DROP, comment: 'dockgate no routing between host interfaces' });
  }
  return forward;
}

function postroutingChain(bridges: readonly NetworkFacts[], family: Family, subnetsOf: SubnetsOf, masqueraded: Masqueraded): Rule[] {
  const out: Rule[] = [];
  for (const n of bridges) {
    if (n.internal) continue;
    for (const subnet of subnetsOf(n)) {
      // A global IPv6 subnet is routed as it is (the upstream router must know the route);
      // masquerading it would hide every container behind the host for nothing.
      if (masqueraded(n, subnet)) out.push({ match: { src: subnet, notOut: n.bridge }, action: MASQUERADE, comment: `dockgate egress of ${n.name}` });
      // Hairpin: a container reaching a published port of its own network must see replies come
      // back through the host, not straight from the peer.
      out.push({ match: { src: subnet, out: n.bridge, ctstate: ['DNAT'] }, action: MASQUERADE, comment: `dockgate hairpin in ${n.name}` });
    }
    if (family === 6) continue;
    // Ports published on 127.0.0.1 in dnat mode are DNATed out of the loopback range.
    out.push({ match: { src: '127.0.0.0/8', out: n.bridge }, action: MASQUERADE, comment: `dockgate localhost into ${n.name}` });
  }
  return out;
}

function rawChain(bridges: readonly NetworkFacts[], o: NetworkOptions, subnetsOf: SubnetsOf, masqueraded: Masqueraded): Rule[] {
  const raw: Rule[] = [];
  for (const n of bridges) {
    for (const subnet of subnetsOf(n)) {
      // Replies to a masqueraded subnet reach raw addressed to the host (conntrack undoes the
      // masquerade after raw), and an internal network has no flows out: raw drops direct access
      // before conntrack spends an entry on it. A routed subnet's drop is in FORWARD.
      if (masqueraded(n, subnet) || n.internal) raw.push(...loggedDrop(o.log, 'direct-access', { dst: subnet, notIn: n.bridge }, `dockgate no direct access to ${n.name}`));
    }
  }
  // DNAT happens before the routing code's martian check, so without this a neighbour (or a
  // container, with route_localnet on) could reach ports published on 127.0.0.1. IPv6 has no
  // route_localnet and [::1] is never DNATed, so it needs no such rule.
  // Without raw, LOOPBACK_GUARD stands in for it at the top of DOCKGATE-INPUT and -PREROUTING.
  if (o.family === 4) raw.push({ ...LOOPBACK_GUARD, action: DROP });
  return raw;
}
