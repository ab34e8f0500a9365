// The host's interfaces and their addresses, from `ip -j addr` output. Pure: the process that
// produces the text runs in src/dataplane/addresses.ts. The packet tracer needs them for two
// kernel decisions it must reproduce: which destinations are local (`-m addrtype --dst-type
// LOCAL`, INPUT or FORWARD) and which interface a packet to a connected subnet leaves by.
import { z } from 'zod';
import { type Result, ok } from '../model/result.js';
import type { Family } from '../model/types.js';
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from './address.js';
import { IFNAME } from './ifname.js';
import { readJsonOutput } from '../util/json-output.js';

export interface InterfaceAddress {
  family: Family;
  /** Canonical text of the address itself (not the network). */
  address: string;
  prefixLen: number;
}

export interface HostInterface {
  name: string;
  addresses: InterfaceAddress[];
  /** The loopback device: its whole prefix is local (the kernel's `local 127.0.0.0/8 dev lo` route). */
  loopback: boolean;
}



// The answer must be a list; a link or address dockgate cannot read is skipped (an iproute2
// version may print kinds of entries this one does not know).
const linkList = z.array(z.unknown());
const linkEntry = z.object({
  ifname: z.string(),
  addr_info: z.array(z.unknown()).optional().catch(undefined),
  link_type: z.unknown().optional(),
  flags: z.array(z.unknown()).optional().catch(undefined),
});
const addrEntry = z.object({ family: z.string(), local: z.string(), prefixlen: z.number() });

/** One `addr_info` entry; undefined for what is not an IPv4/IPv6 address we can read. */
function addressOf(entry: unknown): InterfaceAddress | undefined {
  const r = addrEntry.safeParse(entry);
  if (!r.success) return undefined;
  const v = r.data;
  if (v.family === 'inet') {
    const n = parseIPv4(v.local);
    if (n === undefined || v.prefixlen < 0 || v.prefixlen > 32) return undefined;
    return { family: 4, address: formatIPv4(n), prefixLen: v.prefixlen };
  }
  if (v.family === 'inet6') {
    // A link-local address prints with no zone in `local`; the zone lives in `label`/ifname.
    const n = parseIPv6(v.local);
    if (n === undefined || v.prefixlen < 0 || v.prefixlen > 128) return undefined;
    return { family: 6, address: formatIPv6(n), prefixLen: v.prefixlen };
  }
  return undefined;
}

/** Parses `ip -j addr` (both families in one list, as `ip -j addr show` prints them). */
export function parseIpAddr(text: string, command = 'ip -j addr'): Result<HostInterface[]> {
  const data = readJsonOutput(text, linkList, command, []);
  if (!data.ok) return data;
  const out: HostInterface[] = [];
  for (const item of data.value) {
    const entry = linkEntry.safeParse(item);
    if (!entry.success) continue;
    const link = entry.data;
    // `veth0@if12` is how some versions print a peer; the kernel's name is the part before '@'.
    const name = link.ifname.split('@')[0]!;
    if (!IFNAME.test(name)) continue;
    const info = link.addr_info ?? [];
    const addresses = info.map(addressOf).filter((a): a is InterfaceAddress => a !== undefined);
    const loopback = link.link_type === 'loopback' || (link.flags ?? []).includes('LOOPBACK');
    out.push({ name, addresses, loopback });
  }
  return ok(out);
}
