// A host whose firewall is a native nftables table (as Debian's /etc/nftables.conf or firewalld
// make), beside dockgate's iptables-nft chains: input and forward policy drop. In nftables an
// accept in one base chain does not stop another from dropping, so without dockgate's footprint
// its openings are dead. Proved with real connections from the outside namespace, a real dockerd
// and dockgate as a real process:
// - foreign_chains: allow: a labelled proxy port and a labelled dnat port answer, an unlabelled
//   one does not; status calls them effective; the footprint comes back after the admin's table
//   is rewritten, within the drift bound;
// - foreign_chains: leave (SIGHUP): nothing of dockgate stays in the admin's table, the ports are
//   dead, and status says blocked, naming `inet admin input`;
// - a ban tool's own table (policy accept, a ban set) keeps its bans: no footprint there, the
//   banned client stays out of the proxy and dnat ports;
// - flush takes the footprint and the marks away;
// - firewalld, running in the host namespace with a bus of its own: the same footprint in its
//   filter_INPUT and filter_FORWARD, back within the drift bound after `firewall-cmd --reload`.
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupLeftovers } from '../support/netns.js';
import { type Firewalld, firewalldMissing, startFirewalld } from './firewalld.js';
import {
  type DaemonProcess,
  type DockerHost,
  HOST_IP,
  OUTSIDE_IP,
  clientIp,
  httpGet,
  runCli,
  startDockerHost,
  startWebContainer,
  stopAll,
  waitFor,
  startSeer,
  startReadyDaemon,
} from './harness.js';

const ADMIN = `table inet admin {
  chain input { type filter hook input priority 0; policy drop; ct state established,related accept; iif lo accept; }
  chain forward { type filter hook forward priority 0; policy drop; ct state established,related accept; }
}
`;
/** A ban tool's own table, as CrowdSec's nftables bouncer writes it: policy accept, a source set with timeouts. */
const BANS = `table inet bans {
  set v4 { type ipv4_addr; flags timeout; }
  chain input { type filter hook input priority -10; policy accept; ip saddr @v4 drop; }
  chain forward { type filter hook forward priority -10; policy accept; ip saddr @v4 drop; }
}
`;
const DRIFT_MS = 300;

let h: DockerHost;
let daemon: DaemonProcess;
let configFile: string;

const url = (port: number, path = '/'): string => `http://${HOST_IP}:${port}${path}`;
const answers = async (port: number, path = '/'): Promise<boolean> => (await httpGet(h.outside, url(port, path), 1500)).ok;

async function ruleset(): Promise<string> {
  return (await h.host.exec('nft', ['list', 'ruleset'])).stdout;
}

async function loadAdminTable(): Promise<void> {
  await writeFile(`${h.tmpDir}/admin.nft`, ADMIN);
  await h.host.exec('nft', ['-f', `${h.tmpDir}/admin.nft`]);
}

async function writeConfig(mode: 'allow' | 'leave'): Promise<void> {
  await writeFile(configFile, `log_level: debug\nforeign_chains: ${mode}\nsync:\n  debounce_ms: 10\n  drift_check_ms: ${DRIFT_MS}\n`);
}

interface StatusJson {
  containers: Array<{ name: string; openings: Array<{ hostPort: number; effect: { state: string; blockers: Array<{ chain: string }> } }> }>;
  foreignChains: { mode: string; footprints?: string[]; needed?: string[] };
}

async function status(): Promise<{ code: number; json: StatusJson; text: string }> {
  const j = await runCli(h, ['status', '--json', '--config', configFile]);
  const t = await runCli(h, ['status', '--config', configFile]);
  return { code: j.exitCode, json: JSON.parse(j.stdout) as StatusJson, text: t.stdout };
}

const effectOf = (s: StatusJson, name: string) => s.containers.find((c) => c.name === name)!.openings[0]!.effect;


beforeAll(async () => {
  await cleanupLeftovers();
  h = await startDockerHost();
  configFile = `${h.tmpDir}/config.yaml`;
  await writeConfig('allow');
  await loadAdminTable();
  await startWebContainer(h, { name: 'web', ports: [`${HOST_IP}:8000:8000`], labels: { 'dockgate.ports': '8000' } });
  await startWebContainer(h, { name: 'nolabel', ports: [`${HOST_IP}:8001:8000`] });
  await startSeer(h, 'seer', ['-p', `${HOST_IP}:8010:80`, '-l', 'dockgate.ports=80', '-l', 'dockgate.mode=dnat']);
  daemon = await startReadyDaemon(h, configFile);
}, 180_000);

afterAll(async () => {
  await stopAll();
});

