// A kernel without the raw table (LXC/Proxmox, no iptable_raw): the pure parts. How an
// iptables-restore failure is told to be that, and what the planner writes instead of DOCKGATE-RAW.
// The real-kernel counterpart is test/dataplane/restricted-kernel.test.ts.
import { describe, expect, it } from 'vitest';
import { rawMissingMessage, refusedTable } from '../../src/dataplane/kernel-limits.js';
import { renderPlan } from '../../src/plan/restore.js';
import { assertRestoreGrammar } from '../../src/plan/restore-grammar.js';
import { familyRuleSet } from '../../src/plan/ruleset.js';
import { BRIDGE, DUAL, SEALED, container, plan } from './fixtures.js';
import { linesOf } from '../../src/plan/render.js';

const LEGACY_REFUSAL =
  "iptables-restore v1.8.9 (legacy): iptables-restore: unable to initialize table 'raw'\nError occurred at line: 1\nTry `iptables-restore -h' or 'iptables-restore --help' for more information.\n";

describe('refusedTable: the kernel lacks the raw table, told from every other failure', () => {
  const input = '*raw\n:DOCKGATE-RAW - [0:0]\nCOMMIT\n*nat\n:DOCKGATE-POSTROUTING - [0:0]\nCOMMIT\n';
  it("legacy iptables-restore's own words", () => {
    expect(refusedTable(input, LEGACY_REFUSAL)).toBe('raw');
  });
  it("the kernel's words, on the line of the raw table", () => {
    expect(refusedTable(input, "iptables-restore: line 2 failed: Table does not exist (do you need to insmod?)\n")).toBe('raw');
  });
  it('the same words on a line of another table are not raw', () => {
    expect(refusedTable(input, 'iptables-restore: line 5 failed: Table does not exist (do you need to insmod?)\n')).toBeUndefined();
  });
  it('any other failure, or an input without raw, stays an error', () => {
    expect(refusedTable(input, "iptables-restore: line 2 failed\nCouldn't load target `DGT-NO-SUCH-CHAIN'\n")).toBeUndefined();
    expect(refusedTable(input, 'Another app is currently holding the xtables lock. Stopped waiting after 5s.\n')).toBeUndefined();
    expect(refusedTable('*nat\nCOMMIT\n', LEGACY_REFUSAL)).toBeUndefined();
    expect(refusedTable(input, "iptables-restore: unable to initialize table 'nat'\nError occurred at line: 4\n")).toBeUndefined();
  });
});

