// The daemon side of the drop log on fake time: ulogd's JSON, folding, the rate limit, the ring.
import { describe, expect, it } from 'vitest';
import { DropRecorder } from '../../src/drops/recorder.js';
import { TokenBuckets } from '../../src/drops/rate-limit.js';
import { parsePrefix, parseUlogdLine } from '../../src/drops/ulogd-json.js';
import { WEB, attribution, packet } from './fixtures.js';

// Captured from ulogd 2.0.8 (Debian 12) reading an NFLOG line in a test namespace.
const LINE =
  '{"timestamp": "2026-12-06T13:04:05.049464", "dvc": "Netfilter", "raw.pktlen": 31, "raw.pktcount": 1, "oob.prefix": "dockgate:not-labelled:abcdef012345", "oob.time.sec": 1796562245, "oob.time.usec": 49464, "oob.mark": 0, "oob.ifindex_in": 1, "oob.hook": 1, "raw.mac_len": 14, "oob.family": 2, "oob.protocol": 2048, "raw.label": 0, "raw.type": 772, "raw.mac.addrlen": 6, "ip.protocol": 17, "ip.tos": 0, "ip.ttl": 64, "ip.totlen": 31, "ip.ihl": 5, "ip.csum": 62398, "ip.id": 18701, "ip.fragoff": 16384, "src_port": 32949, "dest_port": 9999, "udp.len": 11, "udp.csum": 65054, "oob.in": "lo", "oob.out": "", "src_ip": "127.0.0.1", "dest_ip": "127.0.0.1"}';
const LINE6 =
  '{"timestamp": "2026-12-06T13:04:05.064343", "dvc": "Netfilter", "raw.pktlen": 50, "raw.pktcount": 1, "oob.prefix": "dockgate:egress-denied:-", "oob.time.sec": 1796562245, "oob.time.usec": 64343, "oob.mark": 0, "oob.ifindex_in": 1, "oob.hook": 1, "raw.mac_len": 14, "oob.family": 10, "oob.protocol": 34525, "raw.label": 0, "raw.type": 772, "raw.mac.addrlen": 6, "ip.protocol": 6, "ip6.payloadlen": 10, "ip6.priority": 0, "ip6.flowlabel": 893764, "ip6.hoplimit": 64, "ip6.nexthdr": 17, "src_port": 42353, "dest_port": 443, "oob.in": "lo", "oob.out": "", "src_ip": "fd00::2", "dest_ip": "2001:db8::1"}';

describe('ulogd JSON', () => {
  it('reads reason, container, addresses, protocol and port, with the kernel time', () => {
    expect(parseUlogdLine(LINE)).toEqual({
      at: 1796562245049,
      reason: 'not-labelled',
      shortId: 'abcdef012345',
      family: 4,
      src: '127.0.0.1',
      dst: '127.0.0.1',
      protocol: 'udp',
      dport: 9999,
    });
    expect(parseUlogdLine(LINE6)).toMatchObject({ reason: 'egress-denied', shortId: undefined, family: 6, protocol: 'tcp', dport: 443, dst: '2001:db8::1' });
  });

  it('ignores other prefixes, broken lines and unknown reasons', () => {
    expect(parseUlogdLine(LINE.replace('dockgate:not-labelled', 'fw:not-labelled'))).toBeUndefined();
    expect(parseUlogdLine(LINE.replace('not-labelled', 'made-up'))).toBeUndefined();
    expect(parseUlogdLine(LINE.slice(0, 200))).toBeUndefined();
    expect(parseUlogdLine('null')).toBeUndefined();
    expect(parsePrefix('dockgate:spoofed:ABCDEF012345')).toBeUndefined();
    expect(parsePrefix('dockgate:spoofed:-')).toEqual({ reason: 'spoofed', shortId: undefined });
  });

  it('an ICMP packet has no port', () => {
    expect(parseUlogdLine(LINE.replace('"ip.protocol": 17', '"ip.protocol": 1'))).toMatchObject({ protocol: 'icmp', dport: undefined });
  });
});

describe('token buckets', () => {
  it('lets the burst through, then the rate, per key', () => {
    const b = new TokenBuckets<string>(5, 3);
    expect([1, 2, 3, 4].map(() => b.take('a', 0))).toEqual([true, true, true, false]);
    expect(b.take('b', 0)).toBe(true);
    expect(b.take('a', 199)).toBe(false);
    expect(b.take('a', 200)).toBe(true);
    // A clock stepping back gives nothing.
    expect(b.take('a', 0)).toBe(false);
    expect(b.take('a', 10_000)).toBe(true);
  });
});