describe('native nft admin table with input and forward policy drop', () => {
  it('allow: the labelled proxy and dnat ports answer from outside, the unlabelled one does not; status says effective', async () => {
    await daemon.waitForLog((l) => l.event === 'foreign-chain' && l.chain === 'inet admin forward', 5_000);
    expect(await waitFor('web answers', async () => ((await answers(8000)) ? true : undefined), 5_000)).toBe(true);
    const seen = await waitFor('seer answers', async () => {
      const g = await httpGet(h.outside, url(8010, '/cgi-bin/ip'));
      return g.ok ? g.body : undefined;
    }, 5_000);
    expect(clientIp(seen)).toBe(OUTSIDE_IP);
    expect(await answers(8001)).toBe(false);
    // One rule per chain, at its end (before the policy drop), with dockgate's comment.
    const rs = await ruleset();
    expect(rs.match(/meta mark & 0x01000000 == 0x01000000 accept comment "dockgate"/g)).toHaveLength(2);
    expect(rs).toMatch(/chain input \{\n\t\ttype filter hook input priority filter; policy drop;\n(\t\t(?!meta mark).*\n)+\t\tmeta mark & 0x01000000 == 0x01000000 accept comment "dockgate"\n\t\}/);
    const s = await status();
    expect(s.code).toBe(0);
    expect(effectOf(s.json, 'web').state).toBe('effective');
    expect(effectOf(s.json, 'seer').state).toBe('effective');
    expect(s.json.foreignChains.footprints).toEqual(['inet admin input', 'inet admin forward']);
    expect(s.text).toContain(`${HOST_IP}:8000->8000/tcp from anywhere: effective`);
    // plan shows all of it: the marks in mangle and the rule in the admin's chains.
    const plan = (await runCli(h, ['plan', '--config', configFile])).stdout;
    expect(plan).toContain('# iptables mangle (marks what dockgate accepts, for the rule below)\n*mangle\n');
    expect(plan).toMatch(/-j MARK --set-xmark 0x1000000\/0x1000000/);
    expect(plan).toContain('inet admin input (at its end, before the policy drop): meta mark and 0x01000000 == 0x01000000 accept comment "dockgate"\n');
    expect(plan).toContain('inet admin forward (at its end, before the policy drop): meta mark');
  });

  it("a ban tool's table (CrowdSec's shape): the banned client stays out of the proxy and the dnat port, and gets in once unbanned", async () => {
    await writeFile(`${h.tmpDir}/bans.nft`, BANS);
    await h.host.exec('nft', ['-f', `${h.tmpDir}/bans.nft`]);
    await h.host.exec('nft', ['add', 'element', 'inet', 'bans', 'v4', `{ ${OUTSIDE_IP} timeout 1h }`]);
    // dockgate looks again at the kernel's change event; give it a few drift checks to (wrongly) act.
    await new Promise((r) => setTimeout(r, DRIFT_MS * 4));
    expect((await h.host.exec('nft', ['list', 'table', 'inet', 'bans'])).stdout).not.toContain('dockgate');
    expect(await answers(8000)).toBe(false);
    expect(await answers(8010)).toBe(false);
    const s = await status();
    expect(effectOf(s.json, 'web').state).toBe('may be blocked');
    expect(effectOf(s.json, 'web').blockers[0]!.chain).toBe('inet bans input');
    expect(effectOf(s.json, 'seer').blockers[0]!.chain).toBe('inet bans forward');
    await h.host.exec('nft', ['flush', 'set', 'inet', 'bans', 'v4']);
    expect(await answers(8000)).toBe(true);
    expect(await answers(8010)).toBe(true);
    await h.host.exec('nft', ['delete', 'table', 'inet', 'bans']);
  });

  it('the admin reloads the table: the footprint is back within the drift bound', async () => {
    const t0 = Date.now();
    await h.host.exec('nft', ['delete', 'table', 'inet', 'admin']);
    await loadAdminTable();
    await daemon.waitForLog((l) => l.event === 'drift-repaired' && l.problem === 'footprint missing' && l.table === 'inet admin input', 5_000);
    const back = await waitFor('web answers again', async () => ((await answers(8000)) ? Date.now() - t0 : undefined), 5_000);
    // The drift check runs every drift_check_ms; a few checks' worth of slack for a loaded CI.
    expect(back).toBeLessThan(DRIFT_MS * 10);
    expect(await answers(8010)).toBe(true);
  });

  it('leave (SIGHUP): nothing of dockgate in the admin table, the ports are dead, status names inet admin input', async () => {
    await writeConfig('leave');
    process.kill(daemon.pid, 'SIGHUP');
    await daemon.waitForLog((l) => l.event === 'foreign-chain-blocks', 5_000);
    expect(await ruleset()).not.toContain('comment "dockgate"');
    expect((await h.host.exec('iptables-save', ['-t', 'mangle'])).stdout).not.toContain('DOCKGATE');
    expect(await answers(8000)).toBe(false);
    expect(await answers(8010)).toBe(false);
    const s = await status();
    expect(s.code).toBe(3);
    expect(effectOf(s.json, 'web').state).toBe('blocked');
    expect(effectOf(s.json, 'web').blockers[0]!.chain).toBe('inet admin input');
    expect(effectOf(s.json, 'seer').blockers[0]!.chain).toBe('inet admin forward');
    expect(s.text).toContain(`${HOST_IP}:8000->8000/tcp from anywhere: blocked by inet admin input (policy drop; new connections)`);
    // In sync, yet exit 3: it says why.
    expect(s.text).toMatch(/firewall: in sync with the plan\n(.*\n)*not all well \(exit 3\): \d+ opening\(s\) blocked or maybe blocked by another firewall/);
    expect((await runCli(h, ['plan', '--config', configFile])).stdout).toContain('# other firewalls: foreign_chains is leave: nothing written there; these chains drop what dockgate opens: inet admin input, inet admin forward\n');
    const doctor = await runCli(h, ['doctor', '--config', configFile]);
    expect(doctor.stdout).toMatch(/fail +foreign-chains +.*web 10\.0\.0\.5:8000\/tcp: blocked by inet admin input/);
  });

  it('flush removes the footprint and the marks', async () => {
    await writeConfig('allow');
    process.kill(daemon.pid, 'SIGHUP');
    await waitFor('footprint back', async () => ((await ruleset()).includes('comment "dockgate"') ? true : undefined), 5_000);
    await daemon.stop();
    const r = await runCli(h, ['flush', '--config', configFile]);
    expect(r.stdout).toContain("removed dockgate's mark accept from inet admin input");
    const rs = await ruleset();
    expect(rs).not.toContain('comment "dockgate"');
    expect(rs).not.toContain('table ip mangle');
    expect(rs).toContain('table inet admin');
  });
});

