// Can a foreign nft base chain drop this packet? A pure, conservative evaluator over nft's JSON:
// every match is answered yes, no or maybe for the whole class of packets a flow sends, and a
// chain is followed along every branch a "maybe" opens. A drop that some branch reaches counts
// (as "may drop"); an accept counts only when it surely matches. Anything this module does not
// understand is a maybe, and an unknown statement may drop: the answer is never optimistic.
import { parseIPv4 } from '../net/address.js';
import { type MarkBit, parseMarkBit } from '../model/mark-bit.js';
import { type NftChain, type NftExpr, type NftRule, type NftRuleset, findChain, findSet } from './nft-ruleset.js';

export type Tri = 'yes' | 'no' | 'maybe';
export type Range = readonly [number, number];

/** An interface a packet comes in or goes out by: known, some interface other than these, or none (no such side at this hook). */
export type Iface = { kind: 'known'; name: string } | { kind: 'other'; not: readonly string[] } | { kind: 'none' };

/** What is known of every packet of one kind of a flow, at one hook. */
export interface Packet {
  /** IPv6 packets: addresses are not modelled (every ip6 address match is a maybe). */
  family: 4 | 6;
  saddr: Range;
  daddr: Range;
  /** The destination is one of this host's addresses (fib daddr type local). */
  daddrLocal: boolean | undefined;
  /** undefined: any protocol (egress). */
  proto: 'tcp' | 'udp' | undefined;
  sport: Range;
  dport: Range;
  iif: Iface;
  oif: Iface;
  ctState: 'new' | 'established';
  ctDnat: boolean;
  ctDirection: 'original' | 'reply';
  /** The first packet of a TCP connection: exactly SYN among the flags. */
  firstSyn: boolean;
  /** The bit dockgate's mangle rules set on it before this chain runs; undefined: none. */
  marked: MarkBit | undefined;
}

export const ANY_ADDR: Range = [0, 0xffffffff];
export const ANY_PORT: Range = [0, 65535];

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

const and = (a: Tri, b: Tri): Tri => (a === 'no' || b === 'no' ? 'no' : a === 'yes' && b === 'yes' ? 'yes' : 'maybe');
const not = (a: Tri): Tri => (a === 'yes' ? 'no' : a === 'no' ? 'yes' : 'maybe');
const anyOf = (list: Tri[]): Tri => (list.includes('yes') ? 'yes' : list.every((t) => t === 'no') ? 'no' : 'maybe');

/**
 * The bit of dockgate's footprint, `meta mark & BIT == BIT accept comment "dockgate"`, whatever the
 * bit: one written before `foreign_chains_mark` changed is still dockgate's to move or remove.
 * Undefined: not dockgate's.
 */
export function footprintBit(rule: Pick<NftRule, 'comment' | 'expr'>): MarkBit | undefined {
  if (rule.comment !== 'dockgate') return undefined;
  const matches = rule.expr.filter((e) => 'match' in e);
  const verdicts = rule.expr.filter((e) => !('match' in e) && !('counter' in e));
  if (matches.length !== 1 || verdicts.length !== 1 || !('accept' in verdicts[0]!)) return undefined;
  return markTestBit(matches[0]!.match as Match);
}

export const isFootprintRule = (rule: Pick<NftRule, 'comment' | 'expr'>): boolean => footprintBit(rule) !== undefined;

interface Match {
  op?: string;
  left?: unknown;
  right?: unknown;
}

/** The bit a `meta mark & BIT == BIT` test asks for: the one shape dockgate's footprint has. */
function markTestBit(m: Match): MarkBit | undefined {
  const left = m.left as { '&'?: unknown[] } | undefined;
  const and2 = left?.['&'];
  if (!(m.op === '==' || m.op === undefined) || !Array.isArray(and2)) return undefined;
  if ((and2[0] as { meta?: { key?: string } })?.meta?.key !== 'mark' || and2[1] !== m.right || typeof m.right !== 'number') return undefined;
  const bit = parseMarkBit(m.right);
  return bit.ok ? bit.value : undefined;
}

// ---- values ------------------------------------------------------------------------------------

type Value =
  | { kind: 'num'; range: Range }
  | { kind: 'str'; known?: string; not?: readonly string[]; glob?: boolean }
  | { kind: 'ctstatus' }
  | { kind: 'unknown' };

const PROTO_NUM: Record<string, number> = { icmp: 1, igmp: 2, 'ipv6-icmp': 58, icmpv6: 58, tcp: 6, udp: 17, gre: 47, esp: 50, ah: 51, sctp: 132, udplite: 136 };

function ifaceValue(i: Iface): Value {
  if (i.kind === 'known') return { kind: 'str', known: i.name, glob: true };
  if (i.kind === 'other') return { kind: 'str', not: i.not, glob: true };
  // No interface on this side (oif at input): nft's meta expression breaks, so no match can hold.
  return { kind: 'str', known: '\0none' };
}

