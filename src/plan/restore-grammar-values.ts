// The values dockgate's restore text may hold, each held to the exact form iptables-save prints:
// ports, canonical addresses and CIDRs, conntrack states, comments, the drop log's options, DNAT
// destinations, mark bits; and the tokenizer that splits a rule into them. Pure.
import type { Family } from '../model/types.js';
import { parseCidr } from '../net/address.js';
import { DROP_REASONS, NO_CONTAINER, PREFIX_HEAD } from './drop-log.js';

export const NOT_PRINTABLE = /[^\x20-\x7e]/;

const PORT = /^[1-9][0-9]{0,4}$/;
export const BARE_COMMENT = /^[A-Za-z0-9_-]+$/;
/** What syntax.comment() leaves of any text, inside the quotes iptables-save then prints. */
export const QUOTED_COMMENT_BODY = /^[A-Za-z0-9_./: -]+$/;
/** `MARK --set-xmark BIT/BIT` as iptables-save prints `--or-mark BIT`: the same short hex twice. */
const SET_XMARK = /^0x([1-9a-f][0-9a-f]{0,7})\/0x\1$/;
/** conntrack states in the order iptables-save prints them. */
export const CTSTATES = ['INVALID', 'NEW', 'RELATED', 'ESTABLISHED', 'UNTRACKED', 'SNAT', 'DNAT'];
/** Every `--ctstate` value iptables-save can print: each non-empty subset of CTSTATES, in order. */
export const CTSTATE_VALUES: ReadonlySet<string> = new Set(
  Array.from({ length: (1 << CTSTATES.length) - 1 }, (_, m) => CTSTATES.filter((_, k) => ((m + 1) >> k) & 1).join(',')),
);
/** The ipset names egress/sets.ts gives a DNS name's addresses. */
export const EGRESS_SET = /^dockgate-e[46]-[0-9a-f]{12}$/;
export const MATCH_ORDER = ['tcp', 'set', 'addrtype', 'conntrack', 'hashlimit', 'comment'];
/** The drop log's rate limit (drop-log.ts): per second, one bucket per reason, at most 31 characters of name. */
export const HASHLIMIT = new RegExp(`^--hashlimit-upto [1-9][0-9]{0,5}/sec --hashlimit-burst [1-9][0-9]{0,5} --hashlimit-name dg-(?:${DROP_REASONS.join('|')})$`);
/** The drop log's target (drop-log.ts dropPrefix): why, and whose, for the reader; a group 0-65535. */
const NFLOG_PREFIX = `${PREFIX_HEAD}:(?:${DROP_REASONS.join('|')}):(?:[0-9a-f]{12}|${NO_CONTAINER})`;
export const NFLOG = new RegExp(`^--nflog-prefix (?:"${NFLOG_PREFIX}"|${NFLOG_PREFIX}) --nflog-group (?:0|[1-9][0-9]{0,4})$`);
export const isNflogGroup = (tail: string): boolean => Number(tail.slice(tail.lastIndexOf(' ') + 1)) <= 65535;

export const isPort = (text: string): boolean => PORT.test(text) && Number(text) <= 65535;
/** `--dport` is one port, or an egress allow-list's range START:END (START below END), as iptables-save prints it. */
export const isDport = (text: string): boolean => {
  const [start = '', end, more] = text.split(':');
  return more === undefined && isPort(start) && (end === undefined || (isPort(end) && Number(start) < Number(end)));
};

/** A canonical IPv4 CIDR, never /0; groups: the four octets and the prefix length. */
const V4_CIDR =
  /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\/([1-9]|[12][0-9]|3[0-2])$/;

const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const V4_ADDRESS = `${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}`;
const V4_HOST = new RegExp(`^${V4_ADDRESS}/32$`);
const V4_BARE = new RegExp(`^${V4_ADDRESS}$`);

/**
 * Canonical CIDR of `family` as iptables-save / ip6tables-save print it: prefix always given,
 * never /0 (save omits it). IPv4 in one match, without re-rendering: every rule of a large plan
 * has one or two.
 */
