// Strict IPv4/IPv6 address and CIDR parsing. Everything an admin or a label writes as an
// address passes through here and is re-rendered from numbers, so nothing but digits, dots,
// colons and hex ever reaches iptables-restore.
import { isIPv6 } from 'node:net';
import ipaddr from 'ipaddr.js';
import type { Result } from '../model/result.js';
import type { Cidr } from '../model/types.js';

const V4_OCTET = /^(0|[1-9][0-9]{0,2})$/;

/** Parses dotted-quad IPv4 (no leading zeros, no shorthand) into a 32-bit number. */
export function parseIPv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!V4_OCTET.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
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

/** An IPv4 or IPv6 address, re-rendered canonically. */
export function parseAddress(text: string): Result<{ family: 4 | 6; text: string }> {
  const v4 = parseIPv4(text);
  if (v4 !== undefined) return { ok: true, value: { family: 4, text: formatIPv4(v4) } };
  const v6 = parseIPv6(text);
  if (v6 !== undefined) return { ok: true, value: { family: 6, text: formatIPv6(v6) } };
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
  const addr = parseAddress(addrText);
  if (!addr.ok) return { ok: false, error: `"${text}" is not an address or CIDR` };
  const family = addr.value.family;
  const max = family === 4 ? 32 : 128;
  let len = max;
  if (lenText !== undefined) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(lenText) || Number(lenText) > max) {
      return { ok: false, error: `"${text}": prefix length must be 0-${max}` };
    }
    len = Number(lenText);
  }
  if (family === 4) {
    const n = parseIPv4(addrText)!;
    const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
    if (((n & ~mask) >>> 0) !== 0) {
      return { ok: false, error: `"${text}" has host bits set; did you mean ${formatIPv4((n & mask) >>> 0)}/${len}?` };
    }
    return { ok: true, value: { family, text: `${formatIPv4(n)}/${len}` } };
  }
  const n = parseIPv6(addrText)!;
  const hostMask = len === 128 ? 0n : (1n << BigInt(128 - len)) - 1n;
  if ((n & hostMask) !== 0n) {
    return { ok: false, error: `"${text}" has host bits set; did you mean ${formatIPv6(n & ~hostMask)}/${len}?` };
  }
  return { ok: true, value: { family, text: `${formatIPv6(n)}/${len}` } };
}
