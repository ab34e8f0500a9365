// Can a foreign nft base chain drop this packet? A pure, conservative evaluator over nft's JSON:
// every match is answered yes, no or maybe for the whole class of packets a flow sends, and a
// chain is followed along every branch a "maybe" opens. A drop that some branch reaches counts
// (as "may drop"); an accept counts only when it surely matches. Anything this module does not
// understand is a maybe, and an unknown statement may drop: the answer is never optimistic.
import { type Tri, and } from '../model/tri.js';
import { isFootprintRule } from './footprint-rule.js';
import { elements } from './nft-elements.js';
import { evalMatch, leftValue, membership } from './nft-match.js';
import { type NftChain, type NftExpr, type NftMatch, type NftRule, type NftRuleset, findChain } from './nft-ruleset.js';
import { type Packet, type SeenPacket, seen } from './packet.js';

// What hostfw/analysis.ts imports from here; it imports them from their own modules when it is rewritten.
export { ANY_ADDR, ANY_PORT, type Iface, type Packet, type Range } from './packet.js';
export { footprintBit, isFootprintRule } from './footprint-rule.js';
export { describeRule } from './describe-rule.js';

export interface DropCause {
  /** The chain holding the dropping rule (the base chain itself for its policy). */
  chain: NftChain;
  /** Absent: the base chain's policy. */
  rule?: NftRule;
  /** The rule surely matches (or the policy is surely reached); else it may. */
  certain: boolean;
  /** The rule's verdict as nft would print it: drop, reject, queue, or why it is unknown. */
  verdict: string;
  /**
   * A drop for everything that reaches it: the rule and every jump on the way match this kind
   * of packet whatever its addresses, ports and the tools' state (sets, limits), at most
   * depending on the interface it came by (a zone's final reject). The policy drop is one. Any
   * other drop is the admin's choice about some packets (a ban, anti-spoofing, a rate limit),
   * which dockgate's footprint must never go above.
   */
  catchAll: boolean;
  /** The jump and goto rules that led to it, outermost first. */
  via: readonly NftRule[];
}

export interface ChainResult {
  /** Some branch ends in an accept. */
  accept: boolean;
  drops: DropCause[];
}

export interface EvalOptions {
  /** Treat dockgate's own footprint rule as absent (to ask whether the chain needs it). */
  ignoreFootprint?: boolean;
}

type Verdict =
  | { kind: 'none' }
  | { kind: 'accept' }
  | { kind: 'drop'; text: string; unsure?: boolean }
  | { kind: 'return' }
  | { kind: 'continue' }
  | { kind: 'jump' | 'goto'; target: string };

/** Statements that change nothing about the packet's fate. */
const PASSIVE = new Set(['counter', 'log', 'mangle', 'notrack', 'set', 'meter', 'ct helper', 'ct timeout', 'ct expectation', 'xt', 'dup', 'fwd']);
/** Statements that end the chain with an accept (NAT in nat chains). */
const ACCEPTING = new Set(['dnat', 'snat', 'masquerade', 'redirect']);
/** Statements that behave like a match: the rest of the rule may not run. */
const MATCHLIKE = new Set(['limit', 'quota', 'ct count', 'synproxy', 'numgen']);

function verdictOf(e: NftExpr): Verdict | undefined {
  const k = Object.keys(e)[0] ?? '';
  if (k === 'accept') return { kind: 'accept' };
  if (k === 'drop') return { kind: 'drop', text: 'drop' };
  if (k === 'reject') return { kind: 'drop', text: 'reject' };
  if (k === 'queue') return { kind: 'drop', text: 'queue (userspace decides)', unsure: true };
  if (k === 'return') return { kind: 'return' };
  if (k === 'continue') return { kind: 'continue' };
  if (k === 'jump' || k === 'goto') return { kind: k, target: String((e[k] as { target?: unknown })?.target ?? '') };
  if (ACCEPTING.has(k)) return { kind: 'accept' };
  return undefined;
}

interface Branch {
  match: Tri;
  /** It holds for every packet of this kind, maybe depending on the interface (see DropCause). */
  catchAll: boolean;
  verdict: Verdict;
}

const IFACE_KEYS = new Set(['iifname', 'iif', 'oifname', 'oif']);
/** Matches on what kind of packet it is, not on who sends it or where to. */
const KIND_META = new Set(['l4proto', 'nfproto', 'protocol']);
const KIND_CT = new Set(['state', 'status', 'direction']);

/**
 * How a match bears on catch-all: an interface match never spoils it (which interface a packet
 * comes by is outside the flow's model, and a zone's reject names one); a match on the kind of
 * packet keeps it when it surely holds; addresses, ports, sets, marks and anything else select
 * some packets, so a drop behind them is the admin's choice about those (a ban, a closed port).
 */
function catchAllMatch(left: unknown, t: Tri): boolean {
  const l = left as { meta?: { key?: unknown }; ct?: { key?: unknown; dir?: unknown }; fib?: unknown } | undefined;
  if (IFACE_KEYS.has(String(l?.meta?.key))) return true;
  const kind = KIND_META.has(String(l?.meta?.key)) || (l?.ct !== undefined && l.ct.dir === undefined && KIND_CT.has(String(l.ct.key))) || l?.fib !== undefined;
  return kind && t === 'yes';
}

