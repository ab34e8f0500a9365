// `dockgate explain`, minus the I/O: given the plan, the containers' facts, one family's kernel
// state, the host's addresses and (when read) the foreign nft ruleset, answer whether a
// connection is allowed and why — which container and label own the port (or who lost it), the
// rule lines that decided, who wrote the deciding rule (dockgate, the admin, DOCKGATE-USER, a
// policy), and whether another firewall's nft base chain drops it afterwards. Pure.
import { DEFAULT_MARK_BIT, type MarkBit } from '../model/mark-bit.js';
import { describeSources, hostAddress, sourceCidrs, sourceList } from '../model/format.js';
import { type Blocker, type FlowState, analyse } from '../hostfw/analysis.js';
import type { NftRuleset } from '../hostfw/nft-ruleset.js';
import type { ContainerFacts, ContainerPlan, Family, Opening, RuleSet } from '../model/types.js';
import { USER, isManagedChain } from '../plan/chains.js';
import type { KernelState } from '../plan/kernel-state.js';
import { labelText } from '../labels/text.js';
import { type Net, parseNet } from '../net/address.js';
import { type HostView, isLocal, routeOf } from './host.js';
import { type Step, type TracePacket, type TraceResult, type Uncertain, describeUncertain, trace } from './trace.js';
import { openingsFor, ownerInfo, sourceIn, whyNoOwner } from './ownership.js';
import { type EgressInfo, blockedRemarks, egressOf, viaName, viaText } from './egress.js';
import type { SetMembers } from './sets.js';

export type Answer = 'allowed' | 'blocked' | 'unknown';

/** The nft side: the ruleset and whether dockgate's marks are in place, or why it could not be read. */
/** Other firewalls' nft ruleset, and whether dockgate's marks are all in place, per family (IPv6: ip6tables' mangle). */
/** `mark`: the bit of dockgate's marks (`foreign_chains_mark`); absent, its default. */
export type ForeignInput = { ruleset: NftRuleset; marksInPlace: boolean; marksInPlace6?: boolean; mark?: MarkBit } | { error: string };

export interface OwnerInfo {
  container: string;
  id: string;
  mode: 'proxy' | 'dnat';
  /** The container's dockgate.* labels as written (absent: the config's default applies). */
  labels: { ports?: string; from?: string; mode?: string; egress?: string };
  opening: Opening;
  /** Is the packet's source among the opening's sources? 'partly' for a range that straddles one. */
  sourceAllowed: 'yes' | 'no' | 'partly';
}

export interface OtherFirewalls {
  checked: boolean;
  state?: FlowState;
  blockers?: Blocker[];
  error?: string;
}

export interface Explanation {
  packet: TracePacket;
  /** How the in interface was chosen. */
  inInterfaceHow: string;
  answer: Answer;
  /** One sentence: the answer and who decided it. */
  summary: string;
  owner?: OwnerInfo;
  /** No owner: why not (a label that lost the port, a -p without a label, ...). */
  ownership: string[];
  trace: TraceResult;
  /** The deciding step and who wrote it. */
  decidedBy?: Step & { by: string };
  otherFirewalls: OtherFirewalls;
  /** A container's own connection beyond the host: its egress policy, and the name that let it pass. */
  egress?: EgressInfo;
  /** More to know: the path never reached dockgate's chains, HOST is not local, ... */
  remarks: string[];
}

export interface ExplainContext {
  plan: RuleSet;
  facts: readonly ContainerFacts[];
  labelPrefix: string;
  /** Both families' kernel states (6 absent on an IPv4-only host). */
  states: ReadonlyMap<Family, KernelState>;
  host: HostView;
  foreign: ForeignInput;
  /** The kernel's egress name sets (`ipset save`); absent: not read, so matches on them are uncertain. */
  sets?: SetMembers;
}

