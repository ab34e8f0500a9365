// The flows a plan lets through, as packets the host's other firewalls see on each hook: one per
// opening and source, and one per address a container leaves from. Pure: typed plan in, flows out.
import type { BridgeAddress, ContainerPlan, DnatOpening, Opening, ProxyOpening, RuleSet } from '../model/types.js';
import { sourceCidrs } from '../model/format.js';
import { containerComment } from '../plan/container-part.js';
import { type AddressRange, anyNet, parseNet } from '../net/address.js';
import { MANGLE_PRIORITY } from '../plan/marks.js';
import { ANY_PORT, type Iface, type Packet, type Range } from './packet.js';
import { FOOTPRINT_FAMILIES, type NftChain, type NftRuleset, foreignBaseChains } from './nft-ruleset.js';

/** iptables' nat PREROUTING priority (dstnat): chains before it see the address before DNAT. */
export const DSTNAT = -100;
/** nat POSTROUTING (srcnat): chains after it see the masqueraded source. */
const SRCNAT = 100;

export type Hook = 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';
const HOOKS = new Set<string>(['prerouting', 'input', 'forward', 'output', 'postrouting']);
/** Hooks where dockgate's mangle rules mark packets (and so where its footprint works). */
const MARK_HOOKS = new Set<string>(['input', 'forward']);

export type PacketKind = 'new connections' | 'later packets' | 'replies';

export type Seen = Omit<Packet, 'marked' | 'family'>;

export interface FlowPacket {
  kind: PacketKind;
  /** The packet as a chain at this hook and priority sees it; undefined when it does not pass there. */
  at(hook: Hook, prio: number): Seen | undefined;
  /** Hooks where dockgate's marks cover this packet. */
  markable: ReadonlySet<string>;
}

export interface Flow {
  family: 4 | 6;
  containerId: string;
  container: string;
  kind: 'proxy' | 'dnat' | 'egress';
  opening?: Opening;
  /** Egress: the container address and bridge. */
  egress?: { ip: string; bridge: string };
  /** A source CIDR of the opening (everyone: the family's /0), or the egress container's address. */
  source: string;
  packets: FlowPacket[];
}

/** An address or CIDR of the flow's family as the evaluator reads it; unreadable: every address. */
const net = (text: string, family: 4 | 6): AddressRange => parseNet(text) ?? anyNet(family);
const one = (n: number): Range => [n, n];

/** The bridge a container address is on, from the container's own addresses. */
function bridgeFor(c: ContainerPlan, family: 4 | 6, ip: string): string | undefined {
  return c.addresses?.find((a) => a.family === family && a.address === ip)?.bridge;
}

/** `comment|family|proto|port` of every accept with a destination port in the plan's filter chains. */
function acceptedPorts(plan: RuleSet): Set<string> {
  const out = new Set<string>();
  for (const [family, chains] of [[4, plan.chains], [6, plan.ipv6?.chains ?? []]] as const) {
    for (const ch of chains) {
      if (ch.table !== 'filter') continue;
      for (const r of ch.rules) {
        const { proto, dport } = r.match;
        if (r.action.kind === 'accept' && proto !== undefined && dport !== undefined && dport.start === dport.end) out.add(`${r.comment}|${family}|${proto}|${dport.start}`);
      }
    }
  }
  return out;
}

/**
 * Does one of the container's own rules in the plan's filter chains accept this opening? The marks
 * are a mirror of those accepts, so only then can a packet of it be marked.
 */
function acceptedByPlan(accepted: ReadonlySet<string>, c: ContainerPlan, o: Opening): boolean {
  const port = o.mode === 'proxy' ? o.hostPort : o.containerPort;
  return accepted.has(`${containerComment(c)}|${o.family}|${o.protocol}|${port}`);
}

/** What every packet of a flow starts from. */
const BASE = { sport: ANY_PORT, dport: ANY_PORT, ctDnat: false, ctDirection: 'original' as const, firstSyn: false, daddrLocal: false };
const NONE: Iface = { kind: 'none' };