function protoValue(p: Packet): Value {
  if (p.proto === undefined) return { kind: 'unknown' };
  return { kind: 'num', range: [PROTO_NUM[p.proto]!, PROTO_NUM[p.proto]!] };
}

/** The value of a left-hand expression for this packet. `missing`: the expression cannot hold at all for it. */
function leftValue(left: unknown, p: Packet): Value | 'missing' {
  const l = left as Record<string, Record<string, unknown>>;
  if (l?.payload) {
    const { protocol, field } = l.payload as { protocol?: string; field?: string };
    if (protocol === 'ip') {
      if (p.family === 6) return 'missing';
      if (field === 'saddr') return { kind: 'num', range: p.saddr };
      if (field === 'daddr') return { kind: 'num', range: p.daddr };
      if (field === 'protocol') return protoValue(p);
      return { kind: 'unknown' };
    }
    if (protocol === 'ip6') return p.family === 6 ? { kind: 'unknown' } : 'missing';
    if (protocol === 'icmpv6') return p.family === 6 && p.proto === undefined ? { kind: 'unknown' } : 'missing';
    if (protocol === 'arp') return 'missing';
    if (protocol === 'tcp' || protocol === 'udp' || protocol === 'th' || protocol === 'udplite' || protocol === 'sctp') {
      // `tcp dport 22` carries an implicit `meta l4proto tcp`: it never holds for a UDP packet.
      if (protocol !== 'th' && p.proto !== undefined && protocol !== p.proto) return 'missing';
      if (protocol !== 'th' && p.proto === undefined) return { kind: 'unknown' };
      if (field === 'dport') return { kind: 'num', range: p.dport };
      if (field === 'sport') return { kind: 'num', range: p.sport };
      return { kind: 'unknown' };
    }
    if (protocol === 'icmp' || protocol === 'igmp') {
      if (p.proto !== undefined || p.family === 6) return 'missing';
      return { kind: 'unknown' };
    }
    return { kind: 'unknown' };
  }
  if (l?.meta) {
    switch (l.meta.key) {
      case 'l4proto':
        return protoValue(p);
      case 'nfproto':
        return { kind: 'str', known: p.family === 6 ? 'ipv6' : 'ipv4' };
      case 'protocol':
        return { kind: 'str', known: p.family === 6 ? 'ip6' : 'ip' };
      case 'iifname':
      case 'iif':
        return ifaceValue(p.iif);
      case 'oifname':
      case 'oif':
        return ifaceValue(p.oif);
      default:
        return { kind: 'unknown' };
    }
  }
  if (l?.ct) {
    const k = l.ct.key;
    if (l.ct.dir !== undefined) return { kind: 'unknown' };
    if (k === 'state') return { kind: 'str', known: p.ctState };
    if (k === 'direction') return { kind: 'str', known: p.ctDirection };
    if (k === 'status') return { kind: 'ctstatus' };
    return { kind: 'unknown' };
  }
  return { kind: 'unknown' };
}

type Elem = { range: Range } | { str: string };

const ipOrNum = (v: unknown): number | undefined => {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    if (v in PROTO_NUM) return PROTO_NUM[v];
    return parseIPv4(v);
  }
  return undefined;
};

/** Right-hand side as a list of elements; undefined when it cannot be read (unknown form). */
function elements(right: unknown, rs: NftRuleset, rule: NftRule, numeric: boolean): Elem[] | undefined {
  const one = (v: unknown): Elem[] | undefined => {
    if (v !== null && typeof v === 'object' && 'elem' in (v as object)) {
      return one(((v as { elem: { val?: unknown } }).elem ?? {}).val);
    }
    if (typeof v === 'string' && v.startsWith('@')) {
      const set = findSet(rs, rule.family, rule.table, v.slice(1));
      // Sets that packets or timeouts change are a snapshot at best: unknown.
      if (!set || set.isMap || set.flags.includes('dynamic') || set.flags.includes('timeout')) return undefined;
      const out: Elem[] = [];
      for (const e of set.elem ?? []) {
        const got = one(e);
        if (!got) return undefined;
        out.push(...got);
      }
      return out;
    }
    if (Array.isArray(v)) {
      const out: Elem[] = [];
      for (const e of v) {
        const got = one(e);
        if (!got) return undefined;
        out.push(...got);
      }
      return out;
    }
    if (v !== null && typeof v === 'object') {
      const o = v as { set?: unknown; prefix?: { addr?: unknown; len?: unknown }; range?: unknown[] };
      if (o.set !== undefined) return one(Array.isArray(o.set) ? o.set : [o.set]);
      if (o.prefix) {
        const a = ipOrNum(o.prefix.addr);
        const len = Number(o.prefix.len);
        if (a === undefined || !(len >= 0 && len <= 32)) return undefined;
        const size = 2 ** (32 - len);
        const lo = Math.floor(a / size) * size;
        return [{ range: [lo, lo + size - 1] }];
      }
      if (Array.isArray(o.range)) {
        const a = ipOrNum(o.range[0]);
        const b = ipOrNum(o.range[1]);
        if (a === undefined || b === undefined) return undefined;
        return [{ range: [a, b] }];
      }
      return undefined;
    }
    if (numeric) {
      const n = ipOrNum(v);
      return n === undefined ? undefined : [{ range: [n, n] }];
    }
    if (typeof v === 'string') return [{ str: v }];
    if (typeof v === 'number') return [{ range: [v, v] }];
    return undefined;
  };
  return one(right);
}

