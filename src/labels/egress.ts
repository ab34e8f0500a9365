// The `dockgate.egress` grammar (also `defaults.egress` in the config): `true`/`all`,
// `false`/`none`, or a comma list of destinations, everything else denied. Pure.
import type { EgressDestination, EgressEntry, EgressPolicy, EgressPorts } from '../model/types.js';
import { parseCidr } from '../net/address.js';
import { parseRange } from './ports.js';
import type { Result } from '../model/result.js';
import { badCharacter, quote, splitList, trimSpaces } from './text.js';

export const EGRESS_GRAMMAR = 'true, all, false, none, or a comma list of CIDR, DEST:PORTS[/PROTO] or NAME[:PORTS][/PROTO]';

/** Letters, digits and hyphens, not at either end: one label of a host name (RFC 1123). */
const NAME_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const ENTRY_CHARS = /^[0-9A-Za-z.:[\]/*_-]+$/;

function fail<T>(token: string, detail: string): Result<T> {
  return { ok: false, error: `entry ${quote(token)}: ${detail}` };
}

/**
 * A DNS name as dockgate will ask for it: lower case, without the root dot. At least two labels,
 * and the last one not all digits, so that a mistyped address is never taken for a name.
 */
export function parseDnsName(text: string): Result<string> {
  const name = text.toLowerCase().replace(/\.$/, '');
  if (name.includes('*')) return { ok: false, error: `${quote(text)}: wildcards are not supported; list each name` };
  if (name.length > 253) return { ok: false, error: `${quote(text)}: a DNS name has at most 253 characters` };
  const labels = name.split('.');
  if (labels.length < 2) return { ok: false, error: `${quote(text)} is neither an address, a CIDR nor a fully qualified DNS name (or, as the whole value: true, all, false, none)` };
  if (labels.some((l) => !NAME_LABEL.test(l))) {
    return { ok: false, error: `${quote(text)} is not a DNS name (labels of letters, digits and inner hyphens, 1-63 characters each)` };
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) return { ok: false, error: `${quote(text)} is not an address or CIDR` };
  return { ok: true, value: name };
}

/** Splits 'DEST[:PORTS]' where DEST has no colon of its own (IPv4, a name) or is bracketed IPv6. */
function splitDestination(token: string, body: string): Result<{ dest: string; ports: string | undefined; bracketed: boolean }> {
  if (body.startsWith('[')) {
    const m = /^\[([^\]]*)\](?::(.*))?$/.exec(body);
    if (!m) return fail(token, 'a bracketed IPv6 destination is [ADDRESS] or [CIDR], optionally followed by :PORTS');
    return { ok: true, value: { dest: m[1] ?? '', ports: m[2], bracketed: true } };
  }
  if (/[[\]]/.test(body)) return fail(token, 'brackets go only around an IPv6 destination at the start');
  const colons = body.split(':').length - 1;
  // Bare IPv6 has no room for a port: the whole text is the destination.
  if (colons >= 2) return { ok: true, value: { dest: body, ports: undefined, bracketed: false } };
  const [dest = '', ports] = body.split(':');
  return { ok: true, value: { dest, ports, bracketed: false } };
}

