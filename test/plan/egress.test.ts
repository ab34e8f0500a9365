// Egress allow-lists in the plan: one shared chain per list and family, with one accept per
// destination of the family and the resolvers on port 53; one jump per container address; guards
// as for a container without egress, and the readers of the plan (marks, the host-firewall
// analysis) still seeing them.
import { describe, expect, it } from 'vitest';
import type { ContainerFacts, RuleSet } from '../../src/model/types.js';
import { familyRuleSet } from '../../src/plan/ruleset.js';
import { renderPlan } from '../../src/plan/restore.js';
import { markPlan } from '../../src/plan/marks.js';
import { flowsOf } from '../../src/hostfw/flows.js';
import { checkRestore } from '../../src/plan/restore-grammar.js';
import { BRIDGE, DUAL, container, plan, shardLines } from './fixtures.js';
import { linesOf } from '../../src/plan/render.js';

const LISTED = 'c0ffee000071'.padEnd(64, '0');
const OPEN = 'c0ffee000072'.padEnd(64, '0');
const RESOLVERS = ['10.0.0.53', '2001:db8:53::1', '127.0.0.53'];

const dual = (name: string, id: string, n: number, labels: Record<string, string>): ContainerFacts =>
  container(name, { id, network: DUAL, ip: `172.23.0.${n}`, ip6: `fd00:db8:1::${n}`, labels });

const LIST = '10.0.0.9:7001,10.0.0.9:7100-7110/udp,192.168.0.0/16,[2001:db8:9::/48]:443,2001:db8:7::1';

function scenario(): RuleSet {
  return plan([dual('listed', LISTED, 2, { 'dockgate.egress': LIST }), dual('open', OPEN, 3, {})], [BRIDGE, DUAL], { resolvers: RESOLVERS });
}
const v6 = (p: RuleSet): RuleSet => familyRuleSet(p, 6)!;
const mine = (lines: string[], who: string): string[] => lines.filter((l) => l.includes(`"${who}/`));
/** The lines of the egress chain(s) a plan's shards jump to. */
const egressChains = (p: Pick<RuleSet, 'chains'>): Array<{ name: string; lines: string[] }> =>
  p.chains.filter((c) => c.name.startsWith('DOCKGATE-EGRESS-')).map((c) => ({ name: c.name, lines: linesOf(c) }));