export function isCanonicalCidr(text: string, family: Family): boolean {
  if (family === 4) {
    // Most are one container's address: no host bits to look at.
    if (text.endsWith('/32')) return V4_HOST.test(text);
    const m = V4_CIDR.exec(text);
    if (!m) return false;
    const n = ((Number(m[1]) * 256 + Number(m[2])) * 256 + Number(m[3])) * 256 + Number(m[4]);
    const bits = 32 - Number(m[5]);
    return bits === 0 || n % 2 ** bits === 0;
  }
  if (!text.includes('/') || text.endsWith('/0')) return false;
  const r = parseCidr(text);
  return r.ok && r.value.family === 6 && r.value.text === text;
}

export function isCanonicalAddress(text: string, family: Family): boolean {
  if (text.includes('/')) return false;
  if (family === 4) return V4_BARE.test(text);
  const r = parseCidr(text);
  return r.ok && r.value.family === 6 && r.value.text === `${text}/128`;
}

/**
 * Splits a rule into tokens on single spaces. A token that starts with '"' runs to the next '"'
 * (no escapes are allowed in dockgate's comments, so none are handled). Returns a reason string
 * when the line cannot be tokenized.
 */
export function tokenize(rule: string): string[] | string {
  if (!rule.includes('"')) {
    // The common case: no quoted comment, so single spaces are the whole grammar of the line.
    if (rule === '') return 'empty rule';
    const tokens = rule.split(' ');
    if (tokens.includes('')) return rule.endsWith(' ') ? 'trailing space' : rule.startsWith(' ') ? 'leading space' : 'two spaces in a row';
    return tokens;
  }
  const tokens: string[] = [];
  let i = 0;
  while (i < rule.length) {
    if (rule[i] === '"') {
      const end = rule.indexOf('"', i + 1);
      if (end < 0) return 'unterminated quote';
      tokens.push(rule.slice(i, end + 1));
      i = end + 1;
    } else {
      let end = rule.indexOf(' ', i);
      if (end < 0) end = rule.length;
      const token = rule.slice(i, end);
      if (token.includes('"')) return `quote inside token ${JSON.stringify(token)}`;
      tokens.push(token);
      i = end;
    }
    if (i < rule.length) {
      if (rule[i] !== ' ') return `no space after token ${JSON.stringify(tokens[tokens.length - 1])}`;
      i++;
      if (i === rule.length) return 'trailing space';
      if (rule[i] === ' ') return 'two spaces in a row';
    }
  }
  if (tokens.length === 0) return 'empty rule';
  return tokens;
}

/** Why `--to-destination v` is not what dockgate writes: IPv4:PORT, or [IPv6]:PORT as ip6tables prints it. */
export function toDestinationError(v: string, family: Family): string | undefined {
  const colon = v.lastIndexOf(':');
  const port = v.slice(colon + 1);
  const ip = v.slice(0, colon);
  if (family === 6) {
    if (!ip.startsWith('[') || !ip.endsWith(']') || !isCanonicalAddress(ip.slice(1, -1), 6) || !isPort(port)) return `--to-destination ${JSON.stringify(v)} is not [IPv6]:PORT`;
  } else if (colon < 0 || !isCanonicalAddress(ip, 4) || !isPort(port)) return `--to-destination ${JSON.stringify(v)} is not IPv4:PORT`;
  return undefined;
}

/** Why `--set-xmark v` is not one bit set and not toggled: what `--or-mark BIT` reads back as. */
export function setXmarkError(v: string): string | undefined {
  const hex = SET_XMARK.exec(v)?.[1];
  const bit = hex === undefined ? 0 : Number.parseInt(hex, 16);
  if (hex === undefined || (bit & (bit - 1)) !== 0) return `--set-xmark ${JSON.stringify(v)} is not BIT/BIT for one bit`;
  return undefined;
}