/** Who wrote the rule (or policy) that decided. */
export function writerOf(s: Step): string {
  if (s.action === 'policy') return `the admin's ${s.table} ${s.chain} policy ${s.policy}`;
  if (s.chain === USER) return 'your DOCKGATE-USER chain';
  // By exact name: the admin's DOCKGATE-USER-BANS is the admin's.
  if (isManagedChain(s.chain)) return 'dockgate';
  return "the admin's own rule";
}

/** Interfaces dockgate's rules name (the Docker bridges), from the plan of both families. */
export function bridgesOf(plan: RuleSet): Set<string> {
  const out = new Set<string>();
  for (const c of [...plan.chains, ...(plan.ipv6?.chains ?? [])]) {
    for (const { match } of c.rules) for (const i of [match.in, match.out]) if (i !== undefined && i !== 'lo') out.add(i);
  }
  return out;
}

/**
 * The interface a packet from `src` arrives on: the way back to it (a connected subnet or the
 * default route), else the host's only interface that is neither lo nor a Docker bridge.
 */
export function inferInInterface(host: HostView, plan: RuleSet, src: Net): { iface?: string; how: string } {
  const r = routeOf(host, src);
  if (r) return { iface: r.iface, how: `the route back to ${src.text}: ${r.how}` };
  const bridges = bridgesOf(plan);
  const outer = host.interfaces.filter((i) => !i.loopback && !bridges.has(i.name) && i.addresses.some((a) => a.family === src.family));
  if (outer.length === 1) return { iface: outer[0]!.name, how: `${outer[0]!.name}, the only interface with an IPv${src.family} address that is neither lo nor a Docker bridge` };
  return { how: `not known (no route back to ${src.text} and ${outer.length} candidate interfaces): rules testing -i are uncertain; give --in IFACE` };
}

const RANK: Record<FlowState, number> = { effective: 0, unknown: 1, 'may be blocked': 2, blocked: 3 };

/** An opening shaped like the path the trace found: INPUT as proxy (no container behind it), FORWARD as dnat. */
function shapedOpening(p: TracePacket, t: TraceResult, source: string): Opening {
  const shape = { family: p.family, protocol: p.protocol, hostIp: hostAddress(p.dst), hostPort: p.dport, containerPort: t.dnat?.dport ?? p.dport, sources: sourceList([source]) };
  return t.route === 'FORWARD' ? { ...shape, mode: 'dnat', containerIp: t.dnat?.dst ?? p.dst } : { ...shape, mode: 'proxy' };
}

function otherFirewalls(ctx: ExplainContext, p: TracePacket, t: TraceResult, owner: OwnerInfo | undefined, byDockgate: boolean): OtherFirewalls {
  if ('error' in ctx.foreign) return { checked: false, error: ctx.foreign.error };
  const src = parseNet(p.src)!;
  // The analysis reads sources as CIDRs.
  const source = src.lo === src.hi ? `${src.text}/${src.family === 4 ? 32 : 128}` : src.text;
  // The flow as the nft analysis models it: dockgate's own opening when it is what accepted the
  // packet, else one shaped like the path the trace found (INPUT: as proxy, FORWARD: as dnat).
  const opening: Opening = owner && byDockgate ? { ...owner.opening, sources: sourceList([source]) } : shapedOpening(p, t, source);
  const reduced: RuleSet = {
    chains: ctx.plan.chains,
    jumps: ctx.plan.jumps,
    ...(ctx.plan.ipv6 ? { ipv6: ctx.plan.ipv6 } : {}),
    containers: [{ id: owner?.id ?? '', name: owner?.container ?? '(no container)', mode: opening.mode, egress: false, openings: [opening], errors: [], warnings: [], imageLabels: [] }],
  };
  // Only what dockgate's filter chains accepted carries its mark (src/plan/marks.ts).
  const verdicts = analyse(reduced, ctx.foreign.ruleset, {
    marksInPlace: ctx.foreign.marksInPlace && byDockgate,
    mark: ctx.foreign.mark ?? DEFAULT_MARK_BIT,
    // As status judges it: without an IPv6 dataplane nothing marks IPv6 packets.
    ...(ctx.foreign.marksInPlace6 !== undefined ? { marksInPlace6: ctx.foreign.marksInPlace6 && byDockgate } : {}),
  }).filter((v) => v.opening === opening);
  let state: FlowState = 'effective';
  const blockers: Blocker[] = [];
  for (const v of verdicts) {
    if (RANK[v.state] > RANK[state]) state = v.state;
    blockers.push(...v.blockers);
  }
  return { checked: true, state, blockers };
}