const missing = firewalldMissing();

describe.skipIf(missing !== undefined)(`firewalld in the host namespace${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let fw: Firewalld | undefined;
  let d: DaemonProcess;

  beforeAll(async () => {
    await h.host.exec('nft', ['delete', 'table', 'inet', 'admin']);
    fw = await startFirewalld(h.host, h.tmpDir);
    // firewalld flushes the iptables rules it finds when it starts (the harness's INPUT
    // established/lo accepts went; dockgate's own chains come back by its drift repair). On a
    // firewalld host firewalld is the firewall: iptables' INPUT policy is ACCEPT there.
    await h.host.exec('iptables', ['-w', '-P', 'INPUT', 'ACCEPT']);
    await writeConfig('allow');
    d = await startReadyDaemon(h, configFile);
  }, 90_000);

  afterAll(async () => {
    await d?.stop();
    await fw?.stop();
  });

  it("its public zone would reject the proxy port; with dockgate's mark accept the labelled ports answer, the unlabelled does not", async () => {
    await d.waitForLog((l) => l.event === 'foreign-chain' && l.chain === 'inet firewalld filter_INPUT', 10_000);
    expect(await waitFor('web answers', async () => ((await answers(8000)) ? true : undefined), 5_000)).toBe(true);
    expect(await answers(8010)).toBe(true);
    expect(await answers(8001)).toBe(false);
    const doctor = await runCli(h, ['doctor', '--config', configFile]);
    expect(doctor.stdout).toMatch(/ok +firewalld +runs \(table inet firewalld/);
    expect(doctor.stdout).toMatch(/ok +foreign-chains +every opening passes/);
  });

  it('firewall-cmd --reload drops the table it rewrites; the footprint is back within the drift bound', async () => {
    const reload = await fw!.cmd(['--reload']);
    expect(reload.stdout.trim()).toBe('success');
    const t0 = Date.now();
    await d.waitForLog((l) => l.event === 'drift-repaired' && l.problem === 'footprint missing' && l.table === 'inet firewalld filter_INPUT', 10_000).catch(async (err: Error) => {
      // What the daemon did meanwhile, for the failure message.
      throw new Error(`${err.message}\n${d.lines.slice(-80).filter((l) => !JSON.stringify(l).includes("\"drift-repaired\",\"table\":\"")).map((l) => JSON.stringify(l)).join('\n')}`);
    });
    const back = await waitFor('web answers again', async () => ((await answers(8000)) ? Date.now() - t0 : undefined), 5_000);
    expect(back).toBeLessThan(DRIFT_MS * 10);
    expect((await ruleset()).match(/comment "dockgate"/g)).toHaveLength(2);
  });
});
