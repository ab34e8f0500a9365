// `--network host` containers (issue 22 item 2), with a real dockerd: such a container shares the
// namespace dockerd runs in (here the test's "host" namespace), so its servers are sockets on the
// host's own addresses. `dockgate.ports` opens INPUT for the ones its own processes listen on, in
// both families, from `dockgate.from`; a port a host process listens on stays closed whatever the
// label says; a socket of its own opened later is followed at the next check.
import { mkdir, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupLeftovers } from '../support/netns.js';
import {
  type DaemonProcess,
  type DockerHost,
  HOST_IP,
  OUTSIDE_IP,
  httpGet,
  runCli,
  runInHost,
  saveClean,
  startDockerHost,
  startInHost,
  startReadyDaemon,
  startWebContainer,
  stopAll,
  waitFor,
} from './harness.js';
import { dualStackUplink } from './topology.js';

const HOST6 = 'fd00:22::5';
const OUTSIDE6 = 'fd00:22::9';
/** How often the daemon reads the sockets again (sync.drift_check_ms). */
const POLL_MS = 300;

let h: DockerHost;
let daemon: DaemonProcess;
let configFile: string;
let www: string;

const url = (port: number): string => `http://${HOST_IP}:${port}/`;
const body = async (port: number): Promise<string> => {
  const r = await httpGet(h.outside, url(port), 1500);
  return r.ok ? r.body.trim() : '(no answer)';
};
/** GET over IPv6 from outside (curl -g: brackets are an address, not a glob). */
const body6 = async (port: number): Promise<string> => {
  const r = await h.outside.exec('curl', ['-g', '-s', '-f', '--noproxy', '*', '-m', '1.5', `http://[${HOST6}]:${port}/`], { reject: false, timeoutMs: 4_000 });
  return r.exitCode === 0 ? r.stdout.trim() : '(no answer)';
};
/** Whether the server answers inside the host namespace itself (the admin's INPUT accepts lo). */
const servesLocally = async (port: number): Promise<boolean> =>
  (await runInHost(h, ['curl', '-s', '-f', '-m', '2', `http://127.0.0.1:${port}/`], {}, 5_000)).exitCode === 0;
const ownRules = async (save: 'iptables-save' | 'ip6tables-save' = 'iptables-save'): Promise<string[]> =>
  (await saveClean(h.host, save)).split('\n').filter((l) => l.startsWith('-A DOCKGATE-OPENINGS-'));

interface StatusJson {
  containers: Array<{ name: string; hostNetwork?: boolean; openings: Array<{ family: number; hostPort: number; sources: unknown }>; warnings: string[] }>;
}

beforeAll(async () => {
  await cleanupLeftovers();
  h = await startDockerHost();
  // The admin's IPv6 firewall, as for IPv4: policy DROP, neighbour discovery let through.
  await dualStackUplink(h, { host6: HOST6, outside6: OUTSIDE6 });
  www = `${h.tmpDir}/host-www`;
  await mkdir(www, { recursive: true });
  await writeFile(`${www}/index.html`, 'host\n');
  // A host process (an sshd, say) on a port the container's label names too.
  await startInHost(h, ['busybox', 'httpd', '-f', '-p', '[::]:8091', '-h', www]);
  configFile = `${h.tmpDir}/config.yaml`;
  await writeFile(configFile, `log_level: debug\nsync:\n  debounce_ms: 10\n  drift_check_ms: ${POLL_MS}\n`);
  daemon = await startReadyDaemon(h, configFile);
  await waitFor('the host process serves 8091 locally', async () => servesLocally(8091), 5_000);
});

afterAll(async () => {
  await stopAll();
});