export function where(s: Step): string {
  return s.action === 'policy' ? `${s.table} ${s.chain} policy ${s.policy}` : `${s.table} ${s.chain} rule ${s.rule}: ${s.line}`;
}

/** `the admin's filter INPUT policy DROP`, or `dockgate (filter DOCKGATE-OPENINGS-3f rule 1: ...)`. */
const decider = (d: Step & { by: string }): string => (d.action === 'policy' ? d.by : `${d.by} (${where(d)})`);

/** Explains one packet. `inInterfaceHow` says how packet.inInterface was chosen. */
export function explainPacket(ctx: ExplainContext, packet: TracePacket, inInterfaceHow: string): Explanation {
  const state = ctx.states.get(packet.family);
  const src = parseNet(packet.src)!;
  const dst = parseNet(packet.dst)!;
  const remarks: string[] = [];
  const t = trace({ state: state ?? new Map(), host: ctx.host, packet, ...(ctx.sets ? { sets: ctx.sets } : {}) });
  if (!state) remarks.push(`this host has no ip${packet.family === 6 ? '6' : ''}tables rules for IPv${packet.family} to read: traced as an empty firewall`);
  // A container's own connection beyond the host is its egress, not anybody's opening.
  const egress = isLocal(ctx.host, dst) !== 'yes' ? egressOf(ctx, packet) : undefined;
  if (isLocal(ctx.host, dst) !== 'yes' && !egress) remarks.push(`${packet.dst} is not one of this host's addresses: traced as a packet the host forwards`);

  const matches = egress ? [] : openingsFor(ctx.plan, ctx.host, packet);
  // The opening whose sources hold the client, else the first one for this port.
  const chosen = matches.find((m) => sourceIn(m.opening, src) !== 'no') ?? matches[0];
  const owner = chosen ? ownerInfo(ctx, chosen.container, chosen.opening, src) : undefined;
  const ownership = owner || egress ? [] : whyNoOwner(ctx, packet);
  if (owner && owner.sourceAllowed === 'no') {
    remarks.push(`${packet.src} is not among the sources of ${owner.container}'s opening (${owner.labels.from !== undefined ? labelText(`${ctx.labelPrefix}.from`, owner.labels.from) : 'the default from'}: ${describeSources(owner.opening.sources)})`);
  }

  // An unknown verdict has no decider: the path shown is one possibility among others.
  const d = t.verdict === 'unknown' ? undefined : t.decidedBy;
  const decidedBy = d ? { ...d, by: writerOf(d) } : undefined;
  const byDockgate = d !== undefined && d.action !== 'policy' && isManagedChain(d.chain);
  const reachedDockgate = t.steps.some((s) => isManagedChain(s.chain) && s.table === 'filter');
  if (owner && owner.sourceAllowed !== 'no' && t.verdict === 'drop' && !reachedDockgate && t.route !== undefined) {
    remarks.push(`the packet never reached dockgate's filter chains: ${decidedBy ? `${decidedBy.by} decided first` : 'something earlier decided'} (dockgate status shows whether its jumps are in place)`);
  }

  let answer: Answer;
  let summary: string;
  let other: OtherFirewalls = { checked: false };
  if (t.verdict === 'unknown') {
    answer = 'unknown';
    const u: Uncertain = t.unknownAt ?? { why: 'the outcomes differ' };
    summary = u.line !== undefined ? `unknown: the answer depends on ${describeUncertain(u)}` : `unknown: ${u.why}`;
  } else if (t.verdict === 'drop') {
    answer = 'blocked';
    summary = `blocked by ${decider(decidedBy!)}`;
  } else {
    other = otherFirewalls(ctx, packet, t, owner, byDockgate);
    const accepted = decidedBy ? `accepted by ${decider(decidedBy)}` : 'accepted (no rule on the path)';
    if (!other.checked) {
      answer = 'unknown';
      summary = `${accepted}, but other firewalls' nft chains could not be checked: ${other.error}`;
    } else if (other.state === 'effective') {
      answer = 'allowed';
      const via = egress ? viaName(ctx, packet, d) : undefined;
      if (egress && via) egress.via = via;
      summary = via ? `allowed ${viaText(via)}: ${accepted}` : `allowed: ${accepted}`;
    } else if (other.state === 'blocked') {
      answer = 'blocked';
      const b = other.blockers!.find((x) => x.certain) ?? other.blockers![0]!;
      summary = `blocked by the nft base chain ${b.chain} (${b.by}; ${b.packets}), although ${accepted}`;
    } else {
      answer = 'unknown';
      const b = other.blockers?.[0];
      summary = `${accepted}, but ${b ? `the nft base chain ${b.chain} may drop it (${b.by}; ${b.packets})` : 'other firewalls could not be judged'}`;
    }
  }
  if (egress && answer === 'blocked') remarks.push(...blockedRemarks(egress, packet));
  return {
    packet,
    inInterfaceHow,
    answer,
    summary,
    ...(owner ? { owner } : {}),
    ...(egress ? { egress } : {}),
    ownership,
    trace: t,
    ...(decidedBy ? { decidedBy } : {}),
    otherFirewalls: other,
    remarks,
  };
}

