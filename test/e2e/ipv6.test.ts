// IPv6 parity (issue 11) with a real dockerd and real connections over IPv6 between namespaces:
// the admin's ip6tables INPUT and FORWARD policies are DROP (ICMPv6 accepted, as real hosts need
// for neighbour discovery), the veth pair carries ULA addresses, Docker networks are dual-stack.
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupLeftovers } from '../support/netns.js';
import {
  type DaemonProcess,
  type DockerHost,
  runCli,
  startDockerHost,
  startWebContainer,
  stopAll,
  waitFor,
  saveClean,
  spawnIn,
  startSeer,
  startAddressEcho,
  startReadyDaemon,
} from './harness.js';
import { dualNetwork, dualStackUplink } from './topology.js';

const HOST6 = 'fd00:10::5';
const OUTSIDE6 = 'fd00:10::9';

let h: DockerHost;
let daemon: DaemonProcess;
let configFile: string;
let pristine6: string;



/** GET from the outside namespace over IPv6 (curl -g: brackets are an address, not a glob). */
async function get6(url: string, timeoutMs = 1500): Promise<string> {
  const r = await h.outside.exec('curl', ['-g', '-s', '-f', '--noproxy', '*', '-m', (timeoutMs / 1000).toFixed(1), url], {
    reject: false,
    timeoutMs: timeoutMs + 2000,
  });
  return r.exitCode === 0 ? r.stdout.trim() : '(no answer)';
}
const at = (port: number, path = '/'): string => `http://[${HOST6}]:${port}${path}`;
const exec = (container: string, args: string[]) => h.docker(['exec', container, ...args], { reject: false, timeoutMs: 10_000 });
const fetchIn = async (container: string, url: string): Promise<string> =>
  (await exec(container, ['busybox', 'timeout', '3', 'wget', '-q', '-O', '-', url])).stdout.trim();
const ip6Of = async (name: string): Promise<string> =>
  (await h.docker(['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.GlobalIPv6Address}}{{end}}', name])).stdout.trim();


beforeAll(async () => {
  await cleanupLeftovers();
  h = await startDockerHost();
  // A router, so that "direct access to a container address" has a path to be refused on.
  await dualStackUplink(h, { host6: HOST6, outside6: OUTSIDE6, router: true });
  await startAddressEcho(h, h.outside.path, `[${OUTSIDE6}]:9000`);
  await dualNetwork(h, 'dual', 1);
  await dualNetwork(h, 'dual2', 2);
  pristine6 = await saveClean(h.host, 'ip6tables-save');
  configFile = `${h.tmpDir}/config.yaml`;
  await writeFile(configFile, 'log_level: debug\nsync:\n  debounce_ms: 10\n');
  daemon = await startReadyDaemon(h, configFile);
});

afterAll(async () => {
  await stopAll();
});

