// Issue 18 items 6 and 15: the forwarding dockgate turns on never makes the host a router between
// its own non-Docker interfaces, and replies to containers on routed (global, not masqueraded)
// IPv6 subnets are not taken for direct access. Rule text and, where a NEW packet decides, the
// tracer over what iptables-save would show with the admin's FORWARD policy ACCEPT (Debian's default).
import { describe, expect, it } from 'vitest';
import type { NetworkFacts, RuleSet } from '../../src/model/types.js';
import type { HostView } from '../../src/trace/host.js';
import { renderPlan } from '../../src/plan/restore.js';
import { familyRuleSet } from '../../src/plan/ruleset.js';
import { type AdminFirewall, HOST, kernelOf, tcp, traceIn } from '../trace/helpers.js';
import { BRIDGE, DUAL, container, plan } from './fixtures.js';
import { linesOf } from '../../src/plan/render.js';

/** Debian after a reboot: INPUT hand-kept, FORWARD left at ACCEPT. */
const FORWARD_ACCEPT: AdminFirewall = {
  policies: { 'filter/INPUT': 'DROP' },
  rules: { 'filter/INPUT': ['-i lo -j ACCEPT', '-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT'] },
};

/** The test host, plus a LAN on eth1 that is not an external interface. */
const LAN_HOST: HostView = {
  ...HOST,
  interfaces: [
    ...HOST.interfaces,
    { name: 'eth1', loopback: false, addresses: [{ family: 4, address: '192.168.7.1', prefixLen: 24 }, { family: 6, address: '2001:db8:7::1', prefixLen: 64 }] },
  ],
};

const forwardOf = (p: RuleSet, family: 4 | 6): string[] => linesOf(familyRuleSet(p, family)!.chains.find((c) => c.name === 'DOCKGATE-FORWARD')!);
const rawOf = (p: RuleSet, family: 4 | 6): string[] => linesOf(familyRuleSet(p, family)!.chains.find((c) => c.name === 'DOCKGATE-RAW')!);

describe('forwarding dockgate turns on does not route between the host\'s own interfaces (item 6)', () => {
  const web = container('web', { labels: { 'dockgate.ports': '8080:80', 'dockgate.mode': 'dnat' } });
  const GUARD = '-m conntrack ! --ctstate RELATED,ESTABLISHED -m comment --comment "dockgate no routing between host interfaces" -j DROP';
  const notRouter = plan([web], [BRIDGE, DUAL], { adminRouting: [] });

  it('DOCKGATE-FORWARD ends with the routing guard in both families, after everything that serves the bridges', () => {
    for (const family of [4, 6] as const) {
      const lines = forwardOf(notRouter, family);
      expect(lines.at(-1)).toBe(GUARD);
      expect(lines.filter((l) => l === GUARD)).toHaveLength(1);
    }
  });

  it('a NEW flow from the uplink through the host to a LAN is dropped, whatever the FORWARD policy; so is one from the LAN out', () => {
    for (const [src, dst, inInterface] of [
      ['203.0.113.9', '192.168.7.20', 'eth0'],
      ['2001:db8:99::9', '2001:db8:7::20', 'eth0'],
      ['192.168.7.20', '203.0.113.9', 'eth1'],
    ] as const) {
      const family = dst.includes(':') ? 6 : 4;
      const r = traceIn(kernelOf(notRouter, family, FORWARD_ACCEPT), tcp(src, dst, 22, { inInterface }), LAN_HOST);
      expect([r.verdict, r.decidedBy?.line]).toEqual(['drop', GUARD]);
    }
  });

  it('dnat into a container and a container\'s egress still pass', () => {
    const r = traceIn(kernelOf(notRouter, 4, FORWARD_ACCEPT), tcp('203.0.113.9', '10.0.0.5', 8080), LAN_HOST);
    expect([r.verdict, r.dnat?.dst]).toEqual(['accept', '172.17.0.2']);
    const out = traceIn(kernelOf(notRouter, 4, FORWARD_ACCEPT), tcp('172.17.0.2', '203.0.113.9', 443, { inInterface: 'docker0' }), LAN_HOST);
    expect(out.verdict).toBe('accept');
  });

  it('a host that routed before dockgate (all.forwarding=1) keeps routing in that family: no guard there', () => {
    const router = plan([web], [BRIDGE, DUAL], { adminRouting: [4] });
    expect(forwardOf(router, 4)).not.toContain(GUARD);
    expect(forwardOf(router, 6)).toContain(GUARD);
    expect(traceIn(kernelOf(router, 4, FORWARD_ACCEPT), tcp('203.0.113.9', '192.168.7.20', 22), LAN_HOST).verdict).toBe('accept');
  });

  it('routing not read (a plan that is never written): no guard', () => {
    expect(forwardOf(plan([web], [BRIDGE]), 4)).not.toContain(GUARD);
  });
});

describe('replies to containers on a global IPv6 subnet (item 15)', () => {
  const PUB: NetworkFacts = { ...DUAL, id: 'ab'.repeat(32), name: 'pub', bridge: 'br-abababababab', subnets6: ['2001:db8:77::/64'] };
  const p = plan([container('out', { network: PUB, ip: '172.23.0.2', ip6: '2001:db8:77::2' })], [BRIDGE, DUAL, PUB]);

  it('a routed subnet gets no direct-access drop in raw, where replies look like direct access', () => {
    expect(rawOf(p, 6).join('\n')).not.toContain('2001:db8:77::');
    // Masqueraded subnets keep theirs: their replies reach raw addressed to the host.
    expect(rawOf(p, 6)).toContain('-d fd00:db8:1::/64 ! -i br-eeeeeeeeeeee -m comment --comment "dockgate no direct access to dual" -j DROP');
    expect(rawOf(p, 4).join('\n')).toContain('-d 172.23.0.0/24 ! -i br-abababababab');
  });

  it('the direct-access drop moves to FORWARD, where conntrack tells replies and DNATed flows apart', () => {
    expect(forwardOf(p, 6)).toContain(
      '-d 2001:db8:77::/64 ! -i br-abababababab -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -m comment --comment "dockgate no direct access to pub" -j DROP',
    );
    const r = traceIn(kernelOf(p, 6, FORWARD_ACCEPT), tcp('2001:db8:99::9', '2001:db8:77::2', 80));
    expect([r.verdict, r.decidedBy?.line]).toEqual(['drop', expect.stringContaining('no direct access to pub')]);
  });

  it('masquerading every IPv6 subnet (ipv6_masquerade: all) keeps the drop in raw', () => {
    const all = plan([], [BRIDGE, PUB], { ipv6Masquerade: 'all' });
    expect(rawOf(all, 6).join('\n')).toContain('-d 2001:db8:77::/64 ! -i br-abababababab');
    expect(forwardOf(all, 6).join('\n')).not.toContain('no direct access');
  });

  it('an internal network keeps it in raw: nothing of it leaves, so no reply comes back', () => {
    const sealed: NetworkFacts = { ...PUB, internal: true };
    expect(rawOf(plan([], [BRIDGE, sealed]), 6).join('\n')).toContain('-d 2001:db8:77::/64 ! -i br-abababababab');
  });

  it('renders as iptables-restore accepts it', () => {
    expect(renderPlan(familyRuleSet(p, 6)!)).toContain('-A DOCKGATE-FORWARD -d 2001:db8:77::/64 ! -i br-abababababab -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT');
  });
});
