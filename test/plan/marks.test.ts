// The mangle marks as the kernel may hold them: unreadable, with the admin's own chains of
// look-alike names, with the admin's jumps into dockgate's mark chains, with our jumps twice.
// Pure tests on hand-written save texts (the real-kernel counterparts are in
// test/dataplane/chain-ownership.test.ts).
import { describe, expect, it } from 'vitest';
import type { RuleSet } from '../../src/model/types.js';
import { IncompatibleTableError, type TableState, parseSave } from '../../src/plan/kernel-state.js';
import { markPlan, marksDrift, renderMarks } from '../../src/plan/marks.js';
import { jumpLine } from '../../src/plan/render.js';
import { buildRuleSet } from '../../src/plan/ruleset.js';
import type { MarkBit } from '../../src/model/mark-bit.js';
import { BRIDGE, DEFAULTS, container } from './fixtures.js';
import { linesOf } from '../../src/plan/render.js';

const HOST = '10.0.0.5';
const web = container('web', { id: `a0${'a'.repeat(62)}`, ip: '172.17.0.2', publish: [`${HOST}:8000:80/tcp`], labels: { 'dockgate.ports': '80' } });
const api = container('api', { id: `b0${'b'.repeat(62)}`, ip: '172.17.0.3', publish: [`${HOST}:8001:80/tcp`], labels: { 'dockgate.ports': '80' } });
const planOf = (...containers: (typeof web)[]): RuleSet =>
  buildRuleSet({ labelPrefix: 'dockgate', defaults: { ...DEFAULTS, from: [{ family: 4, text: '0.0.0.0/0' }] }, networks: [BRIDGE], ipv6: false, containers });

/** The mangle table holding exactly `marks`, plus `extra` lines, as iptables-save prints it. */
function mangleOf(marks: RuleSet | undefined, extra: string[] = []): TableState {
  const lines = ['*mangle', ...['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'].map((b) => `:${b} ACCEPT [0:0]`)];
  for (const c of marks?.chains ?? []) lines.push(`:${c.name} - [0:0]`);
  lines.push(...extra.filter((l) => l.startsWith(':')));
  for (const j of marks?.jumps ?? []) lines.push(`-A ${j.builtin} ${jumpLine(j)}`);
  for (const c of marks?.chains ?? []) lines.push(...linesOf(c).map((r) => `-A ${c.name} ${r}`));
  lines.push(...extra.filter((l) => !l.startsWith(':')), 'COMMIT', '');
  return parseSave(lines.join('\n')).get('mangle' as never)!;
}

const both = markPlan(planOf(web, api));
const apiOnly = markPlan(planOf(api));

describe('a mangle table iptables-save cannot show', () => {
  const unreadable = parseSave("# Table `mangle' is incompatible, use 'nft' tool.\n").get('mangle' as never)!;

  it('is refused, for marks to write and for marks to remove: read as empty, it would get a second jump', () => {
    expect(unreadable.incompatible).toBeDefined();
    expect(() => renderMarks(both, unreadable)).toThrow(IncompatibleTableError);
    expect(() => renderMarks(undefined, unreadable)).toThrow(/mangle/);
  });

  it('a readable one is written as before', () => {
    expect(renderMarks(both, undefined)).toContain('-I INPUT 1 -m comment --comment dockgate -j DOCKGATE-MINPUT');
    expect(renderMarks(both, mangleOf(both))).toBe('');
  });
});

describe('jumps into the mark chains', () => {
  it('one in place: none added; two: exactly one deleted, none added', () => {
    const jump = both.jumps.find((j) => j.builtin === 'INPUT')!;
    expect(marksDrift(both, mangleOf(both)).jumps).toEqual([]);
    const twice = renderMarks(both, mangleOf(both, [`-A INPUT ${jumpLine(jump)}`]));
    expect(twice.split('\n').filter((l) => l === `-D INPUT ${jumpLine(jump)}`)).toHaveLength(1);
    expect(twice).not.toContain('-I INPUT');
  });
});

describe("the admin's chains in mangle", () => {
  it('a chain of a look-alike name is never emptied or deleted', () => {
    const admin = [':DOCKGATE-MYMARKS - [0:0]', ':DOCKGATE-MUSER - [0:0]', '-A PREROUTING -j DOCKGATE-MYMARKS', '-A DOCKGATE-MYMARKS -s 192.0.2.0/24 -j MARK --set-xmark 0x4/0x4'];
    const state = mangleOf(both, admin);
    expect(marksDrift(both, state).clean).toBe(true);
    for (const text of [renderMarks(apiOnly, state), renderMarks(undefined, state)]) {
      expect(text).not.toContain('DOCKGATE-MYMARKS');
      expect(text).not.toContain('DOCKGATE-MUSER');
    }
  });

  it('a mark chain the admin jumps to is emptied, not deleted (one refused -X fails the whole write), and then no longer drift', () => {
    const gone = both.chains.map((c) => c.name).find((n) => !apiOnly.chains.some((c) => c.name === n))!;
    expect(gone).toBe('DOCKGATE-MOPENINGS-a0');
    const state = mangleOf(both, [`-A PREROUTING -s 198.51.100.0/24 -j ${gone}`]);
    const text = renderMarks(apiOnly, state);
    expect(text).toContain(`:${gone} - [0:0]`);
    expect(text).not.toContain(`-X ${gone}`);
    expect(text).not.toContain('-D PREROUTING');
    // As the kernel is after that write: the chain stays, empty, and nothing more is to be done.
    const after = mangleOf(apiOnly, [`:${gone} - [0:0]`, `-A PREROUTING -s 198.51.100.0/24 -j ${gone}`]);
    expect(marksDrift(apiOnly, after).clean).toBe(true);
    expect(renderMarks(apiOnly, after)).toBe('');
    // Flush: everything else goes; that chain stays, emptied.
    const flush = renderMarks(undefined, after);
    expect(flush).toContain('-X DOCKGATE-MINPUT');
    expect(flush).not.toContain(`-X ${gone}`);
  });
});

describe('foreign_chains_mark: the bit is the config\'s', () => {
  it('every MARK line sets the configured bit, and a change of bit rewrites every chain that holds one', () => {
    const other = markPlan(planOf(web, api), 0x00200000 as MarkBit);
    const marks = other.chains.flatMap((c) => linesOf(c)).filter((r) => r.includes('-j MARK'));
    expect(marks.length).toBeGreaterThan(0);
    for (const r of marks) expect(r).toMatch(/-j MARK --set-xmark 0x200000\/0x200000$/);
    // The kernel holds the default bit's marks: the other bit's plan is drift, and its write leaves none of the old lines.
    const d = marksDrift(other, mangleOf(both));
    expect(d.clean).toBe(false);
    const text = renderMarks(other, mangleOf(both));
    expect(text).not.toContain('0x1000000');
    expect(text).toContain('0x200000/0x200000');
    expect(marksDrift(other, mangleOf(other)).clean).toBe(true);
  });
});
