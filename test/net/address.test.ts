// The address module's own contract (parseCidr's refusals are in test/labels/parse.test.ts).
import { describe, expect, it } from 'vitest';
import { anyNet, familyOf, formatIPv4, parseIPv4, parseNet, relation } from '../../src/net/address.js';

describe('net/address', () => {
  it('IPv4 is dotted-quad only: no leading zeros, no shorthand, no octet over 255', () => {
    expect(parseIPv4('10.0.0.5')).toBe(0x0a000005);
    expect(parseIPv4('255.255.255.255')).toBe(0xffffffff);
    for (const bad of ['010.0.0.5', '10.1', '10.0.0.256', '0x0a.0.0.5', ' 10.0.0.5', '10.0.0.5\n', '']) expect(parseIPv4(bad)).toBeUndefined();
    expect(formatIPv4(0xffffffff)).toBe('255.255.255.255');
  });

  it('familyOf tells address text by its colon', () => {
    expect(familyOf('2001:db8::1')).toBe(6);
    expect(familyOf('::')).toBe(6);
    expect(familyOf('10.0.0.5')).toBe(4);
  });

  it('parseNet masks host bits as the kernel does; relation answers yes, no or maybe', () => {
    expect(parseNet('10.0.0.5/8')?.text).toBe('10.0.0.0/8');
    expect(parseNet('2001:DB8::1/32')?.text).toBe('2001:db8::/32');
    expect(parseNet('10.0.0.0/255.0.0.0')).toBeUndefined();
    const ten = parseNet('10.0.0.0/8')!;
    expect(relation(ten, parseNet('10.1.2.3')!)).toBe('yes');
    expect(relation(ten, parseNet('11.1.2.3')!)).toBe('no');
    expect(relation(ten, anyNet(4))).toBe('maybe');
    expect(relation(anyNet(6), ten)).toBe('no');
    expect(anyNet(6).text).toBe('::/0');
  });
});
