// The right-hand side of an nft match as elements: numbers and ranges (ports, protocols),
// address ranges of either family, strings; sets by name, anonymous sets, prefixes and ranges.
// Read once per ruleset object: a ruleset is judged for every flow of the plan.
import { type AddressRange, BITS, addressValue, netOf } from '../net/address.js';
import type { Value } from './nft-match.js';
import { type NftRule, type NftRuleset, findSet } from './nft-ruleset.js';
import type { Range } from './packet.js';

export type Elem = { range: Range } | { addr: AddressRange } | { str: string };

export const PROTO_NUM: Record<string, number> = { icmp: 1, igmp: 2, 'ipv6-icmp': 58, icmpv6: 58, tcp: 6, udp: 17, gre: 47, esp: 50, ah: 51, sctp: 132, udplite: 136 };

export const numOf = (v: unknown): number | undefined => (typeof v === 'number' ? v : typeof v === 'string' ? PROTO_NUM[v] : undefined);

/** One right-hand element that is not a set: a number, an address, a prefix, a range, a string. */
function scalarElem(v: unknown, kind: Value['kind']): Elem | undefined {
  if (kind === 'addr') {
    const o = v as { prefix?: { addr?: unknown; len?: unknown }; range?: unknown[] } | string;
    if (typeof o === 'string') {
      const a = addressValue(o);
      return a ? { addr: { family: a.family, lo: a.value, hi: a.value } } : undefined;
    }
    if (o?.prefix) {
      const a = typeof o.prefix.addr === 'string' ? addressValue(o.prefix.addr) : undefined;
      const len = Number(o.prefix.len);
      if (!a || !(Number.isInteger(len) && len >= 0 && len <= BITS[a.family])) return undefined;
      return { addr: netOf(a.family, a.value, len) };
    }
    if (Array.isArray(o?.range)) {
      const [a, b] = o.range.map((x) => (typeof x === 'string' ? addressValue(x) : undefined));
      if (!a || !b || a.family !== b.family) return undefined;
      return { addr: { family: a.family, lo: a.value, hi: b.value } };
    }
    return undefined;
  }
  if (v !== null && typeof v === 'object') {
    const o = v as { prefix?: { addr?: unknown; len?: unknown }; range?: unknown[] };
    if (o.prefix) {
      const a = numOf(o.prefix.addr);
      const len = Number(o.prefix.len);
      if (a === undefined || !(len >= 0 && len <= 32)) return undefined;
      const size = 2 ** (32 - len);
      const lo = Math.floor(a / size) * size;
      return { range: [lo, lo + size - 1] };
    }
    if (Array.isArray(o.range)) {
      const a = numOf(o.range[0]);
      const b = numOf(o.range[1]);
      return a === undefined || b === undefined ? undefined : { range: [a, b] };
    }
    return undefined;
  }
  if (kind === 'num') {
    const n = numOf(v);
    return n === undefined ? undefined : { range: [n, n] };
  }
  if (typeof v === 'string') return { str: v };
  if (typeof v === 'number') return { range: [v, v] };
  return undefined;
}

/**
 * Right-hand sides read once per ruleset object (and kind of value): a ruleset is judged for
 * every flow of the plan, thousands at 1,000 containers, and reading addresses is the cost.
 */
const readOnce = new WeakMap<object, Map<Value['kind'], Elem[] | undefined>>();
const readStrings = new Map<string, Elem[] | undefined>();

function cached(key: object | string, kind: Value['kind'], read: () => Elem[] | undefined): Elem[] | undefined {
  if (typeof key === 'string') {
    const k = `${kind} ${key}`;
    if (readStrings.has(k)) return readStrings.get(k);
    if (readStrings.size > 10_000) readStrings.clear();
    const got = read();
    readStrings.set(k, got);
    return got;
  }
  let byKind = readOnce.get(key);
  if (!byKind) readOnce.set(key, (byKind = new Map()));
  if (byKind.has(kind)) return byKind.get(kind);
  const got = read();
  byKind.set(kind, got);
  return got;
}

/** Right-hand side as a list of elements, read as `kind` values are; undefined when it cannot be read (unknown form). Shared between calls: never changed. */
export function elements(right: unknown, rs: NftRuleset, rule: NftRule, kind: Value['kind']): Elem[] | undefined {
  const many = (list: readonly unknown[]): Elem[] | undefined => {
    const out: Elem[] = [];
    for (const e of list) {
      const got = one(e);
      if (!got) return undefined;
      out.push(...got);
    }
    return out;
  };
  const one = (v: unknown): Elem[] | undefined => {
    if (v !== null && typeof v === 'object' && 'elem' in (v as object)) {
      return one(((v as { elem: { val?: unknown } }).elem ?? {}).val);
    }
    if (typeof v === 'string' && v.startsWith('@')) {
      const set = findSet(rs, rule.family, rule.table, v.slice(1));
      // Sets that packets or timeouts change are a snapshot at best: unknown.
      if (!set || set.isMap || set.flags.includes('dynamic') || set.flags.includes('timeout')) return undefined;
      return cached(set, kind, () => many(set.elem ?? []));
    }
    if (Array.isArray(v)) return many(v);
    const o = v as { set?: unknown } | null;
    if (o !== null && typeof o === 'object' && o.set !== undefined) return one(Array.isArray(o.set) ? o.set : [o.set]);
    const e = scalarElem(v, kind);
    return e ? [e] : undefined;
  };
  if ((typeof right === 'object' && right !== null) || (typeof right === 'string' && !right.startsWith('@'))) return cached(right, kind, () => one(right));
  return one(right);
}
