// Egress allow-lists in the plan: one accept per destination of the family, the resolvers on
// port 53, guards as for a container without egress, and the readers of the plan (marks, the
// host-firewall analysis) still seeing them.
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

describe('egress allow-lists in the plan', () => {
  it('golden: IPv4 and IPv6 halves', async () => {
    await expect(renderPlan(familyRuleSet(scenario(), 4)!)).toMatchFileSnapshot('golden/egress-allow-list.rules');
    await expect(renderPlan(v6(scenario()))).toMatchFileSnapshot('golden/ipv6-egress-allow-list.rules');
  });

  it('one accept per destination of the family, then the resolvers on 53 udp and tcp', () => {
    const tail = '-m conntrack --ctstate NEW -m comment --comment "listed/c0ffee000071" -j ACCEPT';
    expect(mine(shardLines(scenario(), 'DOCKGATE-CONTAINERS'), 'listed')).toEqual([
      `-s 172.23.0.2/32 -d 10.0.0.9/32 -i br-eeeeeeeeeeee -p tcp -m tcp --dport 7001 ${tail}`,
      `-s 172.23.0.2/32 -d 10.0.0.9/32 -i br-eeeeeeeeeeee -p udp -m udp --dport 7100:7110 ${tail}`,
      `-s 172.23.0.2/32 -d 192.168.0.0/16 -i br-eeeeeeeeeeee ${tail}`,
      `-s 172.23.0.2/32 -d 10.0.0.53/32 -i br-eeeeeeeeeeee -p udp -m udp --dport 53 ${tail}`,
      `-s 172.23.0.2/32 -d 10.0.0.53/32 -i br-eeeeeeeeeeee -p tcp -m tcp --dport 53 ${tail}`,
    ]);
    expect(mine(shardLines(v6(scenario()), 'DOCKGATE-CONTAINERS'), 'listed')).toEqual([
      `-s fd00:db8:1::2/128 -d 2001:db8:9::/48 -i br-eeeeeeeeeeee -p tcp -m tcp --dport 443 ${tail}`,
      `-s fd00:db8:1::2/128 -d 2001:db8:7::1/128 -i br-eeeeeeeeeeee ${tail}`,
      `-s fd00:db8:1::2/128 -d 2001:db8:53::1/128 -i br-eeeeeeeeeeee -p udp -m udp --dport 53 ${tail}`,
      `-s fd00:db8:1::2/128 -d 2001:db8:53::1/128 -i br-eeeeeeeeeeee -p tcp -m tcp --dport 53 ${tail}`,
    ]);
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
    const shard = marks.chains.filter((c) => c.name.startsWith('DOCKGATE-MCONTAINERS-')).flatMap((c) => linesOf(c)).filter((l) => l.includes('listed/'));
    expect(shard).toHaveLength(5);
    expect(shard.every((l) => / -j MARK --set-xmark \S+$/.test(l))).toBe(true);
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
    expect(mine(shardLines(p, 'DOCKGATE-CONTAINERS'), 'names')[0]).toBe(
      `-s 172.23.0.2/32 -i br-eeeeeeeeeeee -p tcp -m tcp --dport 443 -m set --match-set ${set4} dst -m conntrack --ctstate NEW -m comment --comment "names/c0ffee000071" -j ACCEPT`,
    );
    expect(mine(shardLines(v6(p), 'DOCKGATE-CONTAINERS'), 'names')).toHaveLength(3);
    // The host-firewall analysis still sees its egress.
    expect(flowsOf(p, true).filter((f) => f.kind === 'egress').map((f) => f.source)).toEqual(['172.23.0.2', 'fd00:db8:1::2']);
    // The strict restore grammar takes them (checked on every write).
    expect(checkRestore(renderPlan(p))).toEqual([]);
    expect(checkRestore(renderPlan(v6(p)), { family: 6 })).toEqual([]);
  });

  it('on a host without ipset names allow nothing and say so; addresses and resolvers stay', () => {
    const p = plan([dual('names', LISTED, 2, { 'dockgate.egress': 'api.example.com:443,10.0.0.9:7001' })], [DUAL], { resolvers: RESOLVERS, egressNames: false });
    expect(p.egressSets).toBeUndefined();
    const lines = mine(shardLines(p, 'DOCKGATE-CONTAINERS'), 'names');
    expect(lines.some((l) => l.includes('match-set'))).toBe(false);
    expect(lines).toHaveLength(3);
    expect(p.containers[0]!.warnings).toContain('egress names api.example.com allow nothing: ipset is not installed (apt-get install ipset)');
  });

  it('a plan without names has no sets', () => {
    expect(scenario().egressSets).toBeUndefined();
  });
});