describe('drop recorder', () => {
  it('folds repeats of the same attempt within the window into one entry with a count', () => {
    const r = new DropRecorder({ ratePerSecond: 1, burst: 1, attribution });
    expect(r.record(packet(), 0).kind).toBe('new');
    expect(r.record(packet({ at: 1_005_000 }), 0).kind).toBe('folded');
    expect(r.record(packet({ at: 1_015_000 }), 0).kind).toBe('folded');
    expect(r.entries()).toEqual([expect.objectContaining({ count: 3, first: 1_000_000, last: 1_015_000, container: WEB })]);
    // Past the window the next one is a new entry (if the rate allows).
    expect(r.record(packet({ at: 1_026_000 }), 5000).kind).toBe('new');
    expect(r.entries().map((e) => e.count)).toEqual([3, 1]);
  });

  it('attributes network-wide lines by the sender or the receiver, and the rest to the host', () => {
    const r = new DropRecorder({ ratePerSecond: 100, burst: 100, attribution });
    r.record(packet({ reason: 'egress-denied', shortId: undefined, src: '172.17.0.2', dst: '1.1.1.1' }), 0);
    r.record(packet({ reason: 'direct-access', shortId: undefined, src: '10.0.0.9', dst: '172.17.0.2' }), 0);
    r.record(packet({ reason: 'direct-access', shortId: undefined, src: '10.0.0.9', dst: '172.17.0.99' }), 0);
    expect(r.entries().map((e) => e.container?.name ?? 'host')).toEqual(['web', 'web', 'host']);
    expect(r.entries({ container: 'web' })).toHaveLength(2);
    expect(r.entries({ container: 'host' })).toHaveLength(1);
    expect(r.entries({ container: 'abcdef' })).toHaveLength(2);
  });

  it('keeps new entries to the rate per reason with its burst; the others are counted', () => {
    const r = new DropRecorder({ ratePerSecond: 5, burst: 10, attribution });
    let now = 0;
    // 100 distinct sources a second for 10 s: no folding, only the rate limit.
    for (let i = 0; i < 1000; i++) {
      now = i * 10;
      r.record(packet({ at: 1_000_000 + now, src: `10.1.${i >> 8}.${i & 255}` }), now);
      r.record(packet({ at: 1_000_000 + now, reason: 'egress-denied', src: `10.2.${i >> 8}.${i & 255}` }), now);
    }
    const kept = (reason: string) => r.entries().filter((e) => e.reason === reason).length;
    // burst + rate x 10 s, and one more for the token refilled at the last step.
    expect(kept('not-labelled')).toBeLessThanOrEqual(10 + 5 * 10 + 1);
    expect(kept('not-labelled')).toBeGreaterThanOrEqual(10 + 5 * 9);
    expect(kept('egress-denied')).toBe(kept('not-labelled'));
    expect(r.packets.get('not-labelled')).toBe(1000);
    expect(r.limited.get('not-labelled')).toBe(1000 - kept('not-labelled'));
  });

  it('stays bounded under a 100k-packet flood: ring, fold index and containers', () => {
    const r = new DropRecorder({ ratePerSecond: 10_000, burst: 10_000, attribution: { byShortId: (id) => ({ id, name: `c${id}` }), byAddress: () => undefined }, capacity: 500, maxContainers: 50 });
    for (let i = 0; i < 100_000; i++) {
      const id = (i % 5000).toString(16).padStart(12, '0');
      r.record(packet({ at: 1_000_000 + i, shortId: id, src: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` }), i);
    }
    expect(r.size).toBe(500);
    expect(r.entries()).toHaveLength(500);
    expect(r.containers()).toHaveLength(50);
    // Newest last.
    const seqs = r.entries().map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(r.entries({ afterSeq: seqs.at(-2) })).toHaveLength(1);
  });

  it('keeps each container\'s count and last drop', () => {
    const r = new DropRecorder({ ratePerSecond: 100, burst: 100, attribution });
    r.record(packet(), 0);
    r.record(packet({ src: '10.0.0.10', reason: 'source-not-allowed' }), 0);
    expect(r.containers()).toEqual([{ container: WEB, count: 2, lastDrop: expect.objectContaining({ reason: 'source-not-allowed' }) }]);
    expect(r.lastDrop(WEB.id)?.src).toBe('10.0.0.10');
  });
});
