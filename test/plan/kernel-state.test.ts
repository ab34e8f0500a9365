// What dockgate reads from iptables-save, and what it is allowed to delete: pure tests on
// hand-written save texts (the real-kernel counterparts are in test/dataplane/foreign-rules.test.ts).
import { describe, expect, it } from 'vitest';
import type { ChainPlan, RuleSet } from '../../src/model/types.js';
import { JUMPS } from '../../src/plan/chains.js';
import { jumpLine, linesOf } from '../../src/plan/render.js';
import { rulesOf } from '../support/rule-text.js';
import { compare, emptyTables, parseSave, strayJumps } from '../../src/plan/kernel-state.js';
import { renderFlush, renderFull } from '../../src/plan/restore.js';

// Written by hand rather than planned: these tests are about reading and deleting, not planning.
const chain = (table: ChainPlan['table'], name: string, rules: string[], kind: ChainPlan['kind'] = 'ordered'): ChainPlan => ({ table, name, kind, rules: rulesOf(rules) });
const plan: RuleSet = {
  chains: [
    chain('raw', 'DOCKGATE-RAW', ['-d 172.17.0.0/16 ! -i docker0 -m comment --comment "dockgate no direct access to bridge" -j DROP']),
    chain('nat', 'DOCKGATE-PREROUTING', []),
    chain('nat', 'DOCKGATE-OUTPUT', []),
    chain('nat', 'DOCKGATE-POSTROUTING', ['-s 172.17.0.0/16 ! -o docker0 -m comment --comment "dockgate egress of bridge" -j MASQUERADE']),
    chain('filter', 'DOCKGATE-INPUT', ['-m comment --comment dockgate -j DOCKGATE-CI-c0ffee000001']),
    chain('filter', 'DOCKGATE-CI-c0ffee000001', ['-p tcp -m tcp --dport 8080 -m conntrack --ctstate NEW -m comment --comment "web/c0ffee000001" -j ACCEPT']),
    chain('filter', 'DOCKGATE-FORWARD', ['-o docker0 -m comment --comment "dockgate fail closed into bridge" -j DROP']),
  ],
  jumps: [...JUMPS],
  containers: [],
};

/** The kernel holding exactly `plan`, as iptables-save prints it, plus `extra` lines per table. */
function saveOf(p: RuleSet, extra: Partial<Record<'raw' | 'nat' | 'filter' | 'mangle', string[]>> = {}, skip: string[] = []): string {
  const builtins: Record<string, string[]> = {
    raw: ['PREROUTING', 'OUTPUT'],
    mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
    nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
    filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  };
  const out: string[] = [];
  for (const table of ['raw', 'mangle', 'nat', 'filter'] as const) {
    if (skip.includes(table)) continue;
    const chains = p.chains.filter((c) => c.table === table);
    const lines = extra[table] ?? [];
    if (table === 'mangle' && lines.length === 0) continue;
    out.push(`*${table}`, ...builtins[table]!.map((b) => `:${b} ACCEPT [0:0]`));
    out.push(...chains.map((c) => `:${c.name} - [0:0]`), ...lines.filter((l) => l.startsWith(':')));
    for (const j of p.jumps.filter((x) => x.table === table)) out.push(`-A ${j.builtin} ${jumpLine(j)}`);
    for (const c of chains) out.push(...linesOf(c).map((r) => `-A ${c.name} ${r}`));
    out.push(...lines.filter((l) => !l.startsWith(':')), 'COMMIT');
  }
  return `${out.join('\n')}\n`;
}

const INCOMPATIBLE = "# Table `filter' is incompatible, use 'nft' tool.";