describe('IPv6 with a real dockerd', () => {
  it('a labelled proxy port is open over IPv6; an unlabelled one stays closed', async () => {
    await startWebContainer(h, { name: 'web6', port: 80, ports: ['8000:80'], labels: { 'dockgate.ports': '80' } });
    await startWebContainer(h, { name: 'nolabel6', port: 80, ports: ['8001:80'] });
    await waitFor('web6 over IPv6', async () => ((await get6(at(8000))) === 'web6' ? true : undefined), 5_000);
    expect(await get6(at(8001))).toBe('(no answer)');
  });

  it('IPv6 sources in from are honoured; an IPv4-only from closes IPv6', async () => {
    await startWebContainer(h, { name: 'v6other', port: 80, ports: ['8002:80'], labels: { 'dockgate.ports': '80', 'dockgate.from': '2001:db8:99::/48' } });
    await startWebContainer(h, { name: 'v6me', port: 80, ports: ['8003:80'], labels: { 'dockgate.ports': '80', 'dockgate.from': `${OUTSIDE6}` } });
    await startWebContainer(h, { name: 'v4only', port: 80, ports: ['8004:80'], labels: { 'dockgate.ports': '80', 'dockgate.from': '10.0.0.0/24' } });
    await waitFor('v6me over IPv6', async () => ((await get6(at(8003))) === 'v6me' ? true : undefined), 5_000);
    expect(await get6(at(8002))).toBe('(no answer)');
    expect(await get6(at(8004))).toBe('(no answer)');
    const v4 = await h.outside.exec('curl', ['-s', '-f', '-m', '2', 'http://10.0.0.5:8004/'], { reject: false });
    expect(v4.stdout.trim()).toBe('v4only');
  });

  it('dnat to a container on an IPv6 network: reachable, and the container sees the client\'s IPv6 address', async () => {
    await startSeer(h, 'seer6', ['--network', 'dual', '-p', '8010:80', '-l', 'dockgate.ports=80', '-l', 'dockgate.mode=dnat']);
    await waitFor('seer6 over IPv6', async () => ((await get6(at(8010))) === 'seer6' ? true : undefined), 5_000);
    // busybox httpd writes an IPv6 REMOTE_ADDR in brackets.
    expect((await get6(at(8010, '/cgi-bin/ip'))).replace(/^\[|\]$/g, '')).toBe(OUTSIDE6);
  });

  it('egress from an IPv6 network is masqueraded; two IPv6 networks stay isolated', async () => {
    await startWebContainer(h, { name: 'out6', port: 80, network: 'dual' });
    const seen = await waitFor('egress over IPv6', async () => {
      const r = await fetchIn('out6', `http://[${OUTSIDE6}]:9000/cgi-bin/ip`);
      return r === '' ? undefined : r;
    }, 5_000);
    expect(seen.replace(/^\[|\]$/g, '')).toBe(HOST6);
    await startWebContainer(h, { name: 'peer6', port: 80, network: 'dual' });
    await startWebContainer(h, { name: 'other6', port: 80, network: 'dual2' });
    const peer = await ip6Of('peer6');
    expect(peer).toMatch(/^fd00:db8:1::/);
    expect(await fetchIn('out6', `http://[${peer}]:80/`)).toBe('peer6');
    expect(await fetchIn('other6', `http://[${peer}]:80/`)).toBe('');
  });

  it('direct routed access to a container\'s IPv6 address is dropped', async () => {
    await h.outside.exec('ip', ['-6', 'route', 'add', 'fd00:db8:1::/64', 'via', HOST6]);
    const peer = await ip6Of('peer6');
    expect(await get6(`http://[${peer}]:80/`)).toBe('(no answer)');
    expect(await saveClean(h.host, 'ip6tables-save')).toMatch(/-A DOCKGATE-RAW -d fd00:db8:1::\/64 ! -i br-[0-9a-f]{12} .* -j DROP/);
  });

  it('a global (routed, not masqueraded) IPv6 subnet: egress gets its replies, direct access is still dropped', async () => {
    // 2001:db8::/32 is the documentation prefix: it exists only inside these namespaces.
    await h.docker(['network', 'create', '--ipv6', '--subnet', '172.30.3.0/24', '--subnet', '2001:db8:77::/64', 'pub6']);
    // The upstream router knows the subnet is behind the host, as it must for a routed prefix.
    await h.outside.exec('ip', ['-6', 'route', 'add', '2001:db8:77::/64', 'via', HOST6]);
    await startWebContainer(h, { name: 'pub6', port: 80, network: 'pub6' });
    const own = await ip6Of('pub6');
    expect(own).toMatch(/^2001:db8:77::/);
    const seen = await waitFor('egress from a global IPv6 subnet', async () => {
      const r = await fetchIn('pub6', `http://[${OUTSIDE6}]:9000/cgi-bin/ip`);
      return r === '' ? undefined : r;
    }, 8_000);
    // Not masqueraded: the server answers the container's own address, and the reply gets in.
    expect(seen.replace(/^\[|\]$/g, '')).toBe(own);
    expect(await get6(`http://[${own}]:80/`)).toBe('(no answer)');
    const saved = await saveClean(h.host, 'ip6tables-save');
    expect(saved).not.toMatch(/-A DOCKGATE-RAW -d 2001:db8:77::\/64/);
    expect(saved).toMatch(/-A DOCKGATE-FORWARD -d 2001:db8:77::\/64 ! -i br-[0-9a-f]{12} -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT .* -j DROP/);
  });

  it('doctor fails on an ip6tables INPUT policy of ACCEPT, naming the ports published on IPv6', async () => {
    await h.host.exec('ip6tables', ['-w', '-P', 'INPUT', 'ACCEPT']);
    try {
      const r = await runCli(h, ['doctor', '--json', '--config', configFile]);
      const { checks } = JSON.parse(r.stdout) as { checks: Array<{ name: string; status: string; detail: string }> };
      const exposure = checks.find((c) => c.name === 'ipv6-exposure');
      expect(exposure?.status).toBe('fail');
      expect(exposure?.detail).toContain('nolabel6 [::]:8001/tcp');
    } finally {
      await h.host.exec('ip6tables', ['-w', '-P', 'INPUT', 'DROP']);
    }
    const ok = JSON.parse((await runCli(h, ['doctor', '--json', '--config', configFile])).stdout) as { checks: Array<{ name: string; status: string }> };
    expect(ok.checks.find((c) => c.name === 'ipv6-exposure')?.status).toBe('ok');
  });

  it('doctor warns on an ip6tables FORWARD policy of ACCEPT while IPv6 forwarding is on everywhere', async () => {
    const check = async (): Promise<{ status: string; detail: string } | undefined> => {
      const r = await runCli(h, ['doctor', '--json', '--config', configFile]);
      return (JSON.parse(r.stdout) as { checks: Array<{ name: string; status: string; detail: string }> }).checks.find((c) => c.name === 'forward-policy-ipv6');
    };
    await h.host.exec('ip6tables', ['-w', '-P', 'FORWARD', 'ACCEPT']);
    try {
      expect(await check()).toMatchObject({ status: 'warn', detail: expect.stringMatching(/ACCEPT and net\.ipv6\.conf\.all\.forwarding=1: this host routes IPv6 between all its interfaces/) });
    } finally {
      await h.host.exec('ip6tables', ['-w', '-P', 'FORWARD', 'DROP']);
    }
    expect(await check()).toMatchObject({ status: 'ok', detail: 'ip6tables FORWARD policy is DROP' });
  });

  it('status and plan show the IPv6 openings; flush leaves ip6tables-save exactly as before', async () => {
    const status = await runCli(h, ['status', '--config', configFile]);
    expect(status.stdout).toMatch(/\[::\]:8000->80\/tcp/);
    const plan = await runCli(h, ['plan', '--config', configFile]);
    expect(plan.stdout).toContain('# ip6tables (IPv6)');
    await daemon.stop();
    await runCli(h, ['flush', '--user-chain', '--config', configFile]);
    expect(await saveClean(h.host, 'ip6tables-save')).toBe(pristine6);
  });
});
