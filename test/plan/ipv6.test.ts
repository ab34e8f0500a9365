// IPv6 parity (issue 11): the same planner writes ip6tables rules for the `::` and IPv6 bindings
// Docker makes, from the IPv6 sources of `from`, with DNAT to IPv6 container addresses.
import { describe, expect, it } from 'vitest';
import type { ContainerFacts, NetworkFacts, RuleSet } from '../../src/model/types.js';
import { renderPlan } from '../../src/plan/restore.js';
import { familyRuleSet, type PlanInput } from '../../src/plan/ruleset.js';
import { BRIDGE, DUAL, container, plan as planOn, shardLines } from './fixtures.js';

const plan = (containers: ContainerFacts[], networks: NetworkFacts[] = [BRIDGE, DUAL], extra: Partial<PlanInput> = {}): RuleSet => planOn(containers, networks, extra);

const v6 = (p: RuleSet): RuleSet => familyRuleSet(p, 6)!;

const of = (p: RuleSet, name: string) => p.containers.find((c) => c.name === name)!;

const WEB = 'c0ffee000061'.padEnd(64, '0');
const API = 'c0ffee000062'.padEnd(64, '0');
const JAIL = 'c0ffee000063'.padEnd(64, '0');
/** With the MAC Docker derives from the IPv4 address, from which the kernel makes the link-local one. */
const dual = (name: string, id: string, n: number, labels: Record<string, string>, publish: string[] = []): ContainerFacts => {
  const c = container(name, { id, network: DUAL, ip: `172.23.0.${n}`, ip6: `fd00:db8:1::${n}`, labels, publish });
  return { ...c, networks: c.networks.map((a) => ({ ...a, mac: `02:42:ac:17:00:0${n}` })) };
};