describe('a --network host container', () => {
  it('is reachable from outside on a port its own process listens on, in both families; a host process\'s port in its label stays closed', async () => {
    await startWebContainer(h, {
      name: 'edge',
      network: 'host',
      port: 8090,
      labels: { 'dockgate.ports': '8090,8091,8092,8093', 'dockgate.mode': 'dnat', 'dockgate.egress': 'false' },
    });
    await waitFor('edge reachable over IPv4', async () => ((await body(8090)) === 'edge' ? true : undefined), 5_000);
    await waitFor('edge reachable over IPv6', async () => ((await body6(8090)) === 'edge' ? true : undefined), 5_000);
    expect(await body(8091)).toBe('(no answer)');
    expect(await body6(8091)).toBe('(no answer)');
    expect((await ownRules()).join('\n')).not.toMatch(/--dport 809[123] /);
    expect((await ownRules('ip6tables-save')).join('\n')).toMatch(/--dport 8090 .*-j ACCEPT/);
    const warn = await daemon.waitForLog((l) => l.event === 'warning' && l.container === 'edge' && /do not apply/.test(String(l.reason)), 5_000);
    expect(String(warn.reason)).toMatch(/dockgate\.mode and dockgate\.egress do not apply/);
  });

  it('status shows it: network=host, its openings, what does not apply, and the ports it does not listen on', async () => {
    const text = await runCli(h, ['status', '--config', configFile]);
    expect(text.stdout).toMatch(/^edge \([0-9a-f]{12}\) network=host$/m);
    expect(text.stdout).toMatch(/open {2}\*:8090->8090\/tcp from anywhere/);
    expect(text.stdout).toMatch(/warn {2}dockgate\.ports entry "8091": no process of this container listens on 8091: nothing opened/);
    expect(text.stdout).toMatch(/warn {2}uses the host network: dockgate\.mode and dockgate\.egress do not apply/);
    expect(text.stdout).toContain('firewall: in sync with the plan');
    const json = JSON.parse((await runCli(h, ['status', '--json', '--config', configFile])).stdout) as StatusJson;
    const edge = json.containers.find((c) => c.name === 'edge')!;
    expect(edge.hostNetwork).toBe(true);
    expect(edge.openings.map((o) => [o.family, o.hostPort])).toEqual([
      [4, 8090],
      [6, 8090],
    ]);
  });

  it('a host process listening later on another port of its label is not opened; its own later listener is, at the next check', async () => {
    await startInHost(h, ['busybox', 'httpd', '-f', '-p', '0.0.0.0:8092', '-h', www]);
    await waitFor('the host process serves 8092 locally', async () => servesLocally(8092), 5_000);
    await h.docker(['exec', '-d', 'edge', 'httpd', '-f', '-p', '8093', '-h', '/www']);
    const t0 = Date.now();
    await waitFor('edge reachable on its later port', async () => ((await body(8093)) === 'edge' ? true : undefined), 10 * POLL_MS + 3_000, 100);
    expect(Date.now() - t0).toBeLessThan(10 * POLL_MS + 3_000);
    // By then the host's 8092 has been seen by as many checks: still closed.
    expect(await body(8092)).toBe('(no answer)');
    expect((await ownRules()).join('\n')).not.toMatch(/--dport 8092 /);
  });

  it('dockgate.from restricts', async () => {
    await startWebContainer(h, { name: 'agent', network: 'host', port: 8094, labels: { 'dockgate.ports': '8094', 'dockgate.from': '192.0.2.0/24' } });
    await startWebContainer(h, { name: 'friend', network: 'host', port: 8095, labels: { 'dockgate.ports': '8095', 'dockgate.from': `${OUTSIDE_IP}/32` } });
    await waitFor('friend reachable', async () => ((await body(8095)) === 'friend' ? true : undefined), 5_000);
    expect(await body(8094)).toBe('(no answer)');
    // An IPv4-only `from` closes IPv6.
    expect(await body6(8095)).toBe('(no answer)');
    const rules = (await ownRules()).join('\n');
    expect(rules).toMatch(/-s 192\.0\.2\.0\/24 -p tcp -m tcp --dport 8094 /);
    expect(rules).toMatch(new RegExp(`-s ${OUTSIDE_IP}/32 -p tcp -m tcp --dport 8095 `));
  });

  it('stopped, its openings go', async () => {
    await h.docker(['stop', '-t', '1', 'edge']);
    await waitFor('edge closed', async () => ((await ownRules()).join('\n').includes('--dport 8090 ') ? undefined : true), 5_000);
    expect(await body(8090)).toBe('(no answer)');
  });
});
