// Which of the plan's openings can packets really pass? Every foreign nft base chain on a flow's
// path (a native nft firewall, firewalld) is evaluated for each kind of packet the flow sends:
// new connections, their later packets, and the replies. Pure: plan + parsed ruleset in,
// verdicts out. Never optimistic: a drop some branch may reach makes the opening "may be
// blocked", never "effective".
import type { ContainerPlan, Opening, RuleSet } from '../model/types.js';
import { sourceCidrs } from '../model/format.js';
import { containerComment } from '../plan/container-part.js';
import { parseCidr, parseIPv4 } from '../net/cidr.js';
import { MANGLE_PRIORITY } from '../plan/marks.js';
import { ANY_ADDR, ANY_PORT, type DropCause, type Iface, type Packet, type Range, describeRule, evaluateBaseChain, footprintBit, isFootprintRule } from './evaluate.js';
import type { MarkBit } from '../model/mark-bit.js';
import { type NftChain, type NftRule, type NftRuleset, chainLabel, findChain, foreignBaseChains, seesIpv4 } from './nft-ruleset.js';

/** iptables' nat PREROUTING priority (dstnat): chains before it see the address before DNAT. */
const DSTNAT = -100;
/** nat POSTROUTING (srcnat): chains after it see the masqueraded source. */
const SRCNAT = 100;

type Hook = 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';
const HOOKS = new Set<string>(['prerouting', 'input', 'forward', 'output', 'postrouting']);
/** Hooks where dockgate's mangle rules mark packets (and so where its footprint works). */
const MARK_HOOKS = new Set<string>(['input', 'forward']);

export type PacketKind = 'new connections' | 'later packets' | 'replies';

type Seen = Omit<Packet, 'marked' | 'family'>;

