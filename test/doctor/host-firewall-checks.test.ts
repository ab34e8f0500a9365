// doctor's host-firewall checks, from captured rulesets: the shape is listed, and any opening a
// foreign chain blocks fails, naming the chain; a firewalld that blocks fails too.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyse } from '../../src/hostfw/analysis.js';
import { chainsNeedingFootprint } from '../../src/hostfw/footprint-spots.js';
import { type NftRuleset, chainLabel, parseNftJson } from '../../src/hostfw/nft-ruleset.js';
import type { DoctorFacts } from '../../src/doctor/facts.js';
import type { HostFirewallFacts } from '../../src/dataplane/host-facts.js';
import { checkHostFirewall } from '../../src/doctor/host-firewall-checks.js';
import { parseSave } from '../../src/plan/kernel-state.js';
import { DEFAULT_MARK_BIT } from '../../src/model/mark-bit.js';
import { fixturePlan } from '../hostfw/plan-fixture.js';

const fixture = (name: string): NftRuleset => parseNftJson(readFileSync(join(import.meta.dirname, '..', 'hostfw', 'fixtures', `${name}.json`), 'utf8'));
const plan = fixturePlan();

function facts(rs: NftRuleset, extra: Partial<HostFirewallFacts> = {}, legacy = ''): DoctorFacts {
  const marksInPlace = extra.footprint?.marksInPlace ?? false;
  const hostFirewall: HostFirewallFacts = {
    mode: 'allow',
    nft: { ok: true, ruleset: rs },
    ufw: undefined,
    firewalld: [],
    footprint: {
      needed: chainsNeedingFootprint(plan, rs).map(chainLabel),
      footprints: [],
      marksInPlace,
      verdicts: analyse(plan, rs, { marksInPlace, mark: DEFAULT_MARK_BIT }),
    },
    ...extra,
  };
  return {
    iptables: { command: 'iptables-save', found: true, backend: 'nf_tables', state: parseSave('*filter\n:INPUT DROP [0:0]\n:ufw-before-input - [0:0]\nCOMMIT\n') },
    backends: { legacy: { command: 'iptables-legacy-save', found: true, backend: 'legacy', state: parseSave(legacy) } },
    hostFirewall,
  } as unknown as DoctorFacts;
}

const byName = (f: DoctorFacts) => Object.fromEntries(checkHostFirewall(f).map((c) => [c.name, c]));

describe('doctor: host firewall', () => {
  it('lists the shape: backend, legacy tables, nft tables with their base chains and policies, ufw, firewalld', () => {
    const c = byName(facts(fixture('admin-drop'), { ufw: { enabled: true } }))['host-firewall']!;
    expect(c.status).toBe('ok');
    expect(c.detail).toContain('iptables backend nf_tables');
    expect(c.detail).toContain('inet admin: input (filter hook input priority 0, policy drop), forward (filter hook forward priority 0, policy drop)');
    expect(c.detail).toContain('ufw enabled (1 ufw-* chains');
    expect(c.detail).toContain('firewalld not running');
    expect(c.detail).not.toContain('ip filter');
  });

  it('warns when the legacy backend holds rules too (both run; dockgate opens only one)', () => {
    const c = byName(facts(fixture('debian-default'), {}, '*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n'))['host-firewall']!;
    expect(c.status).toBe('warn');
    expect(c.detail).toContain('iptables-legacy tables in use: filter (1 rules, policy INPUT DROP)');
  });

  it('fails naming the chain when an opening is blocked; ok once the footprint and marks are in', () => {
    const blocked = byName(facts(fixture('admin-drop')))['foreign-chains']!;
    expect(blocked.status).toBe('fail');
    expect(blocked.detail).toContain('web 10.0.0.5:8000/tcp: blocked by inet admin input (policy drop; new connections)');
    expect(blocked.detail).toContain('is it running?');
    const left = byName(facts(fixture('admin-drop'), { mode: 'leave' }))['foreign-chains']!;
    expect(left.detail).toContain('foreign_chains is leave');
    const rs = fixture('admin-drop+footprint');
    const fixed = byName(
      facts(rs, { footprint: { needed: ['inet admin input', 'inet admin forward'], footprints: ['inet admin input', 'inet admin forward'], marksInPlace: true, verdicts: analyse(plan, rs, { marksInPlace: true, mark: DEFAULT_MARK_BIT }) } }),
    )['foreign-chains']!;
    expect(fixed.status).toBe('ok');
    expect(fixed.detail).toContain("dockgate's mark accept is in inet admin input, inet admin forward");
  });

  it('never ok when the openings could not be judged or nft cannot be read', () => {
    expect(byName(facts(fixture('admin-drop'), { footprint: undefined, notJudged: 'Docker away' }))['foreign-chains']!.status).toBe('warn');
    expect(byName(facts(fixture('admin-drop'), { nft: { ok: false, error: 'exit 1: no permission', missing: false } }))['foreign-chains']!.status).toBe('fail');
  });

  it('firewalld: fails when its chains block an opening', () => {
    const rs = parseNftJson(
      JSON.stringify({
        nftables: [
          { table: { family: 'inet', name: 'firewalld', handle: 1 } },
          { chain: { family: 'inet', table: 'firewalld', name: 'filter_INPUT', handle: 1, type: 'filter', hook: 'input', prio: 10, policy: 'accept' } },
          { rule: { family: 'inet', table: 'firewalld', chain: 'filter_INPUT', handle: 2, expr: [{ reject: { type: 'icmpx', expr: 'admin-prohibited' } }] } },
        ],
      }),
    );
    const c = byName(facts(rs, { firewalld: ['table inet firewalld'] }))['firewalld']!;
    expect(c.status).toBe('fail');
    expect(c.detail).toContain('inet firewalld filter_INPUT drops');
    expect(byName(facts(fixture('debian-default'), { firewalld: ['process 42'] }))['firewalld']!.status).toBe('ok');
  });
});
