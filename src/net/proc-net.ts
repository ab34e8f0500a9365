// /proc/net/{tcp,udp}{,6} → the sockets host processes listen on. Pure: the dataplane reads the
// files, this only interprets them.
import type { Listener, Protocol } from '../model/types.js';
import { formatIPv4, formatIPv6 } from './address.js';

const TCP_LISTEN = '0A';
/** UDP has no LISTEN state; an unconnected bound socket (TCP_CLOSE = 07) is a server. */
const UDP_UNCONNECTED = '07';

/** The kernel prints each 32-bit word in host (little-endian) byte order. */
function word(hex: string): number {
  return Number.parseInt(hex.slice(6, 8) + hex.slice(4, 6) + hex.slice(2, 4) + hex.slice(0, 2), 16);
}

function address(hex: string): string | undefined {
  if (hex.length === 8) {
    const n = word(hex);
    return n === 0 ? undefined : formatIPv4(n);
  }
  if (hex.length === 32) {
    const words = [0, 8, 16, 24].map((i) => word(hex.slice(i, i + 8)));
    if (words.every((w) => w === 0)) return undefined;
    // ::ffff:a.b.c.d (a v4-mapped bind) is the IPv4 address for every purpose here.
    if (words[0] === 0 && words[1] === 0 && words[2] === 0xffff) return formatIPv4(words[3]!);
    // The same text as every other IPv6 address dockgate compares (Docker's, the labels').
    return formatIPv6(words.reduce((n, w) => (n << 32n) | BigInt(w), 0n));
  }
  return undefined;
}

/** Parses one /proc/net file; `protocol` says which table it is. Lines it cannot read are skipped. */
export function parseProcNet(text: string, protocol: Protocol): Listener[] {
  return parseListening(text, protocol).map(({ protocol: p, ip, port }) => ({ protocol: p, ip, port }));
}

/** A listening socket with the inode by which /proc/PID/fd names it (`socket:[INODE]`). */
export interface ListeningSocket extends Listener {
  inode: number;
}

/** As parseProcNet, with each socket's inode, so that the process holding it can be found. */
export function parseListening(text: string, protocol: Protocol): ListeningSocket[] {
  const out: ListeningSocket[] = [];
  const want = protocol === 'tcp' ? TCP_LISTEN : UDP_UNCONNECTED;
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const local = fields[1];
    const state = fields[3];
    if (!local || state !== want) continue;
    const [hexIp = '', hexPort = ''] = local.split(':');
    const port = Number.parseInt(hexPort, 16);
    if (!(port > 0 && port <= 65535)) continue;
    // Field 9 (after uid and timeout); 0 for a socket whose owner is gone (it belongs to nobody).
    const inode = Number(fields[9]);
    out.push({ protocol, ip: address(hexIp), port, inode: Number.isSafeInteger(inode) ? inode : 0 });
  }
  return out;
}