/** nft's interface-name wildcard: a trailing `*` matches any suffix. */
function globMatch(pattern: string, name: string): boolean {
  if (pattern.endsWith('*') && !pattern.endsWith('\\*')) return name.startsWith(pattern.slice(0, -1));
  return pattern === name;
}

function inRanges(r: Range, elems: Elem[]): Tri {
  const ranges = elems.filter((e): e is { range: Range } => 'range' in e).map((e) => e.range);
  if (ranges.length !== elems.length) return 'maybe';
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  // Covered when the union of the ranges holds all of r.
  let next = r[0];
  for (const [lo, hi] of sorted) {
    if (lo > next) break;
    if (hi >= next) next = hi + 1;
    if (next > r[1]) return 'yes';
  }
  return sorted.some(([lo, hi]) => lo <= r[1] && hi >= r[0]) ? 'maybe' : 'no';
}

function membership(v: Value, elems: Elem[]): Tri {
  if (v.kind === 'num') return inRanges(v.range, elems);
  if (v.kind === 'str') {
    const strs = elems.map((e) => ('str' in e ? e.str : undefined));
    if (strs.some((s) => s === undefined)) return 'maybe';
    if (v.known !== undefined) return strs.some((s) => (v.glob ? globMatch(s!, v.known!) : s === v.known)) ? 'yes' : 'no';
    // An interface other than those named: only names it surely is not give a no.
    return strs.every((s) => !s!.includes('*') && (v.not ?? []).includes(s!)) ? 'no' : 'maybe';
  }
  return 'maybe';
}

function compare(op: string, r: Range, n: number): Tri {
  const [lo, hi] = r;
  const test = (x: number): boolean => (op === '<' ? x < n : op === '>' ? x > n : op === '<=' ? x <= n : x >= n);
  const a = test(lo);
  const b = test(hi);
  // The tests are monotonic in x, so the ends decide for the whole range.
  return a && b ? 'yes' : !a && !b ? 'no' : 'maybe';
}

function evalMatch(m: Match, p: Packet, rs: NftRuleset, rule: NftRule): Tri {
  const op = m.op ?? '==';
  const left = m.left as Record<string, unknown> | undefined;
  if (left && Array.isArray(left['&'])) {
    const [inner, mask] = left['&'] as [unknown, unknown];
    if ((inner as { meta?: { key?: string } })?.meta?.key === 'mark') {
      // The bit dockgate's mangle rules set on this packet. Any other mark test (a footprint left
      // with an older bit too) is about marks other tools may set, unknown here.
      const bit = markTestBit(m);
      if (bit !== undefined && bit === p.marked) return 'yes';
      return 'maybe';
    }
    if ((inner as { payload?: { protocol?: string; field?: string } })?.payload?.field === 'flags') {
      if (p.proto !== 'tcp' || !p.firstSyn) return p.proto !== undefined && p.proto !== 'tcp' ? 'no' : 'maybe';
      const flagsOf = (x: unknown): Set<string> | undefined =>
        typeof x === 'string' ? new Set([x]) : Array.isArray(x) && x.every((f) => typeof f === 'string') ? new Set(x as string[]) : undefined;
      const maskSet = flagsOf(mask);
      const want = m.right === 0 ? new Set<string>() : flagsOf(m.right);
      if (!maskSet || !want) return 'maybe';
      const have = new Set(['syn'].filter((f) => maskSet.has(f)));
      const equal = have.size === want.size && [...have].every((f) => want.has(f));
      if (op === '==') return equal ? 'yes' : 'no';
      if (op === '!=') return equal ? 'no' : 'yes';
      return 'maybe';
    }
    return 'maybe';
  }
  if (left && (left.fib as { result?: string; flags?: string[] } | undefined)?.result === 'type') {
    const fib = left.fib as { flags?: string[] };
    if (fib.flags?.length === 1 && fib.flags[0] === 'daddr' && m.right === 'local' && p.daddrLocal !== undefined) {
      const t: Tri = p.daddrLocal ? 'yes' : 'no';
      return op === '!=' ? not(t) : op === '==' ? t : 'maybe';
    }
    return 'maybe';
  }
  const v = leftValue(m.left, p);
  if (v === 'missing') return 'no';
  if (v.kind === 'unknown') return 'maybe';
  if (v.kind === 'ctstatus') {
    const flags = elements(m.right, rs, rule, false);
    if (!flags) return 'maybe';
    const t = anyOf(flags.map((f) => ('str' in f && f.str === 'dnat' ? (p.ctDnat ? 'yes' : 'no') : 'maybe')));
    return op === '!=' ? not(t) : op === '==' || op === 'in' ? t : 'maybe';
  }
  if (op === '<' || op === '>' || op === '<=' || op === '>=') {
    const n = ipOrNum(m.right);
    return v.kind === 'num' && n !== undefined ? compare(op, v.range, n) : 'maybe';
  }
  const elems = elements(m.right, rs, rule, v.kind === 'num');
  if (!elems) return 'maybe';
  const t = membership(v, elems);
  if (op === '==' || op === 'in') return t;
  if (op === '!=') return not(t);
  return 'maybe';
}