/** Where a flow's packets come from and go to, beyond its opening. */
interface Ends {
  /** Any interface but lo and the managed bridges: the uplinks. */
  ext: Iface;
  src: AddressRange;
  host: AddressRange;
}

/** A proxy opening's packets: to the host itself (INPUT), replies from it (OUTPUT). */
function proxyPackets(o: ProxyOpening, { ext, src, host }: Ends): FlowPacket[] {
  const base = BASE;
  const none = NONE;
  const proto = o.protocol;
  const packets: FlowPacket[] = [];
    const inbound = (ctState: 'new' | 'established') => (hook: Hook): Seen | undefined =>
      hook === 'prerouting' || hook === 'input'
        ? { ...base, saddr: src, daddr: host, daddrLocal: true, proto, dport: one(o.hostPort), iif: ext, oif: none, ctState, firstSyn: ctState === 'new' && proto === 'tcp' }
        : undefined;
    packets.push({ kind: 'new connections', at: inbound('new'), markable: new Set(['input']) });
    // Later packets of the connection: dockgate accepts only NEW in INPUT (the admin's
    // RELATED,ESTABLISHED rule takes the rest), so they are not marked.
    packets.push({ kind: 'later packets', at: inbound('established'), markable: new Set() });
    packets.push({
      kind: 'replies',
      at: (hook) =>
        hook === 'output' || hook === 'postrouting'
          ? { ...base, saddr: host, daddr: src, proto, sport: one(o.hostPort), iif: none, oif: ext, ctState: 'established', ctDirection: 'reply' }
          : undefined,
      markable: new Set(),
    });
  return packets;
}

/** A dnat opening's packets: routed to the container (FORWARD), replies routed back. */
function dnatPackets(o: DnatOpening, bridge: string | undefined, { ext, src, host }: Ends): FlowPacket[] {
  const base = BASE;
  const none = NONE;
  const proto = o.protocol;
  const packets: FlowPacket[] = [];
    const toBridge: Iface = bridge ? { kind: 'known', name: bridge } : { kind: 'other', not: ['lo'] };
    const cip = net(o.containerIp, o.family);
    const inbound = (ctState: 'new' | 'established') => (hook: Hook, prio: number): Seen | undefined => {
      if (hook === 'input' || hook === 'output') return undefined;
      const firstSyn = ctState === 'new' && proto === 'tcp';
      if (hook === 'prerouting' && prio < DSTNAT) {
        return { ...base, saddr: src, daddr: host, daddrLocal: true, proto, dport: one(o.hostPort), iif: ext, oif: none, ctState, ctDnat: ctState !== 'new', firstSyn };
      }
      return {
        ...base,
        saddr: src,
        daddr: cip,
        proto,
        dport: one(o.containerPort),
        iif: ext,
        oif: hook === 'prerouting' ? none : toBridge,
        ctState,
        ctDnat: true,
        firstSyn,
      };
    };
    packets.push({ kind: 'new connections', at: inbound('new'), markable: new Set(['forward']) });
    packets.push({ kind: 'later packets', at: inbound('established'), markable: new Set(['forward']) });
    packets.push({
      kind: 'replies',
      at: (hook, prio) => {
        if (hook === 'input' || hook === 'output') return undefined;
        const saddr = hook === 'postrouting' && prio > SRCNAT ? host : cip;
        return {
          ...base,
          saddr,
          daddr: src,
          proto,
          sport: one(o.containerPort),
          iif: bridge ? { kind: 'known', name: bridge } : ext,
          oif: hook === 'prerouting' ? none : ext,
          ctState: 'established',
          ctDnat: true,
          ctDirection: 'reply',
        };
      },
      markable: new Set(['forward']),
    });
  return packets;
}