describe('a table iptables-save cannot show', () => {
  const text = saveOf(plan, {}, ['filter']) + `${INCOMPATIBLE}\n`;

  it('is not read as an empty table: compare refuses, naming the table, the reason and the way out', () => {
    expect(() => compare(plan, parseSave(text))).toThrow(/filter.*incompatible[\s\S]*nft/);
    try {
      compare(plan, parseSave(text));
    } catch (err) {
      expect((err as Error).name).toBe('IncompatibleTableError');
      expect((err as Error).message).toMatch(/nft (-a )?list table ip filter/);
      expect((err as Error).message).toMatch(/will not write/);
    }
  });

  it('produces no write and no flush for any table', () => {
    const state = parseSave(text);
    expect(() => renderFull(plan, state)).toThrow(/filter/);
    expect(() => renderFlush(state)).toThrow(/filter/);
    // Never taken for an empty table a flush could delete: it holds the admin's nft rules.
    expect(emptyTables(state)).not.toContain('filter');
  });

  it('in a table dockgate does not manage, changes nothing', () => {
    const mangle = saveOf(plan) + "# Table `mangle' is incompatible, use 'nft' tool.\n";
    expect(compare(plan, parseSave(mangle)).clean).toBe(true);
  });
});

describe('what repair and flush may delete', () => {
  const adminJump = '-s 10.9.0.0/16 -j DOCKGATE-INPUT';

  it("an admin's hand-made jump into a dockgate chain is reported, not repaired away", () => {
    const state = parseSave(saveOf(plan, { filter: [`-A INPUT ${adminJump}`] }));
    const drift = compare(plan, state);
    expect(drift.strays).toEqual([]);
    expect(drift.clean).toBe(true);
    expect(drift.foreign).toEqual([expect.objectContaining({ table: 'filter', chain: 'INPUT', line: adminJump, target: 'DOCKGATE-INPUT' })]);
    expect(renderFull(plan, state).get('filter') ?? '').not.toContain(adminJump);
  });

  it('a jump carrying our comment but not our exact line is ours (an older version) and is removed', () => {
    const old = '-i eth0 -m comment --comment dockgate -j DOCKGATE-INPUT';
    const state = parseSave(saveOf(plan, { filter: [`-A INPUT ${old}`] }));
    expect(strayJumps(state, plan.jumps)).toEqual([{ table: 'filter', builtin: 'INPUT', line: old }]);
    expect(renderFull(plan, state).get('filter')).toContain(`-D INPUT ${old}`);
    expect(renderFlush(state).get('filter')).toContain(`-D INPUT ${old}`);
  });

  it('flush keeps the admin jump and the chain it needs (emptied), and removes everything else of ours', () => {
    const state = parseSave(saveOf(plan, { filter: [`-A INPUT ${adminJump}`] }));
    const text = renderFlush(state).get('filter')!;
    expect(text).not.toContain(adminJump);
    expect(text).toContain(':DOCKGATE-INPUT - [0:0]');
    expect(text).not.toContain('-X DOCKGATE-INPUT');
    expect(text).toContain('-X DOCKGATE-FORWARD');
    for (const j of JUMPS.filter((x) => x.table === 'filter')) expect(text).toContain(`-D ${j.builtin} ${jumpLine(j)}`);
  });

  it('a chain no longer planned but jumped to by the admin is emptied and kept, and then no longer drift', () => {
    const old = 'DOCKGATE-CI-0123456789ab';
    const withRules = parseSave(saveOf(plan, { filter: [`:${old} - [0:0]`, `-A INPUT -j ${old}`, `-A ${old} -p tcp -m tcp --dport 1 -j ACCEPT`] }));
    const d1 = compare(plan, withRules);
    expect(d1.chains).toEqual([expect.objectContaining({ chain: old, problem: 'extra' })]);
    const text = renderFull(plan, withRules).get('filter')!;
    expect(text).toContain(`:${old} - [0:0]`);
    expect(text).not.toContain(`-X ${old}`);
    const emptied = parseSave(saveOf(plan, { filter: [`:${old} - [0:0]`, `-A INPUT -j ${old}`] }));
    const d2 = compare(plan, emptied);
    expect(d2.clean).toBe(true);
    expect(d2.foreign.map((f) => f.target)).toEqual([old]);
  });

  it('DOCKGATE-USER belongs to the admin: never drift, never emptied, never deleted, jumps to it never reported', () => {
    const state = parseSave(
      saveOf(plan, { filter: [':DOCKGATE-USER - [0:0]', '-A INPUT -j DOCKGATE-USER', '-A DOCKGATE-USER -s 192.0.2.1/32 -j DROP'] }),
    );
    const drift = compare(plan, state);
    expect(drift.clean).toBe(true);
    expect(drift.foreign).toEqual([]);
    for (const text of [renderFull(plan, state).get('filter') ?? '', renderFlush(state).get('filter') ?? '']) {
      expect(text).not.toContain('DOCKGATE-USER');
    }
  });

  it("the admin's chains are theirs by name, not by prefix: DOCKGATE-USER-BANS, jumped from DOCKGATE-USER, is never drift, emptied or deleted", () => {
    const admin = [
      ':DOCKGATE-USER - [0:0]',
      ':DOCKGATE-USER-BANS - [0:0]',
      ':DOCKGATE-INPUT-EXTRA - [0:0]',
      '-A DOCKGATE-USER -j DOCKGATE-USER-BANS',
      '-A DOCKGATE-USER-BANS -s 203.0.113.9/32 -j DROP',
      '-A DOCKGATE-INPUT-EXTRA -j RETURN',
    ];
    const state = parseSave(saveOf(plan, { filter: admin }));
    const drift = compare(plan, state);
    expect(drift.chains).toEqual([]);
    expect(drift.clean).toBe(true);
    expect(drift.foreign).toEqual([]);
    for (const text of [renderFull(plan, state).get('filter') ?? '', ...renderFlush(state).values()]) {
      expect(text).not.toMatch(/DOCKGATE-USER|DOCKGATE-INPUT-EXTRA/);
    }
  });

  it('a rule in DOCKGATE-USER that jumps into a dockgate chain counts as the admin\'s', () => {
    const state = parseSave(saveOf(plan, { filter: [':DOCKGATE-USER - [0:0]', '-A DOCKGATE-USER -j DOCKGATE-INPUT'] }));
    expect(compare(plan, state).foreign).toEqual([expect.objectContaining({ chain: 'DOCKGATE-USER', target: 'DOCKGATE-INPUT' })]);
    expect(renderFlush(state).get('filter')).not.toContain('-X DOCKGATE-INPUT');
  });

  it('dockgate chains and jumps in a table it does not manage (mangle) are reported, never repaired or flushed', () => {
    const state = parseSave(saveOf(plan, { mangle: [':DOCKGATE-RAW - [0:0]', '-A PREROUTING -j DOCKGATE-RAW', '-A PREROUTING -m comment --comment dockgate -j DOCKGATE-RAW'] }));
    const drift = compare(plan, state);
    expect(drift.chains).toEqual([]);
    expect(drift.strays).toEqual([]);
    expect(drift.clean).toBe(true);
    expect(drift.foreign).toEqual([
      expect.objectContaining({ table: 'mangle', chain: 'PREROUTING', target: 'DOCKGATE-RAW' }),
      expect.objectContaining({ table: 'mangle', chain: 'PREROUTING', target: 'DOCKGATE-RAW' }),
      expect.objectContaining({ kind: 'chain', table: 'mangle', chain: 'DOCKGATE-RAW' }),
    ]);
    for (const text of [...renderFull(plan, state).values(), ...renderFlush(state).values()]) expect(text).not.toMatch(/mangle|-A PREROUTING/);
  });

  it("the admin's own jump into a mark chain in mangle is reported; a chain of a look-alike name there is not dockgate's", () => {
    const state = parseSave(saveOf(plan, { mangle: [':DOCKGATE-MINPUT - [0:0]', ':DOCKGATE-FOO - [0:0]', '-A PREROUTING -j DOCKGATE-MINPUT', '-A PREROUTING -j DOCKGATE-FOO'] }));
    expect(compare(plan, state).foreign).toEqual([expect.objectContaining({ table: 'mangle', chain: 'PREROUTING', line: '-j DOCKGATE-MINPUT', target: 'DOCKGATE-MINPUT' })]);
  });
});
