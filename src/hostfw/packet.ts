// What the nft evaluator knows of every packet of one kind of a flow, at one hook: addresses as
// ranges of the shared model (src/net/address.ts), ports as ranges, interfaces as src/net/iface.ts
// models them, and the connection's state.
import type { MarkBit } from '../model/mark-bit.js';
import type { Family } from '../model/types.js';
import type { AddressRange } from '../net/address.js';
import type { Iface } from '../net/iface.js';

export type { Iface } from '../net/iface.js';

/** Ports: lowest and highest. */
export type Range = readonly [number, number];

export interface Packet {
  family: Family;
  /** The range of its family the source is known to lie in; the destination likewise. */
  saddr: AddressRange;
  daddr: AddressRange;
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

export const ANY_PORT: Range = [0, 65535];
