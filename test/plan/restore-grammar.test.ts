// The strict restore grammar every write is held to (src/plan/restore-grammar.ts): it accepts
// everything dockgate writes — the golden files, diffs, repairs, flushes and the mangle marks,
// both families — and refuses lines that must each be refused, naming the line and the container.
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { RuleSet } from '../../src/model/types.js';
import { parseSave } from '../../src/plan/kernel-state.js';
import { markPlan, renderMarks } from '../../src/plan/marks.js';
import { RestoreGrammarError, assertRestoreGrammar, checkRestore, describeViolations } from '../../src/plan/restore-grammar.js';
import { renderDiff, renderFlush, renderFull, renderPlan } from '../../src/plan/restore.js';
import { familyRuleSet } from '../../src/plan/ruleset.js';
import { BRIDGE, DUAL, container, plan } from './fixtures.js';

const GOLDEN = fileURLToPath(new URL('./golden/', import.meta.url));
const C = 'DOCKGATE-OPENINGS-ab';

/** A table block that declares the chain and adds one rule to it. */
const block = (rule: string, table = 'filter', chain = C) => `*${table}\n:${chain} - [0:0]\n-A ${chain} ${rule}\nCOMMIT\n`;
const ok = (text: string, options: Parameters<typeof checkRestore>[1] = {}): string => describeViolations(checkRestore(text, options));

const web = container('web', { ip: '172.23.0.2', ip6: 'fd00:db8:1::2', network: DUAL, labels: { 'dockgate.ports': '80' }, publish: ['0.0.0.0:8000:80/tcp', '[::]:8000:80/tcp'] });
const api = container('api', {
  ip: '172.23.0.3',
  ip6: 'fd00:db8:1::3',
  network: DUAL,
  labels: { 'dockgate.ports': '8080:80, 5353:53/udp', 'dockgate.mode': 'dnat', 'dockgate.from': '10.0.0.0/8, 2001:db8:9::/48' },
});
const jail = container('jail', { ip: '172.17.0.9', labels: { 'dockgate.egress': 'false' } });
const dual: RuleSet = plan([web, api, jail], [BRIDGE, DUAL]);
/** The same with the drop log on (drops.log, the default): NFLOG lines with their rate limits. */
const logged: RuleSet = plan([web, api, jail, container('bare', { ip: '172.17.0.8', publish: ['0.0.0.0:9000:80/tcp'] })], [BRIDGE, DUAL], {
  dropLog: { group: 2371, ratePerSecond: 10, burst: 20 },
});
const families = [4, 6] as const;
const rulesOf = (p: RuleSet, family: 4 | 6): RuleSet => familyRuleSet(p, family)!;

