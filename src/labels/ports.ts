// One `ports` label entry: PORT[/PROTO], START-END[/PROTO] or [HOSTIP:]HOSTPORT:PORT[/PROTO].
import type { PortSpec, Protocol } from '../model/types.js';
import { parseAddress } from '../net/address.js';
import type { Result } from '../model/result.js';
import { badCharacter, quote } from './text.js';

export const PORTS_GRAMMAR = 'PORT[/PROTO], START-END[/PROTO] or [HOSTIP:]HOSTPORT:PORT[/PROTO]';

/** Everything the grammar can contain: digits, letters (protocol), '.', ':', '[', ']', '/', '-'. */
const ENTRY_CHARS = /^[0-9A-Za-z.:[\]/-]+$/;
const NOT_ENTRY_CHAR = /[^0-9A-Za-z.:[\]/-]/;
const PORT = /^[1-9][0-9]{0,4}$/;
const RANGE = /^([^-]+)-([^-]+)$/;
const BRACKETED_HOST = /^\[([^\]]*)\]:(.*)$/;

export interface Range {
  start: number;
  end: number;
}

function fail<T>(token: string, detail: string): Result<T> {
  return { ok: false, error: `entry ${quote(token)}: ${detail}` };
}

function notGrammar<T>(token: string, detail: string): Result<T> {
  return { ok: false, error: `entry ${quote(token)} is not ${PORTS_GRAMMAR} (${detail})` };
}

function parsePort(text: string, what: string): Result<number> {
  if (PORT.test(text)) {
    const n = Number(text);
    if (n <= 65535) return { ok: true, value: n };
  }
  return {
    ok: false,
    error: `${what} ${quote(text)} must be a number 1-65535, written in decimal without sign or leading zeros`,
  };
}

/** 'P' or 'A-B' (A <= B). `what` is 'port' or 'host port', for the message. */
export function parseRange(text: string, what: string): Result<Range> {
  if (text === '') return { ok: false, error: `${what} is empty` };
  if (!text.includes('-')) {
    const p = parsePort(text, what);
    return p.ok ? { ok: true, value: { start: p.value, end: p.value } } : p;
  }
  const m = RANGE.exec(text);
  if (!m) return { ok: false, error: `${what} ${quote(text)} is neither a port nor a START-END range` };
  const start = parsePort(m[1] ?? '', what);
  if (!start.ok) return start;
  const end = parsePort(m[2] ?? '', what);
  if (!end.ok) return end;
  if (start.value > end.value) {
    return { ok: false, error: `reversed range ${quote(text)}: START ${start.value} is above END ${end.value}` };
  }
  return { ok: true, value: { start: start.value, end: end.value } };
}

function size(r: Range): number {
  return r.end - r.start + 1;
}

function describe(r: Range): string {
  return r.start === r.end ? `${r.start}` : `${r.start}-${r.end}`;
}

/** Validates a host IP and returns its canonical text. */
function parseHostIp(token: string, text: string, bracketed: boolean): Result<string> {
  const shown = bracketed ? `[${text}]` : text;
  if (text === '') {
    return fail(token, 'host IP is empty; write HOSTPORT:PORT (without the leading ":") to mean all host addresses');
  }
  if (text.includes('/')) {
    return fail(token, `host IP ${quote(shown)} must be a plain address, without a /prefix length`);
  }
  const addr = parseAddress(text);
  if (bracketed) {
    if (!addr.ok) return fail(token, `host IP ${quote(shown)} is not an IPv6 address`);
    if (addr.value.family !== 6) {
      return fail(token, `host IP ${quote(shown)}: brackets are only for IPv6; write an IPv4 host IP without them`);
    }
  } else if (!addr.ok || addr.value.family !== 4) {
    return fail(token, `host IP ${quote(shown)} is not an IPv4 address (IPv6 host IPs go in brackets, e.g. [2001:db8::1]:8080:80)`);
  }
  return { ok: true, value: addr.value.text };
}

/**
 * The protocol: after the last '/', unless what follows belongs to a bracketed host or a mapping
 * (so '1.2.3.4/32:80:80' is reported as a host IP with a prefix, not as protocol '32:80:80').
 */
