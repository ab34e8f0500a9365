// Openings and egress → one container's typed rules (stage 3 of the planner: labels → policy,
// ownership → openings, openings → rules; render.ts makes them text). Pure.
import type { ContainerFacts, BridgeAddress, ChainPlan, EgressPolicy, Family, NetworkFacts, Opening } from '../model/types.js';
import { ACCEPT, type Match, RETURN, type Rule } from '../model/rule.js';
import { boundAddress } from '../model/format.js';
import { servingAttachments } from './openings.js';
import { linkLocalOf } from './antispoof.js';
import { egressChain, egressRules } from '../egress/rules.js';

/** One rule per source; everyone is one rule without `-s`. */
function sourcesOf(o: Opening): Array<string | undefined> {
  return o.sources.kind === 'any' ? [undefined] : o.sources.cidrs;
}

/** The INPUT accepts of proxy openings (docker-proxy, or a host-network container's own socket). */
export function proxyRules(openings: readonly Opening[], note: string): Rule[] {
  const out: Rule[] = [];
  for (const o of openings) {
    if (o.mode !== 'proxy') continue;
    for (const src of sourcesOf(o)) {
      const match: Match = {
        src,
        dst: boundAddress(o.hostIp),
        proto: o.protocol,
        dport: { start: o.hostPort, end: o.hostPort },
        // Bound to every address: accept the host's own addresses only, never a broadcast or
        // multicast destination that happens to carry the port.
        ...(o.hostIp.kind === 'any' ? { dstLocal: true as const } : {}),
        ctstate: ['NEW'],
      };
      out.push({ match, action: ACCEPT, comment: note });
    }
  }
  return out;
}

/** The nat DNATs of dnat openings. */
export function dnatRules(openings: readonly Opening[], note: string): Rule[] {
  // One per allowed source: a source outside `from` is not redirected, so it still reaches
  // whatever the host itself serves on that port.
  return openings
    .filter((o) => o.mode === 'dnat')
    .flatMap((o) =>
      sourcesOf(o).map(
        (src): Rule => ({
          match: { src, dst: boundAddress(o.hostIp), proto: o.protocol, dport: { start: o.hostPort, end: o.hostPort } },
          action: { kind: 'dnat', ip: o.containerIp, port: o.containerPort },
          comment: note,
        }),
      ),
    );
}

/** What a container's egress rules need beyond its own openings. */
export interface EgressContext {
  policy: EgressPolicy;
  resolvers: readonly string[];
  /** Whether DNS names can be matched (the host has ipset). */
  names: boolean;
}

/** The container's address of `family` on each bridge it is served through (never an internal one). */
export function bridgeAddresses(facts: ContainerFacts, networks: ReadonlyMap<string, NetworkFacts>, family: Family): BridgeAddress[] {
  return servingAttachments(facts, networks, family).map(({ network, address }) => ({ family, address, bridge: network.bridge }));
}

/**
 * The FORWARD accepts of one family: DNATed flows to the container, and its egress (`leaves`: it
 * has some), with the shared chain of its allow-list (`chain`) when it has one.
 */
export function forwardRules(
  openings: readonly Opening[],
  egress: EgressContext,
  family: Family,
  from: readonly BridgeAddress[],
  note: string,
): { rules: Rule[]; leaves: boolean; chain: ChainPlan | undefined } {
  const out: Rule[] = [];
  for (const o of openings) {
    if (o.mode !== 'dnat') continue;
    // Only flows conntrack saw being DNATed by our nat rules: a packet sent straight to the
    // container address never matches, so publishing a port never exposes the container IP.
    for (const src of sourcesOf(o)) {
      const match: Match = { src, dst: o.containerIp, proto: o.protocol, dport: { start: o.containerPort, end: o.containerPort }, ctstate: ['DNAT'] };
      out.push({ match, action: ACCEPT, comment: note });
    }
  }
  const chain = from.length > 0 ? egressChain(egress.policy, egress.resolvers, family, egress.names) : undefined;
  const leaving = from.flatMap((a) => egressRules(egress.policy, a, note, chain));
  return { rules: [...out, ...leaving], leaves: leaving.length > 0, chain };
}

/**
 * A container without egress may not leave its networks through the host either: its packets
 * to the host's addresses skip dockgate's accepts (proxy) and DNATs (dnat), so only the admin's
 * own rules decide about them, as for any other source.
 */
export function guardRules(facts: ContainerFacts, networks: ReadonlyMap<string, NetworkFacts>, note: string, family: Family): Rule[] {
  const own = bridgeAddresses(facts, networks, family).map((a): Rule => ({ match: { src: a.address, in: a.bridge }, action: RETURN, comment: note }));
  return family === 6 ? [...own, ...linkLocalGuards(facts, networks, note)] : own;
}

/**
 * Besides its global address, a container sends IPv6 from its link-local address on every
 * network, IPv4-only ones included, and the host answers there on every address of the bridge
 * (fe80::…%eth0 reaches a proxy port bound to ::). Anti-spoofing (antispoof.ts) lets it send from
 * the one link-local address its MAC gives, so that one is guarded; without a MAC, every
 * link-local source on that bridge is.
 */
function linkLocalGuards(facts: ContainerFacts, networks: ReadonlyMap<string, NetworkFacts>, note: string): Rule[] {
  const byNetwork = new Map([...servingAttachments(facts, networks, 4), ...servingAttachments(facts, networks, 6)].map((x) => [x.attachment.networkId, x]));
  return [...byNetwork.values()].map(({ attachment, network }): Rule => {
    const ll = attachment.mac === undefined ? undefined : linkLocalOf(attachment.mac);
    return { match: { src: ll ?? 'fe80::/10', in: network.bridge }, action: RETURN, comment: note };
  });
}
