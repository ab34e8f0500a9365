// Interface-name matches as both evaluators judge them (iptables '+', nft '*').
import { describe, expect, it } from 'vitest';
import { NO_IFACE, UNKNOWN_IFACE, ifaceMatches, knownIface } from '../../src/net/iface.js';

describe('ifaceMatches', () => {
  it('a known interface: by name or by prefix wildcard, per tool', () => {
    expect(ifaceMatches(knownIface('eth0'), ['eth0'], '+')).toBe('yes');
    expect(ifaceMatches(knownIface('eth0'), ['eth+'], '+')).toBe('yes');
    expect(ifaceMatches(knownIface('eth0'), ['eth*'], '+')).toBe('no');
    expect(ifaceMatches(knownIface('eth0'), ['eth*'], '*')).toBe('yes');
    expect(ifaceMatches(knownIface('eth0'), ['eth\\*'], '*')).toBe('no');
    expect(ifaceMatches(knownIface('eth0'), ['docker0'], '*')).toBe('no');
  });

  it('an interface other than some names: no only for names it surely is not', () => {
    const ext = { kind: 'other', not: ['lo', 'docker0'] } as const;
    expect(ifaceMatches(ext, ['lo'], '*')).toBe('no');
    expect(ifaceMatches(ext, ['eth0'], '*')).toBe('maybe');
    expect(ifaceMatches(ext, ['docker*'], '*')).toBe('maybe');
    expect(ifaceMatches(UNKNOWN_IFACE, ['lo'], '+')).toBe('maybe');
  });

  it('no interface at this hook has the empty name: only a bare wildcard matches it', () => {
    expect(ifaceMatches(NO_IFACE, ['eth0'], '+')).toBe('no');
    expect(ifaceMatches(NO_IFACE, ['*'], '*')).toBe('yes');
    expect(ifaceMatches(NO_IFACE, [], '*')).toBe('no');
  });
});