/** A container leaving from one address: one flow judges every destination its accepts allow. */
function egressFlow(c: ContainerPlan, { family, address: ip, bridge }: BridgeAddress, ext: Iface, ipv6Marks: boolean): Flow {
  const base = BASE;
  const none = NONE;
  const cip = net(ip, family);
  const any = anyNet(family);
  const fromBridge: Iface = { kind: 'known', name: bridge };
  const outbound = (ctState: 'new' | 'established') => (hook: Hook, prio: number): Seen | undefined => {
    if (hook === 'input' || hook === 'output') return undefined;
    return {
      ...base,
      saddr: hook === 'postrouting' && prio > SRCNAT ? any : cip,
      daddr: any,
      proto: undefined,
      iif: fromBridge,
      oif: hook === 'prerouting' ? none : ext,
      ctState,
    };
  };
  const markable = new Set(family === 4 || ipv6Marks ? ['forward'] : []);
  return {
    family,
    containerId: c.id,
    container: c.name,
    kind: 'egress',
    egress: { ip, bridge },
    source: ip,
    packets: [
      { kind: 'new connections', at: outbound('new'), markable },
      { kind: 'later packets', at: outbound('established'), markable },
      {
        kind: 'replies',
        at: (hook, prio) => {
          if (hook === 'input' || hook === 'output' || hook === 'postrouting') return undefined;
          const before = hook === 'prerouting' && prio < DSTNAT;
          return {
            ...base,
            saddr: any,
            daddr: before ? any : cip,
            daddrLocal: before,
            proto: undefined,
            iif: ext,
            oif: hook === 'prerouting' ? none : fromBridge,
            ctState: 'established',
            ctDirection: 'reply',
          };
        },
        markable,
      },
    ],
  };
}

/**
 * Every flow the plan lets through: one per opening and source, and one per egress attachment.
 * `ipv6Marks`: dockgate marks IPv6 packets too (an ip6tables dataplane writes its mirror).
 */
export function flowsOf(plan: RuleSet, ipv6Marks = false): Flow[] {
  const ext: Iface = { kind: 'other', not: ['lo', ...(plan.bridges ?? [])] };
  const accepted = acceptedPorts(plan);
  const flows: Flow[] = [];
  for (const c of plan.containers) {
    for (const o of c.openings) {
      const host = o.hostIp.kind === 'any' ? anyNet(o.family) : net(o.hostIp.ip, o.family);
      for (const source of sourceCidrs(o)) {
        const ends: Ends = { ext, src: net(source, o.family), host };
        const packets = o.mode === 'proxy' ? proxyPackets(o, ends) : dnatPackets(o, bridgeFor(c, o.family, o.containerIp), ends);
        // Without an IPv6 dataplane nothing marks IPv6 packets: they are judged unmarked. Nor is a
        // flow the plan's own filter chains do not accept: the marks mirror those accepts only.
        if ((o.family === 6 && !ipv6Marks) || !acceptedByPlan(accepted, c, o)) for (const pk of packets) pk.markable = new Set();
        flows.push({ family: o.family, containerId: c.id, container: c.name, kind: o.mode, opening: o, source, packets });
      }
    }
  }
  // Egress: one flow per address and bridge the container leaves from. An allow-list writes one
  // accept per destination, but the host's base chains see the same container leave by the same
  // uplink, so one flow judges them all.
  for (const c of plan.containers) {
    for (const a of c.leavesFrom ?? []) if (a.family === 4 || plan.ipv6) flows.push(egressFlow(c, a, ext, ipv6Marks));
  }
  return flows;
}

/** Does a chain of this nft family see packets of this IP family? */
export const sees = (chainFamily: string, family: 4 | 6): boolean => chainFamily === 'inet' || chainFamily === (family === 4 ? 'ip' : 'ip6');

/** Foreign base chains that see this host's routed packets, on the hooks flows pass. */
export function chainsOnPath(rs: NftRuleset): NftChain[] {
  return foreignBaseChains(rs).filter((c) => (sees(c.family, 4) || sees(c.family, 6)) && HOOKS.has(c.base!.hook));
}

/** Can dockgate's footprint help in this chain (its marks are set before it runs)? */
export function footprintWorksIn(chain: NftChain): boolean {
  const b = chain.base!;
  return FOOTPRINT_FAMILIES.has(chain.family) && b.type === 'filter' && MARK_HOOKS.has(b.hook) && b.prio > MANGLE_PRIORITY;
}
