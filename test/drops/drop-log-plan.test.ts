// drops.log never opens or closes anything: over every golden fixture, the plan with the log on
// is the plan with it off plus NFLOG lines (and the jump to the chains that hold only those).
import { describe, expect, it } from 'vitest';
import type { ChainPlan, FamilyRules, RuleSet } from '../../src/model/types.js';
import { DROPS, INPUT, isManagedChain } from '../../src/plan/chains.js';
import { type DropLogSettings, dropPrefix } from '../../src/plan/drop-log.js';
import { renderPlan } from '../../src/plan/restore.js';
import { CHAIN_RULES, SPOOF_LIMIT, renderBridgeTable } from '../../src/plan/antispoof.js';
import { familyRuleSet } from '../../src/plan/ruleset.js';
import { BRIDGE, DUAL, container, plan } from '../plan/fixtures.js';
import { API, BAD, LOOSE, WEB, dualStackScenario, goldenScenarios } from '../plan/golden-scenarios.js';
import { linesOf } from '../../src/plan/render.js';

const LOG: DropLogSettings = { group: 2371, ratePerSecond: 5, burst: 20 };
const scenarios = { ...goldenScenarios, 'ipv6-dual-stack': dualStackScenario };

const isLog = (line: string): boolean => / -j NFLOG --nflog-prefix "dockgate:[a-z-]+:[-0-9a-f]+" --nflog-group 2371$/.test(line);
const isDropsJump = (line: string): boolean => new RegExp(` -j ${DROPS}(-[0-9a-f]{2})?$`).test(line);

function families(p: RuleSet): FamilyRules[] {
  return [p, ...(p.ipv6 ? [p.ipv6] : [])];
}

function byName(chains: ChainPlan[]): Map<string, ChainPlan> {
  return new Map(chains.map((c) => [`${c.table}/${c.name}`, c]));
}

describe('drop log: only NFLOG lines, over every golden fixture', () => {
  it.each(Object.keys(scenarios))('%s', (name) => {
    const make = scenarios[name as keyof typeof scenarios]!;
    const off = make();
    const on = make({ dropLog: LOG });
    expect(on.containers).toEqual(off.containers);
    // The bridge table: the same sets and elements, the same drops; in front of each, a log rule.
    expect(on.bridge?.owners).toEqual(off.bridge?.owners);
    if (off.bridge) {
      const before = renderBridgeTable(off.bridge).split('\n');
      const added = renderBridgeTable(on.bridge!).split('\n').filter((l) => !before.includes(l));
      expect(added.length).toBe(CHAIN_RULES.filter((r) => r.includes(' drop ')).length + 1);
      for (const l of added) expect(l).toMatch(new RegExp(`limit name "${SPOOF_LIMIT}" log prefix "dockgate:spoofed:-" group 2371$|^  limit ${SPOOF_LIMIT} \\{ rate 5/second burst 20 packets \\}$`));
    }
    expect(on.granted).toEqual(off.granted);
    const [offFamilies, onFamilies] = [families(off), families(on)];
    expect(onFamilies.length).toBe(offFamilies.length);
    let logged = 0;
    for (let i = 0; i < offFamilies.length; i++) {
      const a = offFamilies[i]!;
      const b = onFamilies[i]!;
      expect(b.jumps).toEqual(a.jumps);
      const before = byName(a.chains);
      const after = byName(b.chains);
      // Every chain of the plan without the log is there, in the same order, with the same lines
      // once the log lines are taken out.
      expect([...after.keys()].filter((k) => before.has(k))).toEqual([...before.keys()]);
      for (const [key, chain] of before) {
        const withLog = after.get(key)!;
        expect(withLog.kind).toBe(chain.kind);
        expect(linesOf(withLog).filter((l) => !isLog(l) && !isDropsJump(l))).toEqual(linesOf(chain));
        logged += linesOf(withLog).filter(isLog).length;
      }
      // The chains the log adds hold log lines and jumps between them only.
      for (const [key, chain] of after) {
        if (before.has(key)) continue;
        expect(chain.name.startsWith(DROPS)).toBe(true);
        expect(isManagedChain(chain.name)).toBe(true);
        for (const line of linesOf(chain)) expect(isLog(line) || isDropsJump(line), line).toBe(true);
        logged += linesOf(chain).filter(isLog).length;
      }
    }
    expect(logged).toBeGreaterThan(0);
  });

  it('the golden files are the plans with the log off (they carry no NFLOG line)', () => {
    for (const make of Object.values(scenarios)) expect(renderPlan(make())).not.toContain('NFLOG');
  });
});