function splitProtocol(token: string): Result<{ body: string; protocol: Protocol }> {
  const slash = token.lastIndexOf('/');
  if (slash < 0 || /[:\]]/.test(token.slice(slash + 1))) return { ok: true, value: { body: token, protocol: 'tcp' } };
  const proto = token.slice(slash + 1);
  const body = token.slice(0, slash);
  if (proto === 'tcp' || proto === 'udp') return { ok: true, value: { body, protocol: proto } };
  if (proto === '') return fail(token, 'protocol after "/" is empty; use tcp or udp');
  return fail(token, `protocol ${quote(proto)} is not supported; use tcp or udp (lower case)`);
}

/** Parses one entry (already split from the list and stripped of surrounding spaces). */
export function parsePortEntry(token: string): Result<PortSpec> {
  if (token === '') return { ok: false, error: 'empty entry (two commas in a row, or a comma at the start or end)' };
  const bad = badCharacter(token);
  if (bad !== undefined) return { ok: false, error: `entry ${quote(token)} ${bad}` };
  if (!ENTRY_CHARS.test(token)) {
    const ch = NOT_ENTRY_CHAR.exec(token)?.[0] ?? '';
    return notGrammar(token, `unexpected character ${quote(ch)}`);
  }

  const split = splitProtocol(token);
  if (!split.ok) return split;
  const { body, protocol } = split.value;

  let hostIpText: string | undefined;
  let bracketed = false;
  let portParts: string[];
  if (body.startsWith('[')) {
    const m = BRACKETED_HOST.exec(body);
    if (!m) return notGrammar(token, 'a bracketed IPv6 host IP must be followed by :HOSTPORT:PORT');
    hostIpText = m[1] ?? '';
    bracketed = true;
    portParts = (m[2] ?? '').split(':');
    if (portParts.length !== 2) return notGrammar(token, 'expected [HOSTIP]:HOSTPORT:PORT');
  } else {
    if (/[[\]]/.test(body)) return notGrammar(token, 'brackets go only around an IPv6 host IP at the start');
    const parts = body.split(':');
    if (parts.length > 3) {
      return notGrammar(token, 'too many ":"; an IPv6 host IP must be in brackets, e.g. [2001:db8::1]:8080:80');
    }
    if (parts.length === 3) {
      hostIpText = parts[0] ?? '';
      portParts = parts.slice(1);
    } else {
      portParts = parts;
    }
  }
  if (portParts.some((p) => p.includes('/'))) return notGrammar(token, 'only one /PROTO is allowed, at the end');

  let hostIp: string | undefined;
  if (hostIpText !== undefined) {
    const ip = parseHostIp(token, hostIpText, bracketed);
    if (!ip.ok) return ip;
    hostIp = ip.value;
  }

  if (portParts.length === 1) {
    const r = parseRange(portParts[0] ?? '', 'port');
    if (!r.ok) return fail(token, r.error);
    return { ok: true, value: { start: r.value.start, end: r.value.end, protocol } };
  }

  const hostText = portParts[0] ?? '';
  if (hostText === '') {
    return fail(token, 'host port is empty; give the host port, or write PORT alone to allow whatever -p bound');
  }
  const host = parseRange(hostText, 'host port');
  if (!host.ok) return fail(token, host.error);
  const container = parseRange(portParts[1] ?? '', 'port');
  if (!container.ok) return fail(token, container.error);
  const h = host.value;
  const c = container.value;
  if (size(c) > 1) {
    if (size(h) === 1) {
      return fail(token, `host port ${h.start} is a single port but container range ${describe(c)} has ${size(c)} ports; give a host range of the same length`);
    }
    if (size(h) !== size(c)) {
      return fail(token, `host range ${describe(h)} has ${size(h)} ports but container range ${describe(c)} has ${size(c)}; they must be the same length`);
    }
  }
  return {
    ok: true,
    value: { start: c.start, end: c.end, protocol, host: { ...(hostIp === undefined ? {} : { ip: hostIp }), start: h.start, end: h.end } },
  };
}

/** How many ports an entry stands for: its container range, or its host range if that is wider. */
export function portCount(spec: PortSpec): number {
  const c = spec.end - spec.start + 1;
  const h = spec.host ? spec.host.end - spec.host.start + 1 : 0;
  return Math.max(c, h);
}

export function portSpecKey(spec: PortSpec): string {
  const host = spec.host ? `${spec.host.ip}|${spec.host.start}|${spec.host.end}` : '-';
  return `${spec.start}|${spec.end}|${spec.protocol}|${host}`;
}