export interface ContainerExplanation {
  container: ContainerPlan;
  labels: OwnerInfo['labels'];
  /** One per opening and source: a connection from that source ("anywhere" is the family's /0). */
  openings: Array<{ opening: Opening; source: string; explanation?: Explanation; skipped?: string }>;
  answer: Answer;
}

/** Explains each opening of a container, from each of its sources. */
export function explainContainer(ctx: ExplainContext, c: ContainerPlan): ContainerExplanation {
  const facts = ctx.facts.find((f) => f.id === c.id);
  const labels: OwnerInfo['labels'] = {};
  for (const k of ['ports', 'from', 'mode', 'egress'] as const) {
    const v = facts?.labels[`${ctx.labelPrefix}.${k}`];
    if (v !== undefined) labels[k] = v;
  }
  const openings: ContainerExplanation['openings'] = [];
  for (const o of c.openings) {
    for (const source of sourceCidrs(o)) {
      const src = parseNet(source)!;
      const inferred = inferInInterface(ctx.host, ctx.plan, src);
      // Bound to every address: the address of the interface a client comes in by.
      let dst = o.hostIp.kind === 'address' ? o.hostIp.ip : '';
      if (o.hostIp.kind === 'any') {
        const on = inferred.iface ? ctx.host.interfaces.find((i) => i.name === inferred.iface)?.addresses.find((a) => a.family === o.family) : undefined;
        const anyOuter = ctx.host.interfaces.filter((i) => !i.loopback && !bridgesOf(ctx.plan).has(i.name)).flatMap((i) => i.addresses).find((a) => a.family === o.family);
        dst = on?.address ?? anyOuter?.address ?? '';
      }
      if (dst === '') {
        openings.push({ opening: o, source, skipped: `no IPv${o.family} address on this host to connect to` });
        continue;
      }
      const packet: TracePacket = { family: o.family, src: source, dst, protocol: o.protocol, dport: o.hostPort, ...(inferred.iface ? { inInterface: inferred.iface } : {}) };
      openings.push({ opening: o, source, explanation: explainPacket(ctx, packet, inferred.how) });
    }
  }
  const answers = openings.map((x) => x.explanation?.answer ?? 'unknown');
  const answer: Answer = answers.length === 0 ? 'blocked' : answers.every((a) => a === 'allowed') ? 'allowed' : answers.includes('unknown') ? 'unknown' : 'blocked';
  return { container: c, labels, openings, answer };
}
