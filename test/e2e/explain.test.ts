// `dockgate explain` on a real host: a real dockerd with its iptables off, the admin's INPUT
// policy DROP, dockgate running, and every answer checked against a real connection from the
// outside namespace — an explanation that disagrees with the kernel is a bug, whichever is right.
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupLeftovers } from '../support/netns.js';
import {
  type DaemonProcess,
  type DockerHost,
  HOST_IP,
  OUTSIDE_IP,
  httpGet,
  runCli,
  startDockerHost,
  startWebContainer,
  stopAll,
  waitFor,
  startReadyDaemon,
} from './harness.js';

let h: DockerHost;
let daemon: DaemonProcess;
let configFile: string;

const url = (port: number): string => `http://${HOST_IP}:${port}/`;
const reachable = async (port: number): Promise<boolean> => (await httpGet(h.outside, url(port), 1500)).ok;
const explain = (...args: string[]) => runCli(h, ['explain', ...args, '--config', configFile]);

/** explain's answer for the outside client, and what a real connection does: they must agree. */
async function both(port: number): Promise<{ exitCode: number; stdout: string; stderr: string; reached: boolean }> {
  const r = await explain(OUTSIDE_IP, `${HOST_IP}:${port}/tcp`);
  const reached = await reachable(port);
  expect(r.exitCode === 0, `explain says ${r.exitCode === 0 ? 'allowed' : 'not allowed'}, a real connection ${reached ? 'got through' : 'did not'}:\n${r.stdout}${r.stderr}`).toBe(reached);
  return { ...r, reached };
}

beforeAll(async () => {
  await cleanupLeftovers();
  h = await startDockerHost();
  configFile = `${h.tmpDir}/config.yaml`;
  await writeFile(configFile, 'log_level: debug\nsync:\n  debounce_ms: 10\n');
  daemon = await startReadyDaemon(h, configFile);
  await startWebContainer(h, { name: 'web', ports: [`${HOST_IP}:8000:8000`], labels: { 'dockgate.ports': '8000' } });
  await startWebContainer(h, { name: 'nolabel', ports: [`${HOST_IP}:8001:8000`] });
  await startWebContainer(h, { name: 'private', ports: [`${HOST_IP}:8002:8000`], labels: { 'dockgate.ports': '8000', 'dockgate.from': '192.168.77.0/24' } });
  await startWebContainer(h, { name: 'mapped', labels: { 'dockgate.ports': `${HOST_IP}:8020:8000`, 'dockgate.mode': 'dnat' } });
  for (const name of ['web', 'private', 'mapped']) {
    await daemon.waitForLog((l) => l.event === 'applied' && l.container === name, 10_000);
  }
  await waitFor('web reachable', async () => ((await reachable(8000)) ? true : undefined), 5_000);
});

afterAll(async () => {
  await stopAll();
});