describe('planning for a kernel without the raw table', () => {
  const web = container('web', { labels: { 'dockgate.ports': '80' }, publish: ['0.0.0.0:8000:80/tcp'] });
  const networks = [BRIDGE, SEALED, DUAL];
  const chain = (p: ReturnType<typeof plan>, name: string): string[] => linesOf(p.chains.find((c) => c.name === name) ?? { rules: [] });

  it('with raw: DOCKGATE-RAW holds the drops, and filter/nat hold no stand-ins', () => {
    const p = plan([web], networks);
    expect(chain(p, 'DOCKGATE-RAW')).toContain('-d 172.17.0.0/16 ! -i docker0 -m comment --comment "dockgate no direct access to bridge" -j DROP');
    expect(chain(p, 'DOCKGATE-FORWARD').some((l) => l.includes('no direct access'))).toBe(false);
    expect(chain(p, 'DOCKGATE-INPUT').some((l) => l.includes('loopback'))).toBe(false);
  });

  it('without raw: no raw chain, no raw jump, nothing written to raw at all', () => {
    const p = plan([web], networks, { rawMissing: [4] });
    expect(p.chains.filter((c) => c.table === 'raw')).toEqual([]);
    expect(p.jumps.filter((j) => j.table === 'raw')).toEqual([]);
    expect(renderPlan(p)).not.toContain('*raw');
  });

  it('the direct-access drops move to DOCKGATE-FORWARD, letting only replies and DNATed flows through', () => {
    const forward = chain(plan([web], networks, { rawMissing: [4] }), 'DOCKGATE-FORWARD');
    const stand = (net: string, bridge: string, subnet: string): string =>
      `-d ${subnet} ! -i ${bridge} -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -m comment --comment "dockgate no direct access to ${net}" -j DROP`;
    expect(forward).toContain(stand('bridge', 'docker0', '172.17.0.0/16'));
    expect(forward).toContain(stand('sealed', 'br-dddddddddddd', '172.22.0.0/24'));
    // Before any accept of the chain (the replies', the containers'), after the admin's chain.
    const first = forward.findIndex((l) => l.includes('no direct access'));
    expect(forward[0]).toBe('-m comment --comment dockgate -j DOCKGATE-USER');
    expect(forward.findIndex((l) => l.includes('-j ACCEPT'))).toBeGreaterThan(first);
  });

  it('the loopback guard (CVE-2020-8558) moves to the top of DOCKGATE-INPUT and DOCKGATE-PREROUTING', () => {
    const p = plan([web], networks, { rawMissing: [4] });
    expect(chain(p, 'DOCKGATE-INPUT')[0]).toBe('-d 127.0.0.0/8 ! -i lo -m comment --comment "dockgate loopback only from lo" -j DROP');
    expect(chain(p, 'DOCKGATE-PREROUTING')[0]).toBe('-d 127.0.0.0/8 ! -i lo -m comment --comment "dockgate loopback only from lo" -j RETURN');
  });

  it('only the family whose kernel lacks raw is changed', () => {
    const p = plan([web], networks, { ipv6: true, rawMissing: [6] });
    expect(p.chains.some((c) => c.name === 'DOCKGATE-RAW')).toBe(true);
    const v6 = familyRuleSet(p, 6)!;
    expect(v6.chains.filter((c) => c.table === 'raw')).toEqual([]);
    expect(v6.jumps.filter((j) => j.table === 'raw')).toEqual([]);
    expect(chain(v6, 'DOCKGATE-FORWARD')).toContain(
      '-d fd00:db8:1::/64 ! -i br-eeeeeeeeeeee -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -m comment --comment "dockgate no direct access to dual" -j DROP',
    );
    // IPv6 has no route_localnet and [::1] is never DNATed: no loopback stand-in.
    expect(chain(v6, 'DOCKGATE-INPUT').some((l) => l.includes('loopback'))).toBe(false);
  });

  it('with the drop log on, the stand-in is logged as the raw drop was, and the text stays within the restore grammar', () => {
    const dropLog = { group: 1, ratePerSecond: 5, burst: 10 };
    const withRaw = plan([web], networks, { dropLog });
    const p = plan([web], networks, { dropLog, rawMissing: [4] });
    const forward = chain(p, 'DOCKGATE-FORWARD');
    const drop = forward.findIndex((l) => l.includes('no direct access to bridge') && l.endsWith('-j DROP'));
    expect(forward[drop - 1]).toMatch(/^-d 172\.17\.0\.0\/16 ! -i docker0 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT .*-j NFLOG/);
    // The same entry as raw's, so the drop log reads it the same way.
    const rawLog = chain(withRaw, 'DOCKGATE-RAW').find((l) => l.includes('no direct access to bridge') && l.includes('NFLOG'))!;
    expect(forward[drop - 1]!.replace(' -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT', '')).toBe(rawLog);
    expect(() => assertRestoreGrammar(renderPlan(p), 'iptables-restore', { family: 4 })).not.toThrow();
  });

  it('the warning names what is lost and what stands in for it', () => {
    expect(rawMissingMessage(4)).toMatch(/no iptables raw table.*DOCKGATE-FORWARD.*conntrack.*loopback guard/);
    expect(rawMissingMessage(6)).toMatch(/no ip6tables raw table/);
  });
});