/** Parses one entry of an egress list (already split and trimmed). */
export function parseEgressEntry(token: string): Result<EgressEntry> {
  if (token === '') return { ok: false, error: 'empty entry (two commas in a row, or a comma at the start or end)' };
  const bad = badCharacter(token);
  if (bad !== undefined) return { ok: false, error: `entry ${quote(token)} ${bad}` };
  if (!ENTRY_CHARS.test(token)) return fail(token, `is not ${EGRESS_GRAMMAR}`);

  // A protocol is the word after the last '/'; digits there are a CIDR's prefix length.
  let body = token;
  let protocol: 'tcp' | 'udp' | undefined;
  const slash = token.lastIndexOf('/');
  if (slash >= 0 && /^[A-Za-z]*$/.test(token.slice(slash + 1))) {
    const proto = token.slice(slash + 1);
    if (proto !== 'tcp' && proto !== 'udp') return fail(token, `protocol ${quote(proto)} is not supported; use tcp or udp (lower case)`);
    protocol = proto;
    body = token.slice(0, slash);
  }
  const split = splitDestination(token, body);
  if (!split.ok) return split;
  const { dest, ports: portsText, bracketed } = split.value;
  if (dest === '') return fail(token, 'the destination is empty');
  // '2001:db8::1:443/tcp' is a valid address: the admin most likely meant port 443 of another one.
  if (!bracketed && dest.includes(':') && protocol !== undefined) {
    return fail(token, 'an IPv6 destination with ports or a protocol goes in brackets, e.g. [2001:db8::1]:443');
  }

  let ports: EgressPorts = protocol === undefined ? { kind: 'any' } : { kind: 'range', protocol, start: 1, end: 65535 };
  if (portsText !== undefined) {
    const r = parseRange(portsText, 'port');
    if (!r.ok) return fail(token, r.error);
    ports = { kind: 'range', protocol: protocol ?? 'tcp', start: r.value.start, end: r.value.end };
  }

  // Anything with a digit-only last label, a '/' or a ':' is meant as an address: its own reason.
  const looksLikeAddress = bracketed || dest.includes('/') || dest.includes(':') || /(^|\.)[0-9]+$/.test(dest);
  if (looksLikeAddress) {
    const c = parseCidr(dest);
    if (!c.ok) return fail(token, c.error);
    if (bracketed && c.value.family !== 6) return fail(token, 'brackets are only for IPv6; write an IPv4 destination without them');
    return { ok: true, value: { destination: { kind: 'cidr', cidr: c.value }, ports } };
  }
  const name = parseDnsName(dest);
  if (!name.ok) return fail(token, name.error);
  return { ok: true, value: { destination: { kind: 'name', name: name.value }, ports } };
}

/** A stable key of an entry: equal entries are kept once, and lists compare by it. */
export function egressEntryKey(e: EgressEntry): string {
  const d = e.destination.kind === 'cidr' ? e.destination.cidr.text : e.destination.name;
  const p = e.ports.kind === 'any' ? '*' : `${e.ports.start}-${e.ports.end}/${e.ports.protocol}`;
  return `${d}|${p}`;
}

/** One host is written as its address, as the admin most likely wrote it. */
function destinationText(d: EgressDestination): string {
  if (d.kind === 'name') return d.name;
  const host = d.cidr.family === 4 ? '/32' : '/128';
  return d.cidr.text.endsWith(host) ? d.cidr.text.slice(0, -host.length) : d.cidr.text;
}

/** An entry as the label grammar writes it, for status and logs. */
export function formatEgressEntry(e: EgressEntry): string {
  const d = destinationText(e.destination);
  if (e.ports.kind === 'any') return d;
  const dest = e.destination.kind === 'cidr' && e.destination.cidr.family === 6 ? `[${d}]` : d;
  if (e.ports.start === 1 && e.ports.end === 65535) return `${dest}/${e.ports.protocol}`;
  const range = e.ports.start === e.ports.end ? `${e.ports.start}` : `${e.ports.start}-${e.ports.end}`;
  return `${dest}:${range}${e.ports.protocol === 'tcp' ? '' : `/${e.ports.protocol}`}`;
}

/** The policy as the label grammar writes it. */
export function formatEgressPolicy(p: EgressPolicy): string {
  return p.kind === 'list' ? p.entries.map(formatEgressEntry).join(',') : p.kind;
}

/** Parses a whole `dockgate.egress` value; every bad entry is its own reason. */
export function parseEgressPolicy(value: string): Result<EgressPolicy, string[]> {
  const v = trimSpaces(value);
  if (v === 'true' || v === 'all') return { ok: true, value: { kind: 'all' } };
  if (v === 'false' || v === 'none') return { ok: true, value: { kind: 'none' } };
  if (v === '') return { ok: false, error: [`empty; use ${EGRESS_GRAMMAR}`] };
  const reasons: string[] = [];
  const entries: EgressEntry[] = [];
  const seen = new Set<string>();
  for (const token of splitList(v)) {
    const r = parseEgressEntry(token);
    if (!r.ok) {
      reasons.push(r.error);
      continue;
    }
    const key = egressEntryKey(r.value);
    if (seen.has(key)) continue;
    seen.add(key);
    entries.push(r.value);
  }
  if (reasons.length > 0) return { ok: false, error: reasons };
  return { ok: true, value: { kind: 'list', entries } };
}
