// One line of ulogd2's JSON output (the JSON output plugin after NFLOG → BASE → IFINDEX →
// IP2STR) → the packet dockgate's NFLOG line reported. Only lines whose prefix is dockgate's are
// read: another tool logging to the same group is not ours to report.
import { familyOf } from '../net/address.js';
import { DROP_REASONS, type DropReason, NO_CONTAINER, PREFIX_HEAD } from '../plan/drop-log.js';

export type DropProtocol = 'tcp' | 'udp' | 'icmp' | 'icmpv6' | 'other';

/** What the kernel said about one logged packet. */
export interface LoggedPacket {
  /** Milliseconds since the epoch, from the kernel's timestamp (ulogd's own `timestamp` has no zone). */
  at: number;
  reason: DropReason;
  /** The short id the prefix names; undefined for a network-wide line (attributed by address). */
  shortId: string | undefined;
  family: 4 | 6;
  src: string;
  dst: string;
  protocol: DropProtocol;
  /** Destination port for tcp and udp. */
  dport: number | undefined;
  /** The frame's source MAC (lower case) when ulogd saw one: a spoofed frame is attributed by it. */
  srcMac?: string;
}

const REASONS: ReadonlySet<string> = new Set(DROP_REASONS);
const PROTOCOLS: Readonly<Record<number, DropProtocol>> = { 6: 'tcp', 17: 'udp', 1: 'icmp', 58: 'icmpv6' };
const SHORT_ID = /^[0-9a-f]{12}$/;

/** `dockgate:REASON:SHORTID` or `dockgate:REASON:-`; undefined for any other prefix. */
export function parsePrefix(prefix: string): { reason: DropReason; shortId: string | undefined } | undefined {
  const [head, reason, id, ...rest] = prefix.split(':');
  if (head !== PREFIX_HEAD || reason === undefined || !REASONS.has(reason) || id === undefined || rest.length > 0) return undefined;
  if (id === NO_CONTAINER) return { reason: reason as DropReason, shortId: undefined };
  return SHORT_ID.test(id) ? { reason: reason as DropReason, shortId: id } : undefined;
}

/** undefined for anything that is not one of dockgate's entries (other prefixes, truncated lines, noise). */
export function parseUlogdLine(line: string): LoggedPacket | undefined {
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof o !== 'object' || o === null) return undefined;
  const r = o as Record<string, unknown>;
  const prefix = typeof r['oob.prefix'] === 'string' ? parsePrefix(r['oob.prefix']) : undefined;
  if (!prefix) return undefined;
  const src = r['src_ip'];
  const dst = r['dest_ip'];
  if (typeof src !== 'string' || typeof dst !== 'string') return undefined;
  const sec = r['oob.time.sec'];
  const usec = r['oob.time.usec'];
  if (typeof sec !== 'number' || typeof usec !== 'number') return undefined;
  const protoNumber = r['ip.protocol'];
  const protocol = typeof protoNumber === 'number' ? (PROTOCOLS[protoNumber] ?? 'other') : 'other';
  const dport = r['dest_port'];
  const mac = r['mac.saddr.str'];
  return {
    at: sec * 1000 + Math.floor(usec / 1000),
    ...prefix,
    family: r['oob.family'] === 10 || familyOf(src) === 6 ? 6 : 4,
    src,
    dst,
    protocol,
    dport: (protocol === 'tcp' || protocol === 'udp') && typeof dport === 'number' ? dport : undefined,
    ...(typeof mac === 'string' && /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac) ? { srcMac: mac.toLowerCase() } : {}),
  };
}
