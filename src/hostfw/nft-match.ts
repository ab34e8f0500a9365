// Does one nft match hold for a kind of packet? yes, no or maybe, for the whole class of packets
// (every source of a range, every client port). What this module cannot read is a maybe.
import { type Tri, anyOf, not } from '../model/tri.js';
import { type AddressRange, addressValue } from '../net/address.js';
import { type Iface, ifaceMatches } from '../net/iface.js';
import { markTestBit } from './footprint-rule.js';
import { type Elem, PROTO_NUM, elements, numOf } from './nft-elements.js';
import type { NftMatch, NftRule, NftRuleset } from './nft-ruleset.js';
import type { Range, SeenPacket } from './packet.js';

/** The value a left-hand expression has for a packet. */
export type Value =
  | { kind: 'num'; range: Range }
  | { kind: 'addr'; range: AddressRange }
  | { kind: 'str'; known: string }
  | { kind: 'iface'; iface: Iface }
  | { kind: 'ctstatus' }
  | { kind: 'unknown' };

function protoValue(p: SeenPacket): Value {
  if (p.proto === undefined) return { kind: 'unknown' };
  return { kind: 'num', range: [PROTO_NUM[p.proto]!, PROTO_NUM[p.proto]!] };
}

/** `ip` / `ip6` payload: the addresses of a packet of that family; `missing` for the other family. */
function ipPayload(family: 4 | 6, field: string | undefined, p: SeenPacket): Value | 'missing' {
  if (p.family !== family) return 'missing';
  if (field === 'saddr') return { kind: 'addr', range: p.saddr };
  if (field === 'daddr') return { kind: 'addr', range: p.daddr };
  // `ip6 nexthdr` is the next header, not the transport protocol behind extension headers.
  if (field === 'protocol' && family === 4) return protoValue(p);
  return { kind: 'unknown' };
}

function payloadValue(protocol: string | undefined, field: string | undefined, p: SeenPacket): Value | 'missing' {
  if (protocol === 'ip') return ipPayload(4, field, p);
  if (protocol === 'ip6') return ipPayload(6, field, p);
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

/** The value of a left-hand expression for this packet. `missing`: the expression cannot hold at all for it. */
export function leftValue(left: unknown, p: SeenPacket): Value | 'missing' {
  const l = left as Record<string, Record<string, unknown>>;
  if (l?.payload) {
    const { protocol, field } = l.payload as { protocol?: string; field?: string };
    return payloadValue(protocol, field, p);
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
        return { kind: 'iface', iface: p.iif };
      case 'oifname':
      case 'oif':
        return { kind: 'iface', iface: p.oif };
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

/**
 * Is all of [lo, hi] inside the union of the ranges (yes), some of it (maybe), or none (no)?
 * Numbers for ports (the hot path), bigints for addresses; `succ` is x + 1 in either.
 */
function covered<T extends number | bigint>(lo: T, hi: T, ranges: ReadonlyArray<readonly [T, T]>, succ: (x: T) => T): Tri {
  const sorted = [...ranges].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  let next = lo;
  for (const [l, h] of sorted) {
    if (l > next) break;
    if (h >= next) next = succ(h);
    if (next > hi) return 'yes';
  }
  return sorted.some(([l, h]) => l <= hi && h >= lo) ? 'maybe' : 'no';
}
const succNum = (x: number): number => x + 1;
const succBig = (x: bigint): bigint => x + 1n;

export function membership(v: Value, elems: Elem[]): Tri {
  if (v.kind === 'num') {
    const ranges = elems.map((e) => ('range' in e ? e.range : undefined));
    if (ranges.some((r) => r === undefined)) return 'maybe';
    return covered(v.range[0], v.range[1], ranges as Range[], succNum);
  }
  if (v.kind === 'addr') {
    const nets = elems.map((e) => ('addr' in e ? e.addr : undefined));
    if (nets.some((n) => n === undefined)) return 'maybe';
    // An address of the other family never matches.
    const same = (nets as AddressRange[]).filter((n) => n.family === v.range.family);
    return covered(v.range.lo, v.range.hi, same.map((n) => [n.lo, n.hi] as const), succBig);
  }
  if (v.kind === 'str' || v.kind === 'iface') {
    const strs = elems.map((e) => ('str' in e ? e.str : undefined));
    if (strs.some((s) => s === undefined)) return 'maybe';
    if (v.kind === 'iface') return ifaceMatches(v.iface, strs as string[], '*');
    return strs.includes(v.known) ? 'yes' : 'no';
  }
  return 'maybe';
}

function compare(op: string, lo: bigint, hi: bigint, n: bigint): Tri {
  const test = (x: bigint): boolean => (op === '<' ? x < n : op === '>' ? x > n : op === '<=' ? x <= n : x >= n);
  const a = test(lo);
  const b = test(hi);
  // The tests are monotonic in x, so the ends decide for the whole range.
  return a && b ? 'yes' : !a && !b ? 'no' : 'maybe';
}

function compareValue(op: string, v: Value, right: unknown): Tri {
  if (v.kind === 'num') {
    const n = numOf(right);
    return n === undefined ? 'maybe' : compare(op, BigInt(v.range[0]), BigInt(v.range[1]), BigInt(n));
  }
  if (v.kind === 'addr') {
    const a = typeof right === 'string' ? addressValue(right) : undefined;
    return a && a.family === v.range.family ? compare(op, v.range.lo, v.range.hi, a.value) : 'maybe';
  }
  return 'maybe';
}

/** `& mask` matches: dockgate's mark, or the TCP flags of a first SYN. */
function maskedMatch(m: NftMatch, p: SeenPacket, inner: unknown, mask: unknown): Tri {
  const op = m.op ?? '==';
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

export function evalMatch(m: NftMatch, p: SeenPacket, rs: NftRuleset, rule: NftRule): Tri {
  const op = m.op ?? '==';
  const left = m.left as Record<string, unknown> | undefined;
  if (left && Array.isArray(left['&'])) {
    const [inner, mask] = left['&'] as [unknown, unknown];
    return maskedMatch(m, p, inner, mask);
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
    const flags = elements(m.right, rs, rule, 'str');
    if (!flags) return 'maybe';
    const t = anyOf(flags.map((f) => ('str' in f && f.str === 'dnat' ? (p.ctDnat ? 'yes' : 'no') : 'maybe')));
    return op === '!=' ? not(t) : op === '==' || op === 'in' ? t : 'maybe';
  }
  if (op === '<' || op === '>' || op === '<=' || op === '>=') return compareValue(op, v, m.right);
  const elems = elements(m.right, rs, rule, v.kind);
  if (!elems) return 'maybe';
  const t = membership(v, elems);
  if (op === '==' || op === 'in') return t;
  if (op === '!=') return not(t);
  return 'maybe';
}