describe('dockgate explain, checked against real connections', () => {
  it('an open labelled port: allowed, naming the container, its label and the accepting rule', async () => {
    const r = await both(8000);
    expect(r.reached).toBe(true);
    expect(r.stdout).toContain(`${OUTSIDE_IP} -> ${HOST_IP}:8000/tcp: ALLOWED`);
    expect(r.stdout).toMatch(/container: web \([0-9a-f]{12}\) dockgate\.ports="8000" dockgate\.from=\(default\)/);
    expect(r.stdout).toMatch(/filter (DOCKGATE-OPENINGS-[0-9a-f]{2}) #\d+: -A \1 -d 10\.0\.0\.5\/32 -p tcp -m tcp --dport 8000 .*"web\/[0-9a-f]{12}" -j ACCEPT {3}<- decided \(dockgate\)/);
    expect(r.stdout).toContain('other firewalls (nft base chains): none drops it');
    // The in interface comes from the route back to the client: the veth's connected subnet.
    expect(r.stdout).toContain(`arrives on: ${h.hostIf} (the route back to ${OUTSIDE_IP}: connected subnet 10.0.0.0/24 on ${h.hostIf})`);
  });

  it('a dnat port: DNATed to the container, accepted in FORWARD', async () => {
    const r = await both(8020);
    expect(r.reached).toBe(true);
    expect(r.stdout).toMatch(/DNAT to 172\.31\.0\.\d+:8000\n {2}routed to FORWARD, out of docker0/);
    expect(r.stdout).toMatch(/filter DOCKGATE-CONTAINERS-[0-9a-f]{2} #\d+: .* <- decided \(dockgate\)/);
  });

  it('a closed unlabelled port: blocked by the policy, nobody owns it and why', async () => {
    const r = await both(8001);
    expect(r.reached).toBe(false);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain("blocked by the admin's filter INPUT policy DROP\n");
    expect(r.stdout).toMatch(/owner: container nolabel \([0-9a-f]{12}\) publishes 10\.0\.0\.5:8001->8000\/tcp with -p but opens nothing for it: publishes 8000\/tcp but has no dockgate\.ports label/);
  });

  it('a client outside dockgate.from: blocked, and it says so', async () => {
    const r = await both(8002);
    expect(r.reached).toBe(false);
    expect(r.stdout).toContain("blocked by the admin's filter INPUT policy DROP\n");
    expect(r.stdout).toContain(`note: ${OUTSIDE_IP} is not among the sources of private's opening (dockgate.from="192.168.77.0/24": 192.168.77.0/24)`);
  });

  it('the admin\'s ban in DOCKGATE-USER: blocked by it, and the connection fails', async () => {
    const ban = ['-s', `${OUTSIDE_IP}/32`, '-j', 'DROP'];
    await h.host.exec('iptables', ['-w', '-I', 'DOCKGATE-USER', ...ban]);
    try {
      const r = await both(8000);
      expect(r.reached).toBe(false);
      expect(r.stdout).toContain(`blocked by your DOCKGATE-USER chain (filter DOCKGATE-USER rule 1: -s ${OUTSIDE_IP}/32 -j DROP)`);
      expect(r.stdout).toMatch(/container: web /);
      // JSON says the same.
      const j = await explain(OUTSIDE_IP, `${HOST_IP}:8000`, '--json');
      const parsed = JSON.parse(j.stdout) as { allowed: boolean; answer: string; decidedBy: { chain: string; by: string }; owner: { container: string } };
      expect([j.exitCode, parsed.allowed, parsed.answer, parsed.decidedBy.chain, parsed.decidedBy.by, parsed.owner.container]).toEqual([
        1, false, 'blocked', 'DOCKGATE-USER', 'your DOCKGATE-USER chain', 'web',
      ]);
    } finally {
      await h.host.exec('iptables', ['-w', '-D', 'DOCKGATE-USER', ...ban]);
    }
    await waitFor('web reachable again', async () => ((await reachable(8000)) ? true : undefined), 3_000);
  });

  it('the admin\'s own DROP above dockgate\'s jump in INPUT: blocked by it, dockgate never reached', async () => {
    const drop = ['-s', `${OUTSIDE_IP}/32`, '-p', 'tcp', '--dport', '8000', '-j', 'DROP'];
    await h.host.exec('iptables', ['-w', '-I', 'INPUT', '1', ...drop]);
    try {
      const r = await both(8000);
      expect(r.reached).toBe(false);
      expect(r.stdout).toContain(`blocked by the admin's own rule (filter INPUT rule 1: -s ${OUTSIDE_IP}/32 -p tcp -m tcp --dport 8000 -j DROP)`);
      expect(r.stdout).toContain("never reached dockgate's filter chains");
    } finally {
      await h.host.exec('iptables', ['-w', '-D', 'INPUT', ...drop]);
    }
  });

  it('explain CONTAINER: each opening from its sources; a container with nothing opened exits 1', async () => {
    const web = await explain('web');
    expect(web.exitCode, web.stdout + web.stderr).toBe(0);
    expect(web.stdout).toMatch(/^web \([0-9a-f]{12}\) mode=proxy egress=true .*: ALLOWED\n/);
    expect(web.stdout).toContain(`10.0.0.5:8000->8000/tcp from 0.0.0.0/0:\n    0.0.0.0/0 -> ${HOST_IP}:8000/tcp: ALLOWED`);
    const none = await explain('nolabel');
    expect(none.exitCode).toBe(1);
    expect(none.stdout).toContain('nothing opened');
  });

  it('usage errors exit 2 and name what is wrong', async () => {
    const bad = await explain(OUTSIDE_IP, '2001:db8::1:8080');
    expect([bad.exitCode, bad.stderr]).toEqual([2, expect.stringContaining('write an IPv6 host in brackets')]);
    const mixed = await explain(OUTSIDE_IP, '[2001:db8::1]:8080/tcp');
    expect([mixed.exitCode, mixed.stderr]).toEqual([2, expect.stringContaining(`SRC ${OUTSIDE_IP} is IPv4 but HOST 2001:db8::1 is IPv6`)]);
    const missing = await explain('no-such-container');
    expect([missing.exitCode, missing.stderr]).toEqual([2, expect.stringContaining('no running container is named "no-such-container"')]);
  });
});