describe('drop log: reasons and attribution', () => {
  const lines = (p: RuleSet, chain: string): string[] => p.chains.filter((c) => c.name === chain || c.name.startsWith(`${chain}-`)).flatMap((c) => linesOf(c));

  it('renders as iptables-save prints it: hashlimit per reason, then comment, then NFLOG', () => {
    const p = goldenScenarios['unlabelled-bad-and-egress-off']!({ dropLog: LOG });
    expect(lines(p, DROPS)).toContain(
      `-p tcp -m tcp --dport 9000 -m addrtype --dst-type LOCAL -m conntrack --ctstate NEW -m hashlimit --hashlimit-upto 5/sec --hashlimit-burst 20 --hashlimit-name dg-not-labelled -m comment --comment "loose/${LOOSE.slice(0, 12)}" -j NFLOG --nflog-prefix "dockgate:not-labelled:${LOOSE.slice(0, 12)}" --nflog-group 2371`,
    );
    // A container whose labels are wrong gets nothing opened: its port is logged as not labelled too.
    expect(lines(p, DROPS).some((l) => l.includes(`"${dropPrefix('not-labelled', BAD)}"`) && l.includes('--dport 80 '))).toBe(true);
    expect(linesOf(p.chains.find((c) => c.name === INPUT)!).at(-1)).toBe(`-m comment --comment dockgate -j ${DROPS}`);
  });

  it('sources outside `from` are logged after the accepts, on the opening\'s host port', () => {
    const p = goldenScenarios['dnat-mapping-and-sources']!({ dropLog: LOG });
    const mine = lines(p, DROPS).filter((l) => l.includes(dropPrefix('source-not-allowed', API)));
    expect(mine.map((l) => /--dport (\d+)/.exec(l)![1]).sort()).toEqual(['5353', '8080']);
    expect(mine.find((l) => l.includes('--dport 8080'))).toMatch(/^-d 10\.0\.0\.5\/32 -p tcp /);
  });

  it('an opened port with no source list is not logged; a published port of another family is not-labelled', () => {
    const p = goldenScenarios['proxy-basic']!({ dropLog: LOG });
    expect(lines(p, DROPS).filter(isLog)).toEqual([]);
    const only4 = plan([container('web', { id: WEB, labels: { 'dockgate.ports': '8000', 'dockgate.from': '10.0.0.0/8' }, publish: ['0.0.0.0:8000:8000/tcp', '[::]:8000:8000/tcp'] })], [BRIDGE], { dropLog: LOG });
    // `from` names no IPv6 source: the label opened the port, `from` refused the family.
    expect(lines(familyRuleSet(only4, 6)!, DROPS).filter(isLog)).toEqual([expect.stringContaining(dropPrefix('source-not-allowed', WEB))]);
  });

  it('network-wide drops are logged in front of the drop with the same matches', () => {
    const p = goldenScenarios['networks-two-user-bridges']!({ dropLog: LOG });
    const forward = linesOf(p.chains.find((c) => c.name === 'DOCKGATE-FORWARD')!);
    for (const [i, line] of forward.entries()) {
      if (!isLog(line)) continue;
      const drop = forward[i + 1]!;
      expect(drop.endsWith('-j DROP'), drop).toBe(true);
    }
    expect(forward.filter((l) => l.includes('"dockgate:isolation:-"'))).toHaveLength(6);
    expect(forward.filter((l) => l.includes('"dockgate:egress-denied:-"'))).toHaveLength(3);
    const raw = linesOf(p.chains.find((c) => c.name === 'DOCKGATE-RAW')!);
    expect(raw.filter((l) => l.includes('"dockgate:direct-access:-"'))).toHaveLength(3);
    expect(linesOf(familyRuleSet(dualStackScenario({ dropLog: LOG }), 6)!.chains.find((c) => c.name === 'DOCKGATE-RAW')!).some((l) => l.includes('direct-access'))).toBe(true);
    void DUAL;
  });
});
