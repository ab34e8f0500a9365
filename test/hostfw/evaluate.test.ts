// The nft evaluator's address model: IPv6 addresses are judged as IPv4 ones are (the shared
// ranges of src/net/address.ts), instead of every ip6 address match being a maybe.
import { describe, expect, it } from 'vitest';
import { type Packet, evaluateBaseChain } from '../../src/hostfw/evaluate.js';
import { type NftRuleset, parseNftJson } from '../../src/hostfw/nft-ruleset.js';
import { anyNet, parseNet } from '../../src/net/address.js';
import { inbound } from './packets.js';

function ruleset(policy: 'accept' | 'drop', rules: string[], extra = ''): NftRuleset {
  const items = [
    '{"table": {"family": "inet", "name": "t", "handle": 1}}',
    `{"chain": {"family": "inet", "table": "t", "name": "c", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "${policy}"}}`,
    ...rules.map((expr, i) => `{"rule": {"family": "inet", "table": "t", "chain": "c", "handle": ${10 + i}, "expr": ${expr}}}`),
    ...(extra ? [extra] : []),
  ];
  return parseNftJson(`{"nftables": [${items.join(',')}]}`);
}

const packet6: Packet = inbound({ family: 6, saddr: parseNet('2001:db8::9')!, daddr: parseNet('2001:db8:1::5')! });
const packet4: Packet = { ...packet6, family: 4, saddr: parseNet('10.0.0.9')!, daddr: parseNet('10.0.0.5')! };

const m = (left: string, right: string, op = '==') => `{"match": {"op": "${op}", "left": ${left}, "right": ${right}}}`;
const ip6saddr = '{"payload": {"protocol": "ip6", "field": "saddr"}}';
const ip4saddr = '{"payload": {"protocol": "ip", "field": "saddr"}}';
const accept = '{"accept": null}';
const drop = '{"drop": null}';

function verdict(rs: NftRuleset, p: Packet): string {
  const r = evaluateBaseChain(rs.chains[0]!, p, rs);
  if (r.drops.length === 0) return 'passes';
  return r.drops.some((d) => d.certain) ? 'dropped' : 'may drop';
}

describe('evaluator addresses, both families', () => {
  it('an ip6 source prefix that holds the packet source accepts it; a wider source is only partly inside', () => {
    const rs = ruleset('drop', [`[${m(ip6saddr, '{"prefix": {"addr": "2001:db8::", "len": 32}}')}, ${accept}]`]);
    expect(verdict(rs, packet6)).toBe('passes');
    expect(verdict(rs, { ...packet6, saddr: anyNet(6) })).toBe('may drop');
    expect(verdict(rs, { ...packet6, saddr: parseNet('2001:db9::1')! })).toBe('dropped');
  });

  it('a negated ip6 prefix the source is outside of surely drops', () => {
    expect(verdict(ruleset('accept', [`[${m(ip6saddr, '{"prefix": {"addr": "fe80::", "len": 10}}', '!=')}, ${drop}]`]), packet6)).toBe('dropped');
  });

  it('ip6 addresses in a named set and in ranges', () => {
    const set = '{"set": {"family": "inet", "table": "t", "name": "allowed", "handle": 3, "type": "ipv6_addr", "flags": ["interval"], "elem": [{"prefix": {"addr": "2001:db8::", "len": 48}}, {"range": ["2001:db8:5::", "2001:db8:5::ff"]}]}}';
    const rs = ruleset('drop', [`[${m(ip6saddr, '"@allowed"')}, ${accept}]`], set);
    expect(verdict(rs, packet6)).toBe('passes');
    expect(verdict(rs, { ...packet6, saddr: parseNet('2001:db8:5::7')! })).toBe('passes');
    expect(verdict(rs, { ...packet6, saddr: parseNet('2001:db8:6::7')! })).toBe('dropped');
  });

  it('an ip match never holds for an IPv6 packet, nor an ip6 match for an IPv4 one', () => {
    expect(verdict(ruleset('drop', [`[${m(ip4saddr, '{"prefix": {"addr": "10.0.0.0", "len": 8}}')}, ${accept}]`]), packet6)).toBe('dropped');
    expect(verdict(ruleset('drop', [`[${m(ip6saddr, '{"prefix": {"addr": "::", "len": 0}}')}, ${accept}]`]), packet4)).toBe('dropped');
  });

  it('IPv4 addresses as ranges of the shared model', () => {
    const rs = ruleset('drop', [`[${m(ip4saddr, '{"prefix": {"addr": "10.0.0.0", "len": 8}}')}, ${accept}]`]);
    expect(verdict(rs, packet4)).toBe('passes');
    expect(verdict(rs, { ...packet4, saddr: anyNet(4) })).toBe('may drop');
  });
});