describe('egress allow-lists in the plan', () => {
  it('golden: IPv4 and IPv6 halves', async () => {
    await expect(renderPlan(familyRuleSet(scenario(), 4)!)).toMatchFileSnapshot('golden/egress-allow-list.rules');
    await expect(renderPlan(v6(scenario()))).toMatchFileSnapshot('golden/ipv6-egress-allow-list.rules');
  });

  it('one jump per container address to the list\'s chain: one accept per destination of the family, then the resolvers on 53 udp and tcp', () => {
    const [v4chain] = egressChains(scenario());
    const [v6chain] = egressChains(v6(scenario()));
    expect(v4chain!.name).toMatch(/^DOCKGATE-EGRESS-[0-9a-f]{10}$/);
    expect(mine(shardLines(scenario(), 'DOCKGATE-CONTAINERS'), 'listed')).toEqual([
      `-s 172.23.0.2/32 -i br-eeeeeeeeeeee -m conntrack --ctstate NEW -m comment --comment "listed/c0ffee000071" -j ${v4chain!.name}`,
    ]);
    expect(v4chain!.lines).toEqual([
      '-d 10.0.0.9/32 -p tcp -m tcp --dport 7001 -m comment --comment "dockgate egress to 10.0.0.9/32 port 7001/tcp" -j ACCEPT',
      '-d 10.0.0.9/32 -p udp -m udp --dport 7100:7110 -m comment --comment "dockgate egress to 10.0.0.9/32 port 7100-7110/udp" -j ACCEPT',
      '-d 192.168.0.0/16 -m comment --comment "dockgate egress to 192.168.0.0/16" -j ACCEPT',
      '-d 10.0.0.53/32 -p udp -m udp --dport 53 -m comment --comment "dockgate egress to resolver 10.0.0.53" -j ACCEPT',
      '-d 10.0.0.53/32 -p tcp -m tcp --dport 53 -m comment --comment "dockgate egress to resolver 10.0.0.53" -j ACCEPT',
    ]);
    expect(mine(shardLines(v6(scenario()), 'DOCKGATE-CONTAINERS'), 'listed')).toEqual([
      `-s fd00:db8:1::2/128 -i br-eeeeeeeeeeee -m conntrack --ctstate NEW -m comment --comment "listed/c0ffee000071" -j ${v6chain!.name}`,
    ]);
    expect(v6chain!.lines).toEqual([
      '-d 2001:db8:9::/48 -p tcp -m tcp --dport 443 -m comment --comment "dockgate egress to 2001:db8:9::/48 port 443/tcp" -j ACCEPT',
      '-d 2001:db8:7::1/128 -m comment --comment "dockgate egress to 2001:db8:7::1/128" -j ACCEPT',
      '-d 2001:db8:53::1/128 -p udp -m udp --dport 53 -m comment --comment "dockgate egress to resolver 2001:db8:53::1" -j ACCEPT',
      '-d 2001:db8:53::1/128 -p tcp -m tcp --dport 53 -m comment --comment "dockgate egress to resolver 2001:db8:53::1" -j ACCEPT',
    ]);
  });

  it('containers with the same list share its chain: one jump each, the accepts once', () => {
    const many = Array.from({ length: 50 }, (_, i) => dual(`same${i}`, `c0ffee1${String(i).padStart(5, '0')}`.padEnd(64, '0'), 10 + i, { 'dockgate.egress': LIST }));
    const other = dual('other', 'c0ffee200000'.padEnd(64, '0'), 90, { 'dockgate.egress': '10.0.0.9:7001' });
    const p = plan([...many, other], [BRIDGE, DUAL], { resolvers: RESOLVERS });
    const chains = egressChains(p);
    expect(chains).toHaveLength(2);
    const shared = chains.find((c) => c.lines.length === 5)!;
    const jumps = shardLines(p, 'DOCKGATE-CONTAINERS').filter((l) => l.endsWith(`-j ${shared.name}`));
    expect(jumps).toHaveLength(50);
    // A list in another order or with another resolver is another chain; the same list, the same name.
    const again = plan([many[0]!], [BRIDGE, DUAL], { resolvers: RESOLVERS });
    expect(egressChains(again).map((c) => c.name)).toEqual([shared.name]);
    const otherResolver = plan([many[0]!], [BRIDGE, DUAL], { resolvers: ['10.0.0.54'] });
    expect(egressChains(otherResolver).map((c) => c.name)).not.toEqual([shared.name]);
    // The strict restore grammar takes them (checked on every write).
    expect(checkRestore(renderPlan(p))).toEqual([]);
    expect(checkRestore(renderPlan(v6(p)), { family: 6 })).toEqual([]);
  });

  it('a container without a list keeps its one accept to everywhere', () => {
    expect(mine(shardLines(scenario(), 'DOCKGATE-CONTAINERS'), 'open')).toEqual([
      '-s 172.23.0.3/32 -i br-eeeeeeeeeeee -m conntrack --ctstate NEW -m comment --comment "open/c0ffee000072" -j ACCEPT',
    ]);
  });

  it('a list denies the host\'s published ports too: guarded like egress off', () => {
    const input = linesOf(scenario().chains.find((c) => c.name === 'DOCKGATE-INPUT')!);
    expect(mine(input, 'listed')).toEqual(['-s 172.23.0.2/32 -i br-eeeeeeeeeeee -m comment --comment "listed/c0ffee000071" -j RETURN']);
    expect(mine(input, 'open')).toEqual([]);
  });

  it('the plan says where the container may go', () => {
    const c = scenario().containers.find((x) => x.name === 'listed')!;
    expect(c.egress).toBe(true);
    expect(c.egressTo).toHaveLength(5);
    expect(scenario().containers.find((x) => x.name === 'open')!.egressTo).toBeUndefined();
  });

  it('the mangle marks mirror every accept, and the host-firewall analysis sees one egress flow per address', () => {
    const marks = markPlan(scenario());
    const [chain] = egressChains(scenario());
    const shard = marks.chains.filter((c) => c.name.startsWith('DOCKGATE-MCONTAINERS-')).flatMap((c) => linesOf(c)).filter((l) => l.includes('listed/'));
    expect(shard).toEqual([expect.stringMatching(new RegExp(` -j ${chain!.name.replace('DOCKGATE-', 'DOCKGATE-M')}$`))]);
    const mirrored = marks.chains.find((c) => c.name === chain!.name.replace('DOCKGATE-', 'DOCKGATE-M'))!;
    expect(mirrored.name.length).toBeLessThanOrEqual(28);
    expect(linesOf(mirrored)).toHaveLength(5);
    expect(linesOf(mirrored).every((l) => / -j MARK --set-xmark \S+$/.test(l))).toBe(true);
    const egress = flowsOf(scenario(), true).filter((f) => f.kind === 'egress' && f.container === 'listed');
    expect(egress.map((f) => [f.family, f.source])).toEqual([
      [4, '172.23.0.2'],
      [6, 'fd00:db8:1::2'],
    ]);
  });

  it('a name matches its set in each family, whatever it resolves to; the plan lists the sets', () => {
    const p = plan([dual('names', LISTED, 2, { 'dockgate.egress': 'api.example.com:443,ntp.example.org:123/udp,api.example.com:8443' })], [DUAL]);
    const set4 = p.egressSets!.find((s) => s.family === 4 && s.name === 'api.example.com')!.set;
    const set6 = p.egressSets!.find((s) => s.family === 6 && s.name === 'api.example.com')!.set;
    expect(set4).toMatch(/^dockgate-e4-[0-9a-f]{12}$/);
    expect(set6).toBe(set4.replace('-e4-', '-e6-'));
    expect(p.egressSets!.map((s) => `${s.name}/${s.family}`)).toEqual(['api.example.com/4', 'api.example.com/6', 'ntp.example.org/4', 'ntp.example.org/6']);
    expect(egressChains(p)[0]!.lines[0]).toBe(
      `-p tcp -m tcp --dport 443 -m set --match-set ${set4} dst -m comment --comment "dockgate egress to a listed name port 443/tcp" -j ACCEPT`,
    );
    expect(egressChains(v6(p))[0]!.lines).toHaveLength(3);
    // The host-firewall analysis still sees its egress.
    expect(flowsOf(p, true).filter((f) => f.kind === 'egress').map((f) => f.source)).toEqual(['172.23.0.2', 'fd00:db8:1::2']);
    // The strict restore grammar takes them (checked on every write).
    expect(checkRestore(renderPlan(p))).toEqual([]);
    expect(checkRestore(renderPlan(v6(p)), { family: 6 })).toEqual([]);
  });

  it('on a host without ipset names allow nothing and say so; addresses and resolvers stay', () => {
    const p = plan([dual('names', LISTED, 2, { 'dockgate.egress': 'api.example.com:443,10.0.0.9:7001' })], [DUAL], { resolvers: RESOLVERS, egressNames: false });
    expect(p.egressSets).toBeUndefined();
    const lines = egressChains(p)[0]!.lines;
    expect(lines.some((l) => l.includes('match-set'))).toBe(false);
    expect(lines).toHaveLength(3);
    expect(p.containers[0]!.warnings).toContain('egress names api.example.com allow nothing: ipset is not installed (apt-get install ipset)');
  });

  it('a plan without names has no sets', () => {
    expect(scenario().egressSets).toBeUndefined();
  });

  it('a listed name never reaches the restore text: the accept names its set (label text stays out of the kernel)', () => {
    const p = plan([dual('names', LISTED, 2, { 'dockgate.egress': 'api.example.com:443,db.internal.test' })], [DUAL], { resolvers: RESOLVERS });
    for (const text of [renderPlan(p), renderPlan(v6(p))]) {
      expect(text).toContain('--match-set dockgate-e');
      expect(text).not.toContain('example.com');
      expect(text).not.toContain('internal.test');
    }
  });
});
