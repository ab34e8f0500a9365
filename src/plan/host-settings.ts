// Which per-interface sysctls and conntrack clean-ups a plan needs. Pure.
import type { NetworkFacts, Opening, Protocol, RuleSet } from '../model/types.js';

export interface InterfaceSettings {
  /** Interfaces that must route: the configured external ones and every managed bridge. */
  forwarding: string[];
  /** Bridges that must accept 127.0.0.0/8 as a source, for ports published on loopback in dnat mode. */
  routeLocalnet: string[];
}

export function interfaceSettings(plan: RuleSet, networks: readonly NetworkFacts[], external: readonly string[]): InterfaceSettings {
  const bridges = [...new Set(networks.map((n) => n.bridge))].sort();
  const loopbackDnat = plan.containers.some((c) => c.openings.some((o) => o.mode === 'dnat' && o.hostIp.startsWith('127.')));
  return {
    forwarding: [...new Set([...external, ...bridges])],
    routeLocalnet: loopbackDnat ? bridges : [],
  };
}

export interface ConntrackFlush {
  protocol: Protocol;
  /** '' for any local address. */
  hostIp: string;
  hostPort: number;
}

const key = (o: Opening): string => `${o.protocol}|${o.hostIp}|${o.hostPort}|${o.containerIp}|${o.containerPort}`;

/**
 * Published dnat ports whose target appeared, moved or vanished. Their conntrack entries must
 * go: a UDP client that keeps sending would otherwise stay pinned to the old container (or to
 * "no DNAT") until the entry times out, which with a steady sender is never.
 */
export function conntrackFlushes(before: RuleSet | undefined, after: RuleSet): ConntrackFlush[] {
  const openings = (p: RuleSet | undefined): Map<string, Opening> =>
    new Map((p?.containers ?? []).flatMap((c) => c.openings.filter((o) => o.mode === 'dnat').map((o) => [key(o), o] as const)));
  const was = openings(before);
  const now = openings(after);
  const out = new Map<string, ConntrackFlush>();
  for (const [k, o] of [...was, ...now]) {
    if (was.has(k) && now.has(k)) continue;
    out.set(`${o.protocol}|${o.hostIp}|${o.hostPort}`, { protocol: o.protocol, hostIp: o.hostIp, hostPort: o.hostPort });
  }
  return [...out.values()];
}
