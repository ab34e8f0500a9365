// What the nft evaluator knows of every packet of one kind of a flow, at one hook: addresses as
// ranges of the shared model (src/net/address.ts), ports as ranges, interfaces as src/net/iface.ts
// models them, and the connection's state.
import type { MarkBit } from '../model/mark-bit.js';
import type { Family } from '../model/types.js';
import { type AddressRange, anyNet } from '../net/address.js';
import type { Iface } from '../net/iface.js';

export type { Iface } from '../net/iface.js';

/** Ports (and, in the IPv4-only form below, addresses): lowest and highest. */
export type Range = readonly [number, number];

/**
 * A packet's source or destination: the range of its family it is known to lie in. A Range is
 * the IPv4-only form hostfw/analysis.ts still builds (IPv4 addresses as numbers; on an IPv6
 * packet it says nothing, so it stands for every address); it goes when analysis.ts builds
 * AddressRanges.
 */
export type PacketAddress = AddressRange | Range;

export interface Packet {
  family: Family;
  saddr: PacketAddress;
  daddr: PacketAddress;
  /** The destination is one of this host's addresses (fib daddr type local). */
  daddrLocal: boolean | undefined;
  /** undefined: any protocol (egress). */
  proto: 'tcp' | 'udp' | undefined;
  sport: Range;
  dport: Range;
  iif: Iface;
  oif: Iface;
  ctState: 'new' | 'established';
  ctDnat: boolean;
  ctDirection: 'original' | 'reply';
  /** The first packet of a TCP connection: exactly SYN among the flags. */
  firstSyn: boolean;
  /** The bit dockgate's mangle rules set on it before this chain runs; undefined: none. */
  marked: MarkBit | undefined;
}

/** A packet as the evaluator reads it: both addresses ranges of its family. */
export interface SeenPacket extends Omit<Packet, 'saddr' | 'daddr'> {
  saddr: AddressRange;
  daddr: AddressRange;
}

/** Every IPv4 address, in the IPv4-only form. */
export const ANY_ADDR: Range = [0, 0xffffffff];
export const ANY_PORT: Range = [0, 65535];

function addressOf(a: PacketAddress, family: Family): AddressRange {
  if ('lo' in a) return a;
  return family === 4 ? { family, lo: BigInt(a[0]), hi: BigInt(a[1]) } : anyNet(family);
}

export function seen(p: Packet): SeenPacket {
  return { ...p, saddr: addressOf(p.saddr, p.family), daddr: addressOf(p.daddr, p.family) };
}
