// doctor's mark-bit check on a real kernel: a namespace this test makes holds, besides dockgate's
// own marks and footprint, an `ip rule` with a fwmark over the bit, an ip6tables MARK rule that
// sets it and an nft rule that tests it. The probe reads them through the namespace's tools, and
// the check names each with where it was found, and nothing of dockgate's own.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { CommandQueue } from '../../src/dataplane/command-queue.js';
import { Footprint } from '../../src/dataplane/footprint.js';
import { collectHostFacts } from '../../src/dataplane/host-probe.js';
import { collectHostFirewall } from '../../src/dataplane/host-firewall-probe.js';
import { Iptables } from '../../src/dataplane/iptables.js';
import { Nft } from '../../src/dataplane/nft.js';
import type { CheckResult } from '../../src/doctor/check-result.js';
import { runChecks } from '../../src/doctor/doctor-checks.js';
import { renderPlan } from '../../src/plan/restore.js';
import { type Netns, cleanupLeftovers, createNetns, destroyNetns } from '../support/netns.js';
import { fixturePlan } from '../hostfw/plan-fixture.js';

const ADMIN = `table inet admin {
  chain input { type filter hook input priority 0; policy drop; ct state established,related accept; }
  chain forward { type filter hook forward priority 0; policy drop; }
}
`;

let ns: Netns;
let dir: string;

beforeAll(async () => {
  await cleanupLeftovers();
  ns = await createNetns('mbp');
  dir = await mkdtemp(join(tmpdir(), 'dgt-markbit-'));
  await mkdir(join(dir, 'etc/docker'), { recursive: true });
  await writeFile(join(dir, 'etc/docker/daemon.json'), '{"iptables": false, "bridge-accept-fwmark": "0x2000000/0x2000000"}\n');
}, 60_000);

afterAll(async () => {
  if (ns) await destroyNetns(ns);
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function markBit(configText: string): Promise<CheckResult> {
  const config = parseConfig(configText, 'test.yaml');
  const queue = new CommandQueue({ netns: ns.path });
  const host = await collectHostFacts({ queue, config, root: dir, sysctlDir: '/proc/sys', procDir: join(dir, 'no-proc'), dockerHost: 'unix:///nonexistent.sock' });
  const hostFirewall = await collectHostFirewall({ queue, config, root: dir, procDir: join(dir, 'no-proc'), plan: fixturePlan() });
  const r = runChecks({ ...host, docker: { host: 'x', reachable: false, error: 'not asked' }, hostFirewall }).find((x) => x.name === 'mark-bit');
  if (!r) throw new Error('no mark-bit check');
  return r;
}

describe('mark-bit in a namespace', () => {
  it("dockgate's own marks and footprint alone: ok", async () => {
    await ns.exec('iptables-restore', ['--noflush'], { input: renderPlan(fixturePlan()) });
    await ns.exec('nft', ['-f', '-'], { input: ADMIN });
    const queue = new CommandQueue({ netns: ns.path });
    const r = await new Footprint(new Iptables(queue, { restoreCommand: 'iptables-restore', saveCommand: 'iptables-save', waitSeconds: 5 }), new Nft(queue)).sync(fixturePlan(), 'allow');
    expect(r.inserted).not.toEqual([]);
    expect(await markBit('')).toMatchObject({ status: 'ok', detail: expect.stringMatching(/^no other rule tests or sets foreign_chains_mark 0x01000000/) });
  });

  it('an ip rule, an ip6tables MARK and an nft test of the bit are each named with where they are', async () => {
    await ns.exec('ip', ['rule', 'add', 'fwmark', '0x1000000/0x1000000', 'table', '100', 'priority', '100']);
    await ns.exec('ip6tables', ['-t', 'mangle', '-A', 'PREROUTING', '-i', 'lo', '-j', 'MARK', '--or-mark', '0x1000000']);
    await ns.exec('nft', ['add', 'rule', 'inet', 'admin', 'forward', 'meta', 'mark', 'and', '0x01000000', '!=', '0', 'drop']);
    const r = await markBit('');
    expect(r.status).toBe('warn');
    expect(r.detail).toContain('ip rule priority 100: fwmark 0x1000000/0x1000000 lookup 100');
    expect(r.detail).toContain('ip6tables mangle/PREROUTING: -A PREROUTING -i lo -j MARK --set-xmark 0x1000000/0x1000000');
    expect(r.detail).toMatch(/nft inet admin forward handle \d+: tests meta mark & 0x1000000/);
    // Docker's mark is another bit, and dockgate's own lines are not others'.
    expect(r.detail).not.toContain('bridge-accept-fwmark');
    expect(r.detail).not.toMatch(/DOCKGATE-M|comment "dockgate"|inet admin input/);
    // Clear of the bits they use (and of Docker's 0x2000000).
    expect(r.detail).toMatch(/e\.g\. foreign_chains_mark: 0x04000000$/);
  });

  it("with the bit Docker's bridge-accept-fwmark uses, daemon.json is named", async () => {
    const r = await markBit('foreign_chains_mark: 0x02000000\n');
    expect(r.status).toBe('warn');
    expect(r.detail).toContain(`${join(dir, 'etc/docker/daemon.json')}: bridge-accept-fwmark 0x2000000/0x2000000`);
    expect(r.detail).not.toContain('ip rule priority 100');
  });
});
