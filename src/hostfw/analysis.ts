// Which of the plan's openings can packets really pass? Every foreign nft base chain on a flow's
// path (a native nft firewall, firewalld) is evaluated for each kind of packet the flow sends:
// new connections, their later packets, and the replies. Pure: plan + parsed ruleset in,
// verdicts out. Never optimistic: a drop some branch may reach makes the opening "may be
// blocked", never "effective".
import type { Opening, RuleSet } from '../model/types.js';
import type { MarkBit } from '../model/mark-bit.js';
import { type DropCause, describeRule, evaluateBaseChain } from './evaluate.js';
import { type NftChain, type NftRuleset, chainLabel } from './nft-ruleset.js';
import { type Flow, type Hook, type PacketKind, chainsOnPath, flowsOf, sees } from './flows.js';
import { MANGLE_PRIORITY } from '../plan/marks.js';

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

/** One line for status and doctor: `blocked by inet admin input (policy drop)`. */
export function describeVerdict(v: Pick<FlowVerdict, 'state' | 'blockers'>): string {
  if (v.state === 'effective' || v.state === 'unknown') return v.state;
  const shown = v.blockers.slice(0, 3).map((b) => `${b.chain} (${b.by}; ${b.packets})`);
  const more = v.blockers.length > 3 ? ` and ${v.blockers.length - 3} more` : '';
  return `${v.state} by ${shown.join(', ')}${more}`;
}