interface FlowPacket {
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

export interface Blocker {
  /** `family table chain` of the base chain. */
  chain: string;
  hook: string;
  priority: number;
  packets: PacketKind;
  /** 'policy drop', or the rule (and the chain it is in, when that is not the base chain). */
  by: string;
  certain: boolean;
}

export type FlowState = 'effective' | 'blocked' | 'may be blocked' | 'unknown';

export interface FlowVerdict {
  family: 4 | 6;
  containerId: string;
  container: string;
  kind: Flow['kind'];
  opening?: Opening;
  egress?: { ip: string; bridge: string };
  state: FlowState;
  blockers: Blocker[];
}

const range = (cidr: string): Range => {
  const r = parseCidr(cidr.includes('/') ? cidr : `${cidr}/32`);
  if (!r.ok || r.value.family !== 4) return ANY_ADDR;
  const [addr, len] = r.value.text.split('/');
  const lo = parseIPv4(addr!)!;
  return [lo, lo + 2 ** (32 - Number(len)) - 1];
};
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

/**
 * Every flow the plan lets through: one per opening and source, and one per egress attachment.
 * `ipv6Marks`: dockgate marks IPv6 packets too (an ip6tables dataplane writes its mirror).
 */
export function flowsOf(plan: RuleSet, ipv6Marks = false): Flow[] {
  const ext: Iface = { kind: 'other', not: ['lo', ...(plan.bridges ?? [])] };
  const accepted = acceptedPorts(plan);
  const none: Iface = { kind: 'none' };
  const flows: Flow[] = [];
  const base = { sport: ANY_PORT, dport: ANY_PORT, ctDnat: false, ctDirection: 'original' as const, firstSyn: false, daddrLocal: false };
  for (const c of plan.containers) {
    for (const o of c.openings) {
      const host = o.hostIp.kind === 'any' ? ANY_ADDR : one(parseIPv4(o.hostIp.ip) ?? 0);
      for (const source of sourceCidrs(o)) {
        const src = range(source);
        const proto = o.protocol;
        const packets: FlowPacket[] = [];
        if (o.mode === 'proxy') {
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
        } else {
          const bridge = bridgeFor(c, o.family, o.containerIp);
          const toBridge: Iface = bridge ? { kind: 'known', name: bridge } : { kind: 'other', not: ['lo'] };
          const cip = one(parseIPv4(o.containerIp) ?? 0);
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
        }
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
    for (const { family, address: ip, bridge } of c.leavesFrom ?? []) {
      if (family === 6 && !plan.ipv6) continue;
      const cip = one(parseIPv4(ip) ?? 0);
      const fromBridge: Iface = { kind: 'known', name: bridge };
      const outbound = (ctState: 'new' | 'established') => (hook: Hook, prio: number): Seen | undefined => {
        if (hook === 'input' || hook === 'output') return undefined;
        return {
          ...base,
          saddr: hook === 'postrouting' && prio > SRCNAT ? ANY_ADDR : cip,
          daddr: ANY_ADDR,
          proto: undefined,
          iif: fromBridge,
          oif: hook === 'prerouting' ? none : ext,
          ctState,
        };
      };
      const markable = new Set(family === 4 || ipv6Marks ? ['forward'] : []);
      flows.push({
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
                saddr: ANY_ADDR,
                daddr: before ? ANY_ADDR : cip,
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
      });
    }
  }
  return flows;
}

/** Does a chain of this nft family see packets of this IP family? */
const sees = (chainFamily: string, family: 4 | 6): boolean => chainFamily === 'inet' || chainFamily === (family === 4 ? 'ip' : 'ip6');

/** Foreign base chains that see this host's routed packets, on the hooks flows pass. */
export function chainsOnPath(rs: NftRuleset): NftChain[] {
  return foreignBaseChains(rs).filter((c) => (sees(c.family, 4) || sees(c.family, 6)) && HOOKS.has(c.base!.hook));
}

/** Can dockgate's footprint help in this chain (its marks are set before it runs)? */
export function footprintWorksIn(chain: NftChain): boolean {
  const b = chain.base!;
  return (chain.family === 'ip' || chain.family === 'ip6' || chain.family === 'inet') && b.type === 'filter' && MARK_HOOKS.has(b.hook) && b.prio > MANGLE_PRIORITY;
}

function blockerOf(chain: NftChain, packets: PacketKind, d: DropCause): Blocker {
  const where = d.chain === chain ? '' : ` in chain ${d.chain.name}`;
  return {
    chain: chainLabel(chain),
    hook: chain.base!.hook,
    priority: chain.base!.prio,
    packets,
    by: d.rule ? `rule ${describeRule(d.rule)}${where} (${d.verdict})` : d.verdict,
    certain: d.certain,
  };
}

export interface AnalyseOptions {
  /** dockgate's mangle marks are in the kernel exactly as planned (iptables). */
  marksInPlace: boolean;
  /** The same for ip6tables; absent: IPv6 packets are not marked. */
  marksInPlace6?: boolean;
  /** The bit those marks set (`foreign_chains_mark`): only a footprint with it lets them through. */
  mark: MarkBit;
}

/** Drops a flow's packets meet in one chain (marked as the kernel would mark them, or as asked). */
function dropsIn(chain: NftChain, flow: Flow, rs: NftRuleset, marks: MarkBit | undefined, ignoreFootprint: boolean): Blocker[] {
  // `marks`: the bit, when this flow's family has its marks in place.
  const out: Blocker[] = [];
  const b = chain.base!;
  if (!sees(chain.family, flow.family)) return out;
  for (const pk of flow.packets) {
    const p = pk.at(b.hook as Hook, b.prio);
    if (!p) continue;
    const marked = pk.markable.has(b.hook) && b.prio > MANGLE_PRIORITY ? marks : undefined;
    const r = evaluateBaseChain(chain, { ...p, family: flow.family, marked }, rs, { ignoreFootprint });
    for (const d of r.drops) out.push(blockerOf(chain, pk.kind, d));
  }
  return out;
}

function stateOf(blockers: readonly Blocker[]): FlowState {
  if (blockers.length === 0) return 'effective';
  return blockers.some((b) => b.certain) ? 'blocked' : 'may be blocked';
}

/** The verdict of every flow of the plan against the ruleset as it is. */
export function analyse(plan: RuleSet, rs: NftRuleset, opts: AnalyseOptions): FlowVerdict[] {
  const chains = chainsOnPath(rs);
  return flowsOf(plan, opts.marksInPlace6 !== undefined).map((flow) => {
    const marks = (flow.family === 4 ? opts.marksInPlace : opts.marksInPlace6 === true) ? opts.mark : undefined;
    const blockers = chains.flatMap((c) => dropsIn(c, flow, rs, marks, false));
    return { family: flow.family, containerId: flow.containerId, container: flow.container, kind: flow.kind, ...(flow.opening ? { opening: flow.opening } : {}), ...(flow.egress ? { egress: flow.egress } : {}), state: stateOf(dedupe(blockers)), blockers: dedupe(blockers) };
  });
}

function dedupe(list: readonly Blocker[]): Blocker[] {
  const seen = new Set<string>();
  return list.filter((b) => {
    const k = `${b.chain}\n${b.packets}\n${b.by}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/**
 * Where dockgate's mark accept goes in one foreign firewall: directly before the drop that
 * takes every packet of some kind dockgate opens (the base chain's policy drop, or a final
 * drop/reject, possibly in a chain the base chain jumps to), and after every rule that may drop
 * only some of them. The admin's bans, anti-spoofing and rate limits sit above it and keep
 * working; a chain that drops only some packets gets no spot at all.
 */
export interface FootprintSpot {
  /** The base chain whose packets it lets through: what status and the logs name. */
  base: NftChain;
  /** The chain it lives in: the base chain, or one reached from it by jumps. */
  chain: NftChain;
  /** The catch-all drop it goes directly before; undefined: the end of the base chain (its policy drop). */
  before: NftRule | undefined;
  /**
   * A footprint rule at index i of `chain` is in place when after < i < index of `before` (or
   * the chain's length): after the last rule that may drop one of these packets, before the
   * catch-all drop.
   */
  after: number;
}

/** The index of the rule a spot must stay before. */
export const spotEnd = (s: FootprintSpot): number => (s.before ? s.chain.rules.indexOf(s.before) : s.chain.rules.length);

/** `inet admin input (at its end, before the policy drop)`, for logs. */
export function describeSpot(s: FootprintSpot): string {
  if (!s.before) return `${chainLabel(s.base)} (at its end, before the policy drop)`;
  const inChain = s.chain === s.base ? '' : ` in chain ${s.chain.name}`;
  return `${chainLabel(s.base)} (directly before rule ${describeRule(s.before)}${inChain})`;
}

/**
 * The spots dockgate's footprint needs for this plan: for each foreign base chain where a mark
 * can help, where the first catch-all drop of each packet its marks cover lies. Chains the
 * footprint cannot help (before the marks are set, or on other hooks) are not in it; `analyse`
 * still reports them.
 */
export function footprintSpots(plan: RuleSet, rs: NftRuleset, ipv6Marks = false): FootprintSpot[] {
  const candidates = chainsOnPath(rs).filter(footprintWorksIn);
  // No other firewall on the hooks (the common host): nothing to judge, so no flows to build.
  if (candidates.length === 0) return [];
  const flows = flowsOf(plan, ipv6Marks);
  const spots: FootprintSpot[] = [];
  for (const base of candidates) {
    const hook = base.base!.hook as Hook;
    // Rules that may drop some of these packets, by chain: nothing of them may sit between a
    // footprint and its catch-all drop.
    const mayDrop = new Map<NftChain, Set<NftRule>>();
    const found = new Map<string, { chain: NftChain; before: NftRule | undefined }>();
    // Flows differ mostly in ports: packets that look alike to the chain are judged once.
    const judged = new Set<string>();
    for (const f of flows) {
      if (!sees(base.family, f.family)) continue;
      for (const pk of f.packets) {
        if (!pk.markable.has(hook)) continue;
        const seen = pk.at(hook, base.base!.prio);
        if (!seen) continue;
        const p: Packet = { ...seen, family: f.family, marked: undefined };
        const key = JSON.stringify(p);
        if (judged.has(key)) continue;
        judged.add(key);
        const { drops } = evaluateBaseChain(base, p, rs, { ignoreFootprint: true });
        for (const d of drops) {
          for (const r of [...d.via, ...(d.rule ? [d.rule] : [])]) {
            const chain = findChain(rs, r.family, r.table, r.chain);
            if (!chain) continue;
            const set = mayDrop.get(chain) ?? new Set<NftRule>();
            set.add(r);
            mayDrop.set(chain, set);
          }
        }
        const target = drops.find((d) => d.catchAll);
        if (target) found.set(`${chainLabel(target.chain)}\n${target.rule?.handle ?? 'end'}`, { chain: target.chain, before: target.rule });
      }
    }
    for (const { chain, before } of found.values()) {
      const end = before ? chain.rules.indexOf(before) : chain.rules.length;
      const drops = mayDrop.get(chain) ?? new Set();
      let after = -1;
      chain.rules.forEach((r, i) => {
        if (i < end && r !== before && drops.has(r) && !isFootprintRule(r)) after = i;
      });
      spots.push({ base, chain, before, after });
    }
  }
  return spots;
}

/** The foreign base chains that drop some packet dockgate's marks cover, unless a footprint lets it through. */
export function chainsNeedingFootprint(plan: RuleSet, rs: NftRuleset, ipv6Marks = false): NftChain[] {
  return [...new Set(footprintSpots(plan, rs, ipv6Marks).map((s) => s.base))];
}

/** Is this footprint rule (index `index` in `chain`) where the spot wants it? */
export function holds(spot: FootprintSpot, chain: NftChain, index: number): boolean {
  return chain === spot.chain && index > spot.after && index < spotEnd(spot);
}

/** One of dockgate's footprint rules: where, and the bit it lets through. */
export interface PresentFootprint {
  chain: NftChain;
  handle: number;
  index: number;
  bit: MarkBit;
}

/** dockgate's footprint rules wherever they are (any foreign table, any chain), whatever their bit. */
export function footprintRules(rs: NftRuleset): PresentFootprint[] {
  const out: PresentFootprint[] = [];
  for (const c of rs.chains) {
    c.rules.forEach((r, index) => {
      const bit = footprintBit(r);
      if (bit !== undefined) out.push({ chain: c, handle: r.handle, index, bit });
    });
  }
  return out;
}

/** One line for status and doctor: `blocked by inet admin input (policy drop)`. */
export function describeVerdict(v: Pick<FlowVerdict, 'state' | 'blockers'>): string {
  if (v.state === 'effective' || v.state === 'unknown') return v.state;
  const shown = v.blockers.slice(0, 3).map((b) => `${b.chain} (${b.by}; ${b.packets})`);
  const more = v.blockers.length > 3 ? ` and ${v.blockers.length - 3} more` : '';
  return `${v.state} by ${shown.join(', ')}${more}`;
}
