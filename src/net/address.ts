// IPv4 and IPv6 addresses and networks, in one place: strict parsing of what an admin, a label
// or Docker writes, canonical text, the family of an address, and address ranges with
// containment (for the packet tracer and the nft evaluator). Built on ipaddr.js; the strictness
// is this wrapper's: every address is re-rendered from numbers, so nothing but digits, dots,
// colons and hex ever reaches iptables-restore, and host bits below a prefix are refused, not
// masked.
import { isIPv6 } from 'node:net';
import ipaddr from 'ipaddr.js';
import type { Cidr, Family } from '../model/types.js';
import type { Tri } from '../model/tri.js';
import type { Result } from '../model/result.js';


/**
 * The family of address text that is already known to be an address (parsed, from the kernel or
 * from Docker): only IPv6 text has a colon. Anything else is IPv4 to it, so it is no validator.
 */
export const familyOf = (ip: string): Family => (ip.includes(':') ? 6 : 4);

export const BITS: Record<Family, number> = { 4: 32, 6: 128 };

const DOTTED_QUAD = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/** Parses dotted-quad IPv4 (no leading zeros, no shorthand such as `10.1`) into a 32-bit number. */
export function parseIPv4(text: string): number | undefined {
  // ipaddr.js tells a non-address by throwing and catching inside isValid: tens of microseconds
  // for each IPv6 address tried here first (every route and set element of a read). The shape
  // alone settles most of them.
  if (!DOTTED_QUAD.test(text) || !ipaddr.IPv4.isValidFourPartDecimal(text)) return undefined;
  return ipaddr.IPv4.parse(text).octets.reduce((n, o) => n * 256 + o, 0);
}

export function formatIPv4(n: number): string {
  return new ipaddr.IPv4([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]).toString();
}

/**
 * Parses IPv6 (any valid textual form, no zone, no embedded IPv4) into a 128-bit bigint. The
 * character check keeps zones and dotted quads out; Node's parser and ipaddr.js must both accept
 * the text, so neither one's leniency alone lets an address through to iptables-restore.
 */
export function parseIPv6(text: string): bigint | undefined {
  if (!/^[0-9a-fA-F:]+$/.test(text) || !isIPv6(text) || !ipaddr.IPv6.isValid(text)) return undefined;
  return ipaddr.IPv6.parse(text).parts.reduce((n, g) => (n << 16n) | BigInt(g), 0n);
}

/** RFC 5952 text (ipaddr.js): lower case, the longest run of two or more zero groups as '::', the first on a tie. */
export function formatIPv6(n: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((n >> BigInt(i * 16)) & 0xffffn));
  return new ipaddr.IPv6(groups).toRFC5952String();
}

/** One address of either family as a number, strictly parsed; undefined for anything else. */
export function addressValue(text: string): { family: Family; value: bigint } | undefined {
  const v4 = parseIPv4(text);
  if (v4 !== undefined) return { family: 4, value: BigInt(v4) };
  const v6 = parseIPv6(text);
  if (v6 !== undefined) return { family: 6, value: v6 };
  return undefined;
}

export function formatValue(family: Family, v: bigint): string {
  return family === 4 ? formatIPv4(Number(v)) : formatIPv6(v);
}

/** An IPv4 or IPv6 address, re-rendered canonically. */
export function parseAddress(text: string): Result<{ family: Family; text: string }> {
  const a = addressValue(text);
  if (a) return { ok: true, value: { family: a.family, text: formatValue(a.family, a.value) } };
  return { ok: false, error: `"${text}" is not an IPv4 or IPv6 address` };
}

/**
 * Parses 'ADDR' or 'ADDR/LEN'. A bare address means one host (/32 or /128). Host bits set
 * below the prefix are refused rather than silently masked: '10.0.0.5/8' is almost always a
 * typo, and a firewall must not guess.
 */
export function parseCidr(text: string): Result<Cidr> {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const lenText = slash < 0 ? undefined : text.slice(slash + 1);
  const addr = addressValue(addrText);
  if (!addr) return { ok: false, error: `"${text}" is not an address or CIDR` };
  const { family, value } = addr;
  const max = BITS[family];
  let len = max;
  if (lenText !== undefined) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(lenText) || Number(lenText) > max) {
      return { ok: false, error: `"${text}": prefix length must be 0-${max}` };
    }
    len = Number(lenText);
  }
  const host = hostMask(family, len);
  if ((value & host) !== 0n) {
    return { ok: false, error: `"${text}" has host bits set; did you mean ${formatValue(family, value & ~host)}/${len}?` };
  }
  return { ok: true, value: { family, text: `${formatValue(family, value)}/${len}` } };
}

const hostMask = (family: Family, len: number): bigint => (1n << BigInt(BITS[family] - len)) - 1n;

// ---- ranges ------------------------------------------------------------------------------------

/** Every address from lo to hi of one family: a network, one address, or an nft range. */
export interface AddressRange {
  family: Family;
  lo: bigint;
  hi: bigint;
}

/** A network (or one address) with its canonical text, as a rule or a user wrote it. */
export interface Net extends AddressRange {
  /** Canonical: `10.0.0.5` for one address, `10.0.0.0/8` for a network. */
  text: string;
}

/**
 * 'ADDR' (one host) or 'ADDR/LEN'; undefined for anything else (a dotted mask, a name). Lenient
 * where iptables-save and nft are exact: host bits below the prefix are masked, as the kernel does.
 */
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
  return netOf(a.family, a.value, len);
}

/** The network of `len` bits holding `value`. */
export function netOf(family: Family, value: bigint, len: number): Net {
  const bits = BITS[family];
  const host = hostMask(family, len);
  const lo = value & ~host & ((1n << BigInt(bits)) - 1n);
  const hi = lo | host;
  const shown = len === bits ? formatValue(family, lo) : `${formatValue(family, lo)}/${len}`;
  return { family, lo, hi, text: shown };
}

/** Every address of a family (0.0.0.0/0, ::/0). */
export const anyNet = (family: Family): Net => netOf(family, 0n, 0);

export const single = (n: AddressRange): boolean => n.lo === n.hi;

/** yes: every address of `inner` is in `outer`; no: none is; maybe: some are. */
export function relation(outer: AddressRange, inner: AddressRange): Tri {
  if (outer.family !== inner.family) return 'no';
  if (outer.lo <= inner.lo && inner.hi <= outer.hi) return 'yes';
  if (inner.hi < outer.lo || inner.lo > outer.hi) return 'no';
  return 'maybe';
}
