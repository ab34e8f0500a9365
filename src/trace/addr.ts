// Addresses and ranges as the tracer compares them: one bigint range per address or CIDR, for
// both families, so that a source may be one address or a whole network ("from anywhere").
// Lenient where iptables-save is exact (a CIDR with host bits set is masked, as the kernel does).
import type { Family } from '../model/types.js';
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from '../net/cidr.js';

export interface Net {
  family: Family;
  lo: bigint;
  hi: bigint;
  /** As the user or iptables-save wrote it, canonical. */
  text: string;
}

const BITS: Record<Family, number> = { 4: 32, 6: 128 };

function addressValue(text: string): { family: Family; value: bigint } | undefined {
  const v4 = parseIPv4(text);
  if (v4 !== undefined) return { family: 4, value: BigInt(v4) };
  const v6 = parseIPv6(text);
  if (v6 !== undefined) return { family: 6, value: v6 };
  return undefined;
}

export function formatValue(family: Family, v: bigint): string {
  return family === 4 ? formatIPv4(Number(v)) : formatIPv6(v);
}

/** 'ADDR' (one host) or 'ADDR/LEN'; undefined for anything else (a dotted mask, a name). */
export function parseNet(text: string): Net | undefined {
  const slash = text.indexOf('/');
  const a = addressValue(slash < 0 ? text : text.slice(0, slash));
  if (!a) return undefined;
  const bits = BITS[a.family];
  let len = bits;
  if (slash >= 0) {
    const l = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(l) || Number(l) > bits) return undefined;
    len = Number(l);
  }
  const host = (1n << BigInt(bits - len)) - 1n;
  const lo = a.value & ~host & ((1n << BigInt(bits)) - 1n);
  const hi = lo | host;
  const shown = len === bits ? formatValue(a.family, lo) : `${formatValue(a.family, lo)}/${len}`;
  return { family: a.family, lo, hi, text: shown };
}

export const single = (n: Net): boolean => n.lo === n.hi;

/** yes: every address of `inner` is in `outer`; no: none is; maybe: some are. */
export function relation(outer: Net, inner: Net): 'yes' | 'no' | 'maybe' {
  if (outer.family !== inner.family) return 'no';
  if (outer.lo <= inner.lo && inner.hi <= outer.hi) return 'yes';
  if (inner.hi < outer.lo || inner.lo > outer.hi) return 'no';
  return 'maybe';
}