/** A rule as the branches it can take: usually one; a verdict map one per element. */
function branches(rule: NftRule, p: SeenPacket, rs: NftRuleset, opts: EvalOptions): Branch[] {
  if (opts.ignoreFootprint && isFootprintRule(rule)) return [];
  let match: Tri = 'yes';
  let catchAll = true;
  let verdict: Verdict = { kind: 'none' };
  const out: Branch[] = [];
  for (const e of rule.expr) {
    const k = Object.keys(e)[0] ?? '';
    if (k === 'match') {
      const t = evalMatch(e.match as NftMatch, p, rs, rule);
      match = and(match, t);
      catchAll &&= catchAllMatch((e.match as NftMatch).left, t);
    } else if (k === 'vmap') {
      const vm = e.vmap as { key?: unknown; data?: unknown };
      const key = leftValue(vm.key, p);
      const data = (vm.data as { set?: unknown })?.set;
      if (!Array.isArray(data) || key === 'missing') {
        if (key !== 'missing') out.push({ match: and(match, 'maybe'), catchAll: false, verdict: { kind: 'drop', text: 'verdict map dockgate cannot read' } });
        continue;
      }
      for (const pair of data as unknown[]) {
        const [k2, v2] = Array.isArray(pair) ? pair : [undefined, undefined];
        const vv = verdictOf((v2 ?? {}) as NftExpr) ?? { kind: 'drop', text: 'unknown verdict in a map' };
        const elems = key.kind === 'unknown' ? undefined : elements(k2, rs, rule, key.kind);
        const t = elems ? membership(key, elems) : 'maybe';
        out.push({ match: and(match, t), catchAll: catchAll && catchAllMatch(vm.key, t), verdict: vv });
      }
      return out;
    } else if (MATCHLIKE.has(k)) {
      match = and(match, 'maybe');
      catchAll = false;
    } else if (PASSIVE.has(k)) {
      continue;
    } else {
      const v = verdictOf(e);
      if (v) verdict = v;
      else verdict = { kind: 'drop', text: `${k} (a statement dockgate cannot evaluate)`, unsure: true };
      break;
    }
  }
  return [{ match, catchAll, verdict }];
}

const MAX_DEPTH = 16;

interface Walk {
  accept: boolean;
  /** Some branch falls off the end or returns. */
  ret: boolean;
  drops: DropCause[];
}

/** How a walk reached a chain: `catchAll` when every jump on the way holds for any such packet. */
interface Path {
  catchAll: boolean;
  via: readonly NftRule[];
}

function walk(chain: NftChain, p: SeenPacket, rs: NftRuleset, opts: EvalOptions, sure: boolean, path: Path): Walk {
  const out: Walk = { accept: false, ret: false, drops: [] };
  if (path.via.length > MAX_DEPTH) {
    out.drops.push({ chain, certain: false, verdict: 'jumps nested too deep to follow', catchAll: false, via: path.via });
    return out;
  }
  for (const rule of chain.rules) {
    let stop = false;
    for (const b of branches(rule, p, rs, opts)) {
      if (b.match === 'no') continue;
      const certain = sure && b.match === 'yes';
      // What taking this branch leads to, and whether evaluation goes on in this chain after it.
      let goesOn = false;
      switch (b.verdict.kind) {
        case 'none':
        case 'continue':
          goesOn = true;
          break;
        case 'accept':
          out.accept = true;
          break;
        case 'drop':
          out.drops.push({ chain, rule, certain: certain && !b.verdict.unsure, verdict: b.verdict.text, catchAll: path.catchAll && b.catchAll && !b.verdict.unsure, via: path.via });
          break;
        case 'return':
          out.ret = true;
          break;
        case 'jump':
        case 'goto': {
          const target = findChain(rs, rule.family, rule.table, b.verdict.target);
          if (!target) {
            out.drops.push({ chain, rule, certain: false, verdict: `${b.verdict.kind} to ${b.verdict.target}, which is not listed`, catchAll: false, via: path.via });
            break;
          }
          const sub = walk(target, p, rs, opts, certain, { catchAll: path.catchAll && b.catchAll, via: [...path.via, rule] });
          out.accept ||= sub.accept;
          out.drops.push(...sub.drops);
          if (sub.ret) {
            if (b.verdict.kind === 'jump') goesOn = true;
            else out.ret = true;
          }
          break;
        }
      }
      if (b.match === 'yes' && !goesOn) {
        stop = true;
        break;
      }
      if (b.match === 'maybe' && !goesOn) sure = false;
    }
    if (stop) return out;
  }
  out.ret = true;
  return out;
}

/** Evaluates a base chain for a packet: may it accept, and which drops can it reach. */
export function evaluateBaseChain(chain: NftChain, p: Packet, rs: NftRuleset, opts: EvalOptions = {}): ChainResult {
  const w = walk(chain, seen(p), rs, opts, true, { catchAll: true, via: [] });
  const drops = [...w.drops];
  if (w.ret && chain.base?.policy === 'drop') {
    drops.push({ chain, certain: !w.accept && w.drops.length === 0, verdict: 'policy drop', catchAll: true, via: [] });
  }
  return { accept: w.accept || (w.ret && chain.base?.policy !== 'drop'), drops };
}