describe('restore grammar: what dockgate writes', () => {
  it.each(readdirSync(GOLDEN).filter((f) => f.endsWith('.rules')))('accepts the golden file %s', (file) => {
    expect(ok(readFileSync(`${GOLDEN}${file}`, 'utf8'), { family: file.startsWith('ipv6-') ? 6 : 4 })).toBe('');
  });

  it('accepts every option the planner writes', () => {
    const good = [
      '-s 10.0.0.0/8 -d 10.0.0.5/32 -p tcp -m tcp --dport 80 -m conntrack --ctstate NEW -m comment --comment "web/0123456789ab" -j ACCEPT',
      '-p udp -m udp --dport 53 -m comment --comment web -j ACCEPT',
      '-d 172.17.0.2/32 -p tcp -m tcp --dport 80 -m conntrack --ctstate DNAT -m comment --comment "a.b/c d" -j ACCEPT',
      // syntax.comment() keeps ':' (an interface name, an IPv6 address in a network's comment).
      '-m comment --comment "dockgate no routing from eth0:1" -j DROP',
    ];
    for (const r of good) expect(ok(block(r))).toBe('');
    const forward = '*filter\n:DOCKGATE-FORWARD - [0:0]\n-A DOCKGATE-FORWARD -i br-0 ! -o br-1 -m conntrack ! --ctstate DNAT -m comment --comment x -j DROP\nCOMMIT\n';
    expect(ok(forward)).toBe('');
    const nat = '*nat\n:DOCKGATE-DNAT-ab - [0:0]\n-A DOCKGATE-DNAT-ab -d 10.0.0.5/32 -p tcp -m tcp --dport 8080 -m comment --comment x -j DNAT --to-destination 172.17.0.3:80\nCOMMIT\n';
    expect(ok(nat)).toBe('');
    const nat6 = '*nat\n:DOCKGATE-DNAT-ab - [0:0]\n-A DOCKGATE-DNAT-ab -s 2001:db8:9::/48 -p udp -m udp --dport 5353 -m comment --comment x -j DNAT --to-destination [fd00:db8:1::3]:53\nCOMMIT\n';
    expect(ok(nat6, { family: 6 })).toBe('');
  });

  it('accepts the drop log\'s lines, both families', () => {
    for (const family of families) {
      const text = renderPlan(rulesOf(logged, family));
      expect(text).toMatch(/-m hashlimit --hashlimit-upto 10\/sec --hashlimit-burst 20 --hashlimit-name dg-\S+ -m comment .* -j NFLOG --nflog-prefix "dockgate:/);
      expect(ok(text, { family })).toBe('');
      expect(ok([...renderDiff(rulesOf(dual, family), rulesOf(logged, family)).values()].join(''), { family, diff: true })).toBe('');
      expect(ok(renderMarks(markPlan(rulesOf(logged, family)), undefined), { family, diff: true })).toBe('');
    }
  });

  it('accepts whole plans, diffs, repairs and flushes of both families', () => {
    for (const family of families) {
      const after = rulesOf(dual, family);
      const before = rulesOf(plan([web, jail], [BRIDGE, DUAL]), family);
      expect(ok(renderPlan(after), { family })).toBe('');
      for (const text of [...renderDiff(before, after).values(), ...renderDiff(after, before).values()]) expect(ok(text, { family, diff: true })).toBe('');
      // A kernel with an older layout's chain, a stray jump of ours, a duplicated jump, and no DOCKGATE-USER.
      const save = [
        '*filter',
        ':INPUT ACCEPT [0:0]',
        ':FORWARD ACCEPT [0:0]',
        ':OUTPUT ACCEPT [0:0]',
        ':DOCKGATE-INPUT - [0:0]',
        ':DOCKGATE-CI-0123456789ab - [0:0]',
        '-A INPUT -m comment --comment dockgate -j DOCKGATE-INPUT',
        '-A INPUT -m comment --comment dockgate -j DOCKGATE-INPUT',
        '-A FORWARD -i eth0 -m comment --comment dockgate -j DOCKGATE-INPUT',
        '-A DOCKGATE-CI-0123456789ab -m comment --comment "old/0123456789ab" -j ACCEPT',
        'COMMIT',
        '',
      ].join('\n');
      const repair = [...renderFull(after, parseSave(save)).values()].join('');
      expect(repair).toContain('-D FORWARD -i eth0 -m comment --comment dockgate -j DOCKGATE-INPUT');
      expect(repair).toContain('-X DOCKGATE-CI-0123456789ab');
      expect(ok(repair, { family, diff: true })).toBe('');
      const flush = [...renderFlush(parseSave(save)).values()].join('');
      expect(ok(flush, { family, diff: true })).toBe('');
      // flush --user-chain (dataplane.ts) empties and deletes the admin's chain too.
      expect(ok(flush.replace(/COMMIT\n$/, '-F DOCKGATE-USER\n-X DOCKGATE-USER\nCOMMIT\n'), { family, diff: true })).toBe('');
    }
  });

  it('accepts the mangle marks of both families: written, moved, removed', () => {
    for (const family of families) {
      const marks = markPlan(rulesOf(dual, family));
      const fresh = renderMarks(marks, undefined);
      expect(fresh).toMatch(/-j MARK --set-xmark 0x1000000\/0x1000000$/m);
      expect(fresh).toContain('-I INPUT 1 -m comment --comment dockgate -j DOCKGATE-MINPUT');
      expect(ok(fresh, { family, diff: true })).toBe('');
      const kernel = parseSave(`*mangle\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n${fresh.split('\n').slice(1).join('\n')}`.replace(/^-I (\S+) 1 /gm, '-A $1 ')).get('mangle' as never)!;
      const fewer = renderMarks(markPlan(rulesOf(plan([jail], [BRIDGE, DUAL]), family)), kernel);
      expect(fewer).toMatch(/^-X DOCKGATE-M/m);
      expect(ok(fewer, { family, diff: true })).toBe('');
      expect(ok(renderMarks(undefined, kernel), { family, diff: true })).toBe('');
    }
  });
});

describe('restore grammar: what it refuses', () => {
  const BAD: Array<[string, string, 4 | 6]> = [
    ['no comment', block('-p tcp -m tcp --dport 80 -j ACCEPT'), 4],
    ['host address without prefix', block('-s 10.0.0.1 -m comment --comment x -j ACCEPT'), 4],
    ['non-canonical address', block('-s 010.0.0.1/32 -m comment --comment x -j ACCEPT'), 4],
    ['host bits set', block('-s 10.0.0.1/8 -m comment --comment x -j ACCEPT'), 4],
    ['/0 source (iptables-save omits it)', block('-s 0.0.0.0/0 -m comment --comment x -j ACCEPT'), 4],
    ['IPv6 address in IPv4 text', block('-s ::1/128 -m comment --comment x -j ACCEPT'), 4],
    ['IPv4 address in IPv6 text', block('-s 10.0.0.0/8 -m comment --comment x -j ACCEPT'), 6],
    ['non-canonical IPv6 address', block('-s fd00:0:0::1/128 -m comment --comment x -j ACCEPT'), 6],
    ['IPv6 DNAT without brackets', block('-p tcp -m tcp --dport 1 -m comment --comment x -j DNAT --to-destination fd00::3:80', 'nat', 'DOCKGATE-DNAT-ab'), 6],
    ['IPv4 DNAT in IPv6 text', block('-p tcp -m tcp --dport 1 -m comment --comment x -j DNAT --to-destination 172.17.0.3:80', 'nat', 'DOCKGATE-DNAT-ab'), 6],
    ['options out of order', block('-d 10.0.0.1/32 -s 10.0.0.0/8 -m comment --comment x -j ACCEPT'), 4],
    ['-o in an INPUT chain', block('-o eth0 -m comment --comment x -j ACCEPT'), 4],
    ['interface name too long', block('-i abcdefghijklmnop -m comment --comment x -j ACCEPT', 'filter', 'DOCKGATE-FORWARD'), 4],
    ['--dport without -p', block('-m tcp --dport 80 -m comment --comment x -j ACCEPT'), 4],
    ['port 0', block('-p tcp -m tcp --dport 0 -m comment --comment x -j ACCEPT'), 4],
    ['port with leading zero', block('-p tcp -m tcp --dport 080 -m comment --comment x -j ACCEPT'), 4],
    ['unknown state', block('-m conntrack --ctstate NEWISH -m comment --comment x -j ACCEPT'), 4],
    ['states out of order', block('-m conntrack --ctstate ESTABLISHED,RELATED -m comment --comment x -j ACCEPT'), 4],
    ['quoted comment that save prints bare', block('-m comment --comment "x" -j ACCEPT'), 4],
    ['comment with an escaped quote', block('-m comment --comment "a\\"b" -j ACCEPT'), 4],
    ['comment with a shell character', block('-m comment --comment "a$(b)" -j ACCEPT'), 4],
    ['comment over 255 characters', block(`-m comment --comment ${'a'.repeat(256)} -j ACCEPT`), 4],
    ['unknown match', block('-m string --string x --algo bm -m comment --comment x -j ACCEPT'), 4],
    ['unknown target', block('-m comment --comment x -j LOG'), 4],
    ['DNAT in filter', block('-p tcp -m tcp --dport 1 -m comment --comment x -j DNAT --to-destination 1.2.3.4:1'), 4],
    ['DROP in nat', block('-m comment --comment x -j DROP', 'nat', 'DOCKGATE-DNAT-ab'), 4],
    ['a filter chain written in nat', block('-m comment --comment x -j RETURN', 'nat'), 4],
    ['DNAT to no address', block('-p tcp -m tcp --dport 1 -m comment --comment x -j DNAT --to-destination :80', 'nat', 'DOCKGATE-DNAT-ab'), 4],
    ['anything after the target', block('-m comment --comment x -j ACCEPT -s 1.2.3.4/32'), 4],
    ['two spaces', block('-m comment --comment x  -j ACCEPT'), 4],
    ['rule into a built-in chain', '*filter\n-A INPUT -m comment --comment x -j ACCEPT\nCOMMIT\n', 4],
    ['rule into the admin\'s chain', '*filter\n-A DOCKGATE-USER -m comment --comment x -j ACCEPT\nCOMMIT\n', 4],
    ['rule into an admin chain of a look-alike name', '*filter\n:DOCKGATE-USER-BANS - [0:0]\n-A DOCKGATE-USER-BANS -m comment --comment x -j ACCEPT\nCOMMIT\n', 4],
    ['jump from a built-in to something else', '*filter\n-I INPUT 1 -m comment --comment dockgate -j ACCEPT\nCOMMIT\n', 4],
    ['jump from a built-in without dockgate\'s comment', '*filter\n:DOCKGATE-INPUT - [0:0]\n-I INPUT 1 -m comment --comment x -j DOCKGATE-INPUT\nCOMMIT\n', 4],
    ['insert not at the top', '*filter\n:DOCKGATE-INPUT - [0:0]\n-I INPUT 2 -m comment --comment dockgate -j DOCKGATE-INPUT\nCOMMIT\n', 4],
    ['undeclared chain', '*filter\n-A DOCKGATE-INPUT -m comment --comment x -j ACCEPT\nCOMMIT\n', 4],
    ['foreign chain name', '*filter\n:MYCHAIN - [0:0]\nCOMMIT\n', 4],
    ['chain name too long', '*filter\n:DOCKGATE-ABCDEFGHIJKLMNOPQRSTUVW - [0:0]\nCOMMIT\n', 4],
    ['policy line', '*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n', 4],
    ['-D outside a diff', `*filter\n:${C} - [0:0]\n-D ${C} -m comment --comment x -j ACCEPT\nCOMMIT\n`, 4],
    ['-F outside a diff', `*filter\n:${C} - [0:0]\n-F ${C}\nCOMMIT\n`, 4],
    ['a comment line', `*filter\n# hello\n:${C} - [0:0]\nCOMMIT\n`, 4],
    ['missing COMMIT', `*filter\n:${C} - [0:0]\n`, 4],
    ['empty table', '*filter\nCOMMIT\n', 4],
    ['no final newline', `*filter\n:${C} - [0:0]\nCOMMIT`, 4],
    ['a line outside any table', `-A ${C} -m comment --comment x -j ACCEPT\n`, 4],
    ['declaration after a rule', `*filter\n:${C} - [0:0]\n-A ${C} -m comment --comment x -j ACCEPT\n:DOCKGATE-INPUT - [0:0]\nCOMMIT\n`, 4],
    ['control character', block('-m comment --comment x\u0000 -j ACCEPT'), 4],
    ['a table dockgate does not write', '*security\n:DOCKGATE-INPUT - [0:0]\nCOMMIT\n', 4],
    // mangle: only the mirrors of dockgate's filter chains, only MARK of one bit and RETURN.
    ['mangle: a filter chain name', '*mangle\n:DOCKGATE-INPUT - [0:0]\nCOMMIT\n', 4],
    ['mangle: an admin chain of a look-alike name', '*mangle\n:DOCKGATE-MYMARKS - [0:0]\nCOMMIT\n', 4],
    ['mangle: ACCEPT', block('-m comment --comment x -j ACCEPT', 'mangle', 'DOCKGATE-MINPUT'), 4],
    ['mangle: DROP', block('-m comment --comment x -j DROP', 'mangle', 'DOCKGATE-MFORWARD'), 6],
    ['mangle: two bits', block('-m comment --comment x -j MARK --set-xmark 0x3000000/0x3000000', 'mangle', 'DOCKGATE-MINPUT'), 4],
    ['mangle: a mark that toggles', block('-m comment --comment x -j MARK --set-xmark 0x1000000/0x1000001', 'mangle', 'DOCKGATE-MINPUT'), 4],
    ['mangle: a whole-mark set', block('-m comment --comment x -j MARK --set-mark 0x1000000', 'mangle', 'DOCKGATE-MINPUT'), 4],
    ['mangle: a jump into a filter chain', block('-m comment --comment x -j DOCKGATE-OPENINGS', 'mangle', 'DOCKGATE-MINPUT'), 4],
    ['mangle: -o in an INPUT mirror', block('-o eth0 -m comment --comment x -j RETURN', 'mangle', 'DOCKGATE-MINPUT'), 4],
    // the drop log: its own rate limit and prefix only.
    ['NFLOG in nat', block('-m comment --comment x -j NFLOG --nflog-prefix "dockgate:isolation:-" --nflog-group 1', 'nat', 'DOCKGATE-DNAT-ab'), 4],
    ['NFLOG with another prefix', block('-m comment --comment x -j NFLOG --nflog-prefix "evil" --nflog-group 1'), 4],
    ['NFLOG with an unknown reason', block('-m comment --comment x -j NFLOG --nflog-prefix "dockgate:whatever:-" --nflog-group 1'), 4],
    ['NFLOG group over 65535', block('-m comment --comment x -j NFLOG --nflog-prefix "dockgate:isolation:-" --nflog-group 65536'), 4],
    ['NFLOG with a half-quoted prefix', block('-m comment --comment x -j NFLOG --nflog-prefix "dockgate:isolation:- --nflog-group 1'), 4],
    ['LOG', block('-m comment --comment x -j LOG --log-prefix x'), 4],
    ['hashlimit of another name', block('-m hashlimit --hashlimit-upto 10/sec --hashlimit-burst 20 --hashlimit-name other -m comment --comment x -j DROP'), 4],
    ['hashlimit after the comment', block('-m comment --comment x -m hashlimit --hashlimit-upto 10/sec --hashlimit-burst 20 --hashlimit-name dg-isolation -j DROP'), 4],
    ['hashlimit per minute', block('-m hashlimit --hashlimit-upto 10/min --hashlimit-burst 20 --hashlimit-name dg-isolation -m comment --comment x -j DROP'), 4],
    ['mangle: a jump from PREROUTING', '*mangle\n:DOCKGATE-MINPUT - [0:0]\n-I PREROUTING 1 -m comment --comment dockgate -j DOCKGATE-MINPUT\nCOMMIT\n', 4],
  ];
  it.each(BAD)('refuses: %s', (_, text, family) => {
    expect(checkRestore(text, { family }).length).toBeGreaterThan(0);
    // Diff mode is wider only in the edits it allows, never in what a rule may say.
    if (!/outside a diff|undeclared chain/.test(_)) expect(checkRestore(text, { family, diff: true }).length).toBeGreaterThan(0);
  });

  const DIFF_BAD: Array<[string, string]> = [
    ['-X of the admin\'s look-alike chain', '*filter\n:DOCKGATE-USER-BANS - [0:0]\n-X DOCKGATE-USER-BANS\nCOMMIT\n'],
    ['-X without emptying first', '*filter\n-X DOCKGATE-INPUT\nCOMMIT\n'],
    ['-D from the admin\'s chain', '*filter\n-D DOCKGATE-USER -m comment --comment x -j DROP\nCOMMIT\n'],
    ['-D of a built-in rule that is not one of dockgate\'s jumps', '*filter\n-D INPUT -i lo -j ACCEPT\nCOMMIT\n'],
    ['-D of an admin\'s jump into a dockgate chain', '*filter\n-D INPUT -i eth0 -j DOCKGATE-INPUT\nCOMMIT\n'],
    ['-F of a foreign chain', '*filter\n-F MYCHAIN\nCOMMIT\n'],
    ['rule line after -X', '*filter\n:DOCKGATE-INPUT - [0:0]\n-X DOCKGATE-INPUT\n-A DOCKGATE-FORWARD -m comment --comment x -j ACCEPT\nCOMMIT\n'],
  ];
  it.each(DIFF_BAD)('refuses in a diff: %s', (_, text) => {
    expect(checkRestore(text, { diff: true }).length).toBeGreaterThan(0);
  });

  it('names the line and the container its comment names; refuses the whole text', () => {
    const text = [
      '*filter',
      `:${C} - [0:0]`,
      `-A ${C} -p tcp -m tcp --dport 80 -m comment --comment "web/0123456789ab" -j ACCEPT`,
      `-A ${C} -p tcp -m tcp --dport 80 -m comment --comment "evil/abcdefabcdef" -j ACCEPT -m string`,
      'COMMIT',
      '',
    ].join('\n');
    const violations = checkRestore(text, { diff: true });
    expect(violations).toEqual([
      { line: 4, text: text.split('\n')[3], reason: expect.stringContaining('after the target'), container: 'evil/abcdefabcdef' },
    ]);
    expect(() => assertRestoreGrammar(text, 'iptables-restore', { diff: true })).toThrow(RestoreGrammarError);
    expect(() => assertRestoreGrammar(text, 'iptables-restore', { diff: true })).toThrow(
      /refused to run iptables-restore: line 4 of container evil\/abcdefabcdef is outside dockgate's restore grammar .*nothing was written/,
    );
  });
});