// ---- rules and chains --------------------------------------------------------------------------

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
function branches(rule: NftRule, p: Packet, rs: NftRuleset, opts: EvalOptions): Branch[] {
  if (opts.ignoreFootprint && isFootprintRule(rule)) return [];
  let match: Tri = 'yes';
  let catchAll = true;
  let verdict: Verdict = { kind: 'none' };
  const out: Branch[] = [];
  for (const e of rule.expr) {
    const k = Object.keys(e)[0] ?? '';
    if (k === 'match') {
      const t = evalMatch(e.match as Match, p, rs, rule);
      match = and(match, t);
      catchAll &&= catchAllMatch((e.match as Match).left, t);
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
        const elems = key.kind === 'unknown' ? undefined : elements(k2, rs, rule, key.kind === 'num');
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

function walk(chain: NftChain, p: Packet, rs: NftRuleset, opts: EvalOptions, sure: boolean, path: Path): Walk {
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
  const w = walk(chain, p, rs, opts, true, { catchAll: true, via: [] });
  const drops = [...w.drops];
  if (w.ret && chain.base?.policy === 'drop') {
    drops.push({ chain, certain: !w.accept && w.drops.length === 0, verdict: 'policy drop', catchAll: true, via: [] });
  }
  return { accept: w.accept || (w.ret && chain.base?.policy !== 'drop'), drops };
}

/** nft-like text of a rule, for messages: `handle 13: iifname "eth0" ... reject`. */
export function describeRule(rule: NftRule): string {
  const parts = rule.expr.map(describeExpr).filter((s) => s !== '');
  return `handle ${rule.handle}: ${parts.join(' ')}${rule.comment !== undefined ? ` comment "${rule.comment}"` : ''}`;
}

function describeValue(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v.startsWith('@') ? v : JSON.stringify(v);
  if (typeof v === 'number') return String(v);
  if (Array.isArray(v)) return v.map(describeValue).join(',');
  const o = v as Record<string, unknown>;
  if (o.prefix) {
    const pf = o.prefix as { addr?: unknown; len?: unknown };
    return `${String(pf.addr)}/${String(pf.len)}`;
  }
  if (Array.isArray(o.range)) return `${String(o.range[0])}-${String(o.range[1])}`;
  if (o.set !== undefined) return `{ ${(Array.isArray(o.set) ? o.set : [o.set]).map(describeValue).join(', ')} }`;
  if (o.payload) {
    const pl = o.payload as { protocol?: string; field?: string };
    return `${pl.protocol} ${pl.field}`;
  }
  if (o.meta) return `meta ${(o.meta as { key?: string }).key}`;
  if (o.ct) return `ct ${(o.ct as { key?: string }).key}`;
  if (Array.isArray(o['&'])) return `${describeValue(o['&'][0])} & ${describeValue(o['&'][1])}`;
  return Object.keys(o)[0] ?? '?';
}

function describeExpr(e: NftExpr): string {
  const k = Object.keys(e)[0] ?? '';
  if (k === 'match') {
    const m = e.match as Match;
    const op = m.op === '==' || m.op === 'in' || m.op === undefined ? '' : ` ${m.op}`;
    return `${describeValue(m.left)}${op} ${describeValue(m.right)}`;
  }
  if (k === 'counter') return '';
  if (k === 'jump' || k === 'goto') return `${k} ${String((e[k] as { target?: unknown })?.target)}`;
  if (k === 'vmap') return `vmap ${describeValue((e.vmap as { key?: unknown }).key)} { ... }`;
  return k;
}