describe('IPv6 rules', () => {
  const scenario = (): RuleSet =>
    plan([
      dual('web', WEB, 2, { 'dockgate.ports': '80' }, ['0.0.0.0:8000:80/tcp', '[::]:8000:80/tcp']),
      dual('api', API, 3, { 'dockgate.ports': '8080:80', 'dockgate.mode': 'dnat', 'dockgate.from': '10.0.0.0/8,2001:db8:9::/48' }),
      dual('jail', JAIL, 4, { 'dockgate.egress': 'false' }),
    ]);

  it('golden: dual-stack network, proxy on ::, dnat to the IPv6 address, ULA masqueraded', async () => {
    await expect(renderPlan(v6(scenario()))).toMatchFileSnapshot('golden/ipv6-dual-stack.rules');
  });

  it('a plain -p (0.0.0.0 and ::) is opened in both families, each for local destinations only', () => {
    const p = scenario();
    expect(shardLines(p, 'DOCKGATE-OPENINGS')).toEqual([expect.stringMatching(/^-p tcp -m tcp --dport 8000 -m addrtype --dst-type LOCAL /)]);
    expect(shardLines(v6(p), 'DOCKGATE-OPENINGS')).toEqual([expect.stringMatching(/^-p tcp -m tcp --dport 8000 -m addrtype --dst-type LOCAL /)]);
    expect(of(p, 'web').openings.map((o) => o.family)).toEqual([4, 6]);
  });

  it('dnat to the container\'s IPv6 address, from the IPv6 sources only', () => {
    const dnat = shardLines(v6(scenario()), 'DOCKGATE-DNAT');
    expect(dnat).toEqual([expect.stringMatching(/^-s 2001:db8:9::\/48 -p tcp -m tcp --dport 8080 .* -j DNAT --to-destination \[fd00:db8:1::3\]:80$/)]);
    expect(shardLines(scenario(), 'DOCKGATE-DNAT')).toEqual([expect.stringMatching(/^-s 10\.0\.0\.0\/8 .* --to-destination 172\.23\.0\.3:80$/)]);
  });

  it('an IPv4-only from closes IPv6 for that container, and the other way round', () => {
    const p = plan([
      dual('four', WEB, 2, { 'dockgate.ports': '80', 'dockgate.from': '192.0.2.0/24' }, ['0.0.0.0:8000:80/tcp', '[::]:8000:80/tcp']),
      dual('six', API, 3, { 'dockgate.ports': '80', 'dockgate.from': '2001:db8::/32' }, ['0.0.0.0:8001:80/tcp', '[::]:8001:80/tcp']),
    ]);
    expect(of(p, 'four').openings.map((o) => o.family)).toEqual([4]);
    expect(of(p, 'six').openings.map((o) => o.family)).toEqual([6]);
    expect(of(p, 'four').warnings.join()).toMatch(/no IPv6 source in dockgate.from: nothing opened over IPv6/);
    expect(shardLines(v6(p), 'DOCKGATE-OPENINGS').join('\n')).not.toMatch(/--dport 8000/);
    expect(shardLines(p, 'DOCKGATE-OPENINGS').join('\n')).not.toMatch(/--dport 8001/);
  });

  it('egress, isolation, direct-access drop and guards exist for IPv6 too; global subnets are routed, not masqueraded', () => {
    const global: NetworkFacts = { ...DUAL, id: 'ab'.repeat(32), name: 'pub', bridge: 'br-abababababab', subnets6: ['2001:db8:7::/64'] };
    const p = v6(plan([dual('jail', JAIL, 4, { 'dockgate.egress': 'false' })], [BRIDGE, DUAL, global]));
    const text = renderPlan(p);
    expect(text).toMatch(/-A DOCKGATE-POSTROUTING -s fd00:db8:1::\/64 ! -o br-eeeeeeeeeeee .* -j MASQUERADE/);
    expect(text).not.toMatch(/-s 2001:db8:7::\/64 ! -o .*MASQUERADE/);
    // Routed: its replies come addressed to the containers, so the drop waits for conntrack (FORWARD).
    expect(text).not.toMatch(/-A DOCKGATE-RAW -d 2001:db8:7::\/64/);
    expect(text).toMatch(/-A DOCKGATE-FORWARD -d 2001:db8:7::\/64 ! -i br-abababababab -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT .* -j DROP/);
    expect(text).toMatch(/-A DOCKGATE-FORWARD -i br-eeeeeeeeeeee -o br-abababababab -m conntrack ! --ctstate DNAT .* -j DROP/);
    expect(text).toMatch(/-A DOCKGATE-INPUT -s fd00:db8:1::4\/128 -i br-eeeeeeeeeeee .* -j RETURN/);
    expect(text).not.toMatch(/127\.0\.0\.0|::1/);
    const all = renderPlan(v6(plan([], [BRIDGE, DUAL, global], { ipv6Masquerade: 'all' })));
    expect(all).toMatch(/-s 2001:db8:7::\/64 ! -o .*MASQUERADE/);
  });

  it('a port published on [::1] is not DNATed: proxy works, dnat is refused with a clear error', () => {
    const proxy = plan([dual('lo6', WEB, 2, { 'dockgate.ports': '80' }, ['[::1]:8000:80/tcp'])]);
    expect(shardLines(v6(proxy), 'DOCKGATE-OPENINGS')).toEqual([expect.stringMatching(/^-d ::1\/128 -p tcp -m tcp --dport 8000 /)]);
    const dnat = plan([dual('lo6', WEB, 2, { 'dockgate.ports': '80', 'dockgate.mode': 'dnat' }, ['[::1]:8000:80/tcp'])]);
    expect(of(dnat, 'lo6').errors[0]?.reason).toMatch(/cannot be DNATed \(IPv6 has no route_localnet\)/);
    expect(shardLines(v6(dnat), 'DOCKGATE-DNAT')).toEqual([]);
  });

  it('a host without IPv6 gets an IPv4-only plan', () => {
    const p = plan([dual('web', WEB, 2, { 'dockgate.ports': '80' }, ['0.0.0.0:8000:80/tcp', '[::]:8000:80/tcp'])], [BRIDGE, DUAL], { ipv6: false });
    expect(p.ipv6).toBeUndefined();
    expect(of(p, 'web').openings.map((o) => o.family)).toEqual([4]);
  });
});
