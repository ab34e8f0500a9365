// The strict restore grammar used by the fuzz tests, checked against the planner's golden files
// (all valid) and against lines that must each be refused — so a green fuzz run means something.
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { applyRestore, checkRestore, describeViolations, emptyKernel, kernelView } from './restore-grammar.js';

const GOLDEN = fileURLToPath(new URL('../plan/golden/', import.meta.url));
const C = 'DOCKGATE-OPENINGS-ab';

/** A filter table that declares the chain and adds one rule to it. */
const filter = (rule: string, table = 'filter') => `*${table}\n:${C} - [0:0]\n-A ${C} ${rule}\nCOMMIT\n`;

describe('restore grammar', () => {
  it.each(readdirSync(GOLDEN).filter((f) => f.endsWith('.rules')))('accepts the golden file %s', (file) => {
    const violations = checkRestore(readFileSync(`${GOLDEN}${file}`, 'utf8'), { family: file.startsWith('ipv6-') ? 6 : 4 });
    expect(describeViolations(violations)).toBe('');
  });

  it('accepts every option the planner writes', () => {
    const good = [
      '-s 10.0.0.0/8 -d 10.0.0.5/32 -p tcp -m tcp --dport 80 -m conntrack --ctstate NEW -m comment --comment "web/0123456789ab" -j ACCEPT',
      '-p udp -m udp --dport 53 -m comment --comment web -j ACCEPT',
      '-d 172.17.0.2/32 -p tcp -m tcp --dport 80 -m conntrack --ctstate DNAT -m comment --comment "a.b/c d" -j ACCEPT',
      '-s 172.17.0.2/32 -i docker0 -m conntrack --ctstate NEW -m comment --comment x -j ACCEPT',
    ];
    for (const r of good) expect(describeViolations(checkRestore(filter(r.replace(' -i docker0', ''))))).toBe('');
    const forward = '*filter\n:DOCKGATE-FORWARD - [0:0]\n-A DOCKGATE-FORWARD -i br-0 ! -o br-1 -m conntrack ! --ctstate DNAT -m comment --comment x -j DROP\nCOMMIT\n';
    expect(describeViolations(checkRestore(forward))).toBe('');
    const nat = '*nat\n:DOCKGATE-DNAT-ab - [0:0]\n-A DOCKGATE-DNAT-ab -d 10.0.0.5/32 -p tcp -m tcp --dport 8080 -m comment --comment x -j DNAT --to-destination 172.17.0.3:80\nCOMMIT\n';
    expect(describeViolations(checkRestore(nat))).toBe('');
  });

  const BAD: Array<[string, string]> = [
    ['no comment', filter('-p tcp -m tcp --dport 80 -j ACCEPT')],
    ['host address without prefix', filter('-s 10.0.0.1 -m comment --comment x -j ACCEPT')],
    ['non-canonical address', filter('-s 010.0.0.1/32 -m comment --comment x -j ACCEPT')],
    ['host bits set', filter('-s 10.0.0.1/8 -m comment --comment x -j ACCEPT')],
    ['/0 source (iptables-save omits it)', filter('-s 0.0.0.0/0 -m comment --comment x -j ACCEPT')],
    ['IPv6 address', filter('-s ::1/128 -m comment --comment x -j ACCEPT')],
    ['options out of order', filter('-d 10.0.0.1/32 -s 10.0.0.0/8 -m comment --comment x -j ACCEPT')],
    ['-o in an INPUT chain', filter('-o eth0 -m comment --comment x -j ACCEPT')],
    ['interface name too long', '*filter\n:DOCKGATE-FORWARD - [0:0]\n-A DOCKGATE-FORWARD -i abcdefghijklmnop -m comment --comment x -j ACCEPT\nCOMMIT\n'],
    ['--dport without -p', filter('-m tcp --dport 80 -m comment --comment x -j ACCEPT')],
    ['port 0', filter('-p tcp -m tcp --dport 0 -m comment --comment x -j ACCEPT')],
    ['port with leading zero', filter('-p tcp -m tcp --dport 080 -m comment --comment x -j ACCEPT')],
    ['unknown state', filter('-m conntrack --ctstate NEWISH -m comment --comment x -j ACCEPT')],
    ['states out of order', filter('-m conntrack --ctstate ESTABLISHED,RELATED -m comment --comment x -j ACCEPT')],
    ['quoted comment that save prints bare', filter('-m comment --comment "x" -j ACCEPT')],
    ['comment with an escaped quote', filter('-m comment --comment "a\\"b" -j ACCEPT')],
    ['comment with a shell character', filter('-m comment --comment "a$(b)" -j ACCEPT')],
    ['comment over 255 characters', filter(`-m comment --comment ${'a'.repeat(256)} -j ACCEPT`)],
    ['unknown match', filter('-m string --string x --algo bm -m comment --comment x -j ACCEPT')],
    ['unknown target', filter('-m comment --comment x -j LOG')],
    ['DNAT in filter', filter('-p tcp -m tcp --dport 1 -m comment --comment x -j DNAT --to-destination 1.2.3.4:1')],
    ['DROP in nat', filter('-m comment --comment x -j DROP', 'nat')],
    ['DNAT to no address', '*nat\n:DOCKGATE-DNAT-ab - [0:0]\n-A DOCKGATE-DNAT-ab -p tcp -m tcp --dport 1 -m comment --comment x -j DNAT --to-destination :80\nCOMMIT\n'],
    ['anything after the target', filter('-m comment --comment x -j ACCEPT -s 1.2.3.4/32')],
    ['two spaces', filter('-m comment --comment x  -j ACCEPT')],
    ['rule into a built-in chain', '*filter\n-A INPUT -m comment --comment x -j ACCEPT\nCOMMIT\n'],
    ['jump from a built-in to something else', '*filter\n-I INPUT 1 -m comment --comment x -j ACCEPT\nCOMMIT\n'],
    ['insert not at the top', '*filter\n:DOCKGATE-INPUT - [0:0]\n-I INPUT 2 -m comment --comment dockgate -j DOCKGATE-INPUT\nCOMMIT\n'],
    ['undeclared chain', '*filter\n-A DOCKGATE-INPUT -m comment --comment x -j ACCEPT\nCOMMIT\n'],
    ['foreign chain name', '*filter\n:MYCHAIN - [0:0]\nCOMMIT\n'],
    ['chain name too long', '*filter\n:DOCKGATE-ABCDEFGHIJKLMNOPQRSTUVW - [0:0]\nCOMMIT\n'],
    ['policy line', '*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n'],
    ['-D outside a diff', `*filter\n:${C} - [0:0]\n-D ${C} -m comment --comment x -j ACCEPT\nCOMMIT\n`],
    ['-F', `*filter\n:${C} - [0:0]\n-F ${C}\nCOMMIT\n`],
    ['a comment line', `*filter\n# hello\n:${C} - [0:0]\nCOMMIT\n`],
    ['mangle table', '*mangle\n:DOCKGATE-X - [0:0]\nCOMMIT\n'],
    ['missing COMMIT', `*filter\n:${C} - [0:0]\n`],
    ['empty table', '*filter\nCOMMIT\n'],
    ['no final newline', `*filter\n:${C} - [0:0]\nCOMMIT`],
    ['a line outside any table', `-A ${C} -m comment --comment x -j ACCEPT\n`],
    ['declaration after a rule', `*filter\n:${C} - [0:0]\n-A ${C} -m comment --comment x -j ACCEPT\n:DOCKGATE-INPUT - [0:0]\nCOMMIT\n`],
    ['control character', filter('-m comment --comment x\u0000 -j ACCEPT')],
  ];
  it.each(BAD)('refuses: %s', (_, text) => {
    expect(checkRestore(text).length).toBeGreaterThan(0);
  });

  it('the kernel model applies --noflush semantics and refuses what iptables-restore refuses', () => {
    const k = emptyKernel();
    applyRestore(k, `*filter\n:${C} - [0:0]\n-A ${C} -m comment --comment x -j ACCEPT\n-I INPUT 1 -m comment --comment d -j ${C}\nCOMMIT\n`);
    expect(kernelView(k)).toEqual({ [`filter/${C}`]: ['-m comment --comment x -j ACCEPT'], 'filter/INPUT': [`-m comment --comment d -j ${C}`] });
    expect(() => applyRestore(k, `*filter\n-X ${C}\nCOMMIT\n`)).toThrow(/not empty/);
    expect(() => applyRestore(k, `*filter\n:${C} - [0:0]\n-X ${C}\nCOMMIT\n`)).toThrow(/referenced/);
    expect(() => applyRestore(k, `*filter\n-D ${C} -j DROP\nCOMMIT\n`)).toThrow(/does not exist/);
    expect(() => applyRestore(k, '*filter\n-A DOCKGATE-NOPE -j DROP\nCOMMIT\n')).toThrow(/no such chain/);
    // A failed block changes nothing.
    expect(kernelView(k)).toEqual({ [`filter/${C}`]: ['-m comment --comment x -j ACCEPT'], 'filter/INPUT': [`-m comment --comment d -j ${C}`] });
  });
});
