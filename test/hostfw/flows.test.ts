// The flows of a plan carry the addresses of their own family: an IPv6 opening's packets are
// judged by other firewalls' ip6 matches, not taken for "any address".
import { describe, expect, it } from 'vitest';
import { analyse } from '../../src/hostfw/analysis.js';
import { flowsOf } from '../../src/hostfw/flows.js';
import { parseNftJson } from '../../src/hostfw/nft-ruleset.js';
import { DEFAULT_MARK_BIT } from '../../src/model/mark-bit.js';
import { parseNet } from '../../src/net/address.js';
import { DUAL, container, plan } from '../plan/fixtures.js';

const web = container('web', { network: DUAL, ip: '172.23.0.2', ip6: 'fd00:db8:1::2', labels: { 'dockgate.ports': '80', 'dockgate.from': '10.0.0.0/8,2001:db8:9::/48' }, publish: ['0.0.0.0:8000:80/tcp', '[::]:8000:80/tcp'] });

/** An inet input chain, policy drop, that accepts TCP 8000 from one IPv6 network only. */
const firewall = parseNftJson(
  `{"nftables": [
    {"table": {"family": "inet", "name": "admin", "handle": 1}},
    {"chain": {"family": "inet", "table": "admin", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}},
    {"rule": {"family": "inet", "table": "admin", "chain": "input", "handle": 2, "expr": [
      {"match": {"op": "==", "left": {"payload": {"protocol": "ip6", "field": "saddr"}}, "right": {"prefix": {"addr": "2001:db8:9::", "len": 48}}}},
      {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 8000}},
      {"accept": null}]}}
  ]}`,
);

describe('flows', () => {
  it("an IPv6 opening's new connections come from its own sources, as ranges of their family", () => {
    const six = flowsOf(plan([web], [DUAL]), true).filter((f) => f.family === 6 && f.kind === 'proxy');
    expect(six.map((f) => f.source)).toEqual(['2001:db8:9::/48']);
    const p = six[0]!.packets[0]!.at('input', 0)!;
    expect(p.saddr).toMatchObject({ family: 6, lo: parseNet('2001:db8:9::/48')!.lo, hi: parseNet('2001:db8:9::/48')!.hi });
  });

  it('so a chain that accepts exactly those sources lets the IPv6 opening through, and drops the IPv4 one', () => {
    const verdicts = analyse(plan([web], [DUAL]), firewall, { marksInPlace: false, marksInPlace6: false, mark: DEFAULT_MARK_BIT });
    const proxy = verdicts.filter((v) => v.kind === 'proxy');
    expect(proxy.find((v) => v.family === 6)!.state).toBe('effective');
    expect(proxy.find((v) => v.family === 4)!.state).toBe('blocked');
  });
});
