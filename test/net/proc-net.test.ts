// /proc/net/{tcp,udp}{,6}: listeners as the kernel prints them (each 32-bit word in host byte
// order), addresses in RFC 5952 text so they compare equal to Docker's and the labels' addresses.
import { describe, expect, it } from 'vitest';
import { parseProcNet } from '../../src/net/proc-net.js';

const HEADER = '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';

/** The kernel's hex for eight 16-bit groups: four words, each little-endian on this (x86/arm) host. */
function procHex6(groups: readonly number[]): string {
  const bytes = groups.flatMap((g) => [g >> 8, g & 0xff]);
  let out = '';
  for (let w = 0; w < 16; w += 4) out += bytes.slice(w, w + 4).reverse().map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join('');
  return out;
}

function line6(groups: readonly number[], port: number, state = '0A'): string {
  const zero = '0'.repeat(32);
  return `   0: ${procHex6(groups)}:${port.toString(16).toUpperCase().padStart(4, '0')} ${zero}:0000 ${state} 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0\n`;
}

const ip6 = (groups: readonly number[], protocol: 'tcp' | 'udp' = 'tcp') =>
  parseProcNet(HEADER + line6(groups, 8080, protocol === 'tcp' ? '0A' : '07'), protocol)[0]?.ip;

describe('parseProcNet, IPv6 addresses', () => {
  it('compresses the longest run of zero groups, not the first', () => {
    expect(ip6([0x2001, 0, 0, 1, 0, 0, 0, 1])).toBe('2001:0:0:1::1');
  });

  it('on a tie, compresses the first run', () => {
    expect(ip6([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1])).toBe('2001:db8::1:0:0:1');
  });

  it('never compresses a single zero group', () => {
    expect(ip6([0x2001, 0xdb8, 0, 1, 1, 1, 1, 1])).toBe('2001:db8:0:1:1:1:1:1');
  });

  it('lower case, no leading zeros; runs at either end', () => {
    expect(ip6([0x2001, 0xdb8, 0xabcd, 0x12, 0, 0, 0, 0])).toBe('2001:db8:abcd:12::');
    expect(ip6([0, 0, 0, 0, 0, 0, 0, 1])).toBe('::1');
    expect(ip6([0xfe80, 0, 0, 0, 0x1c2, 0x3ff, 0xfe04, 0x506], 'udp')).toBe('fe80::1c2:3ff:fe04:506');
  });

  it('the unspecified address is every address (undefined), a v4-mapped bind is the IPv4 address', () => {
    expect(ip6([0, 0, 0, 0, 0, 0, 0, 0])).toBeUndefined();
    expect(ip6([0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0005])).toBe('10.0.0.5');
  });

  it('reads the port and the state', () => {
    const text = HEADER + line6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 5], 443) + line6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 6], 80, '01');
    expect(parseProcNet(text, 'tcp')).toEqual([{ protocol: 'tcp', ip: '2001:db8::5', port: 443 }]);
  });
});

describe('parseProcNet, IPv4', () => {
  it('reads a bound address and every address', () => {
    const text = `${HEADER}   0: 0500000A:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n   1: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 2 2 0\n`;
    expect(parseProcNet(text, 'tcp')).toEqual([{ protocol: 'tcp', ip: '10.0.0.5', port: 8080 }]);
    expect(parseProcNet(text, 'udp')).toEqual([{ protocol: 'udp', ip: undefined, port: 53 }]);
  });
});
