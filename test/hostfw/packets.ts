// A new TCP connection from outside to a published port on the host, as the nft evaluator
// judges it: the tests change only the fields they are about.
import { ANY_PORT, type Packet } from '../../src/hostfw/evaluate.js';

export function inbound(fields: Partial<Packet> & Pick<Packet, 'family' | 'saddr' | 'daddr'>): Packet {
  return {
    daddrLocal: true,
    proto: 'tcp',
    sport: ANY_PORT,
    dport: [8000, 8000],
    iif: { kind: 'other', not: ['lo', 'docker0'] },
    oif: { kind: 'none' },
    ctState: 'new',
    ctDnat: false,
    ctDirection: 'original',
    firstSyn: true,
    marked: undefined,
    ...fields,
  };
}
