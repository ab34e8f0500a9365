// Egress allow-lists on a real dockerd: a container with `dockgate.egress` reaches the listed
// destinations (TCP port, UDP port, its resolver on 53) and nothing else on the same host.
import { writeFile } from 'node:fs/promises';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupLeftovers } from '../support/netns.js';
import {
  type DaemonProcess,
  type DockerHost,
  HOST_IP,
  OUTSIDE_IP,
  clientIp,
  runCli,
  spawnIn,
  startAddressEcho,
  startDockerHost,
  startReadyDaemon,
  startWebContainer,
  stopAll,
  waitFor,
} from './harness.js';
import { dualNetwork, dualStackUplink } from './topology.js';

let h: DockerHost;
let daemon: DaemonProcess;
let configFile: string;
let resolvConfPath: string;

const exec = (container: string, args: string[]) => h.docker(['exec', container, ...args], { reject: false, timeoutMs: 10_000 });
/** busybox-static's `wget -T` crashes (exit 139), so the fetch is bounded by busybox timeout. */
const fetchIn = (container: string, url: string) => exec(container, ['busybox', 'timeout', '3', 'wget', '-q', '-O', '-', url]);
/** One UDP datagram to IP:PORT: busybox tftp sends its read request there, whatever answers. */
const udpFrom = (container: string, ip: string, port: number) => exec(container, ['busybox', 'timeout', '2', 'busybox', 'tftp', '-g', '-r', 'probe', '-l', '/tmp/probe', ip, String(port)]);

/** A UDP listener in the outside namespace; `seen` collects the source address of each datagram. */
function udpListener(ip: string, port: number): string[] {
  const script = 'import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind((sys.argv[1],int(sys.argv[2])))\nwhile True:\n print(s.recvfrom(2048)[1][0],flush=True)';
  return spawnIn(h.outside.path, ['python3', '-c', script, ip, String(port)]).out;
}

const LISTED = `${OUTSIDE_IP}:7001,${OUTSIDE_IP}:7100/udp`;
const HOST6 = 'fd00:10::5';
const OUTSIDE6 = 'fd00:10::9';

beforeAll(async () => {
  await cleanupLeftovers();
  h = await startDockerHost();
  const resolvConf = `${h.tmpDir}/resolv.conf`;
  // The host's resolver, as the daemon reads it: a server in the outside namespace.
  await writeFile(resolvConf, `nameserver ${OUTSIDE_IP}\nnameserver 127.0.0.53\n`);
  resolvConfPath = resolvConf;
  configFile = `${h.tmpDir}/config.yaml`;
  await writeFile(configFile, `log_level: debug\nsync:\n  debounce_ms: 10\n  full_check_ms: 2000\negress:\n  resolv_conf: ${resolvConf}\n  dns_grace_s: 0\n`);
  await startAddressEcho(h, h.outside.path, `${OUTSIDE_IP}:7001`);
  await startAddressEcho(h, h.outside.path, `${OUTSIDE_IP}:7002`);
  // Dual-stack, as test/e2e/ipv6.test.ts sets it up: the admin's ip6tables policies DROP with
  // ICMPv6 accepted, and the host an IPv6 router of the admin's accord.
  await dualStackUplink(h, { host6: HOST6, outside6: OUTSIDE6, router: true });
  await startAddressEcho(h, h.outside.path, `[${OUTSIDE6}]:7001`);
  await startAddressEcho(h, h.outside.path, `[${OUTSIDE6}]:7002`);
  await dualNetwork(h, 'dual', 1);
  daemon = await startReadyDaemon(h, configFile);
}, 120_000);

afterAll(async () => {
  await stopAll();
});

describe('egress allow-list: addresses and ports', () => {
  it('the listed TCP port answers, another port on the same host does not', async () => {
    await startWebContainer(h, { name: 'listed', labels: { 'dockgate.egress': LISTED } });
    await startWebContainer(h, { name: 'open', labels: {} });
    const body = await waitFor('listed reaches 7001', async () => {
      const r = await fetchIn('listed', `http://${OUTSIDE_IP}:7001/cgi-bin/ip`);
      return r.exitCode === 0 ? r.stdout : undefined;
    }, 5_000);
    expect(clientIp(body)).toBe(HOST_IP);
    expect((await fetchIn('listed', `http://${OUTSIDE_IP}:7002/cgi-bin/ip`)).exitCode).not.toBe(0);
    // A container without a list still goes everywhere.
    expect((await fetchIn('open', `http://${OUTSIDE_IP}:7002/cgi-bin/ip`)).exitCode).toBe(0);
  });

  it('the listed UDP port and the resolver on 53 get datagrams, another UDP port does not', async () => {
    const listed = udpListener(OUTSIDE_IP, 7100);
    const other = udpListener(OUTSIDE_IP, 7101);
    const dns = udpListener(OUTSIDE_IP, 53);
    await waitFor('udp 7100 arrives', async () => {
      await udpFrom('listed', OUTSIDE_IP, 7100);
      return listed.length > 0 ? true : undefined;
    }, 8_000, 200);
    expect(listed[0]).toBe(HOST_IP);
    await udpFrom('listed', OUTSIDE_IP, 7101);
    await exec('listed', ['busybox', 'timeout', '2', 'busybox', 'nslookup', 'probe.test', OUTSIDE_IP]);
    await waitFor('dns query arrives', async () => (dns.length > 0 ? true : undefined), 3_000, 100);
    expect(other).toEqual([]);
  });

  it('the rules say so: one jump to the list\'s chain, which holds one accept per destination plus the resolver, and status shows the list', async () => {
    const save = (await h.host.exec('iptables-save', ['-t', 'filter'])).stdout.split('\n');
    const jumps = save.filter((l) => l.includes('"listed/') && l.startsWith('-A DOCKGATE-CONTAINERS-'));
    expect(jumps).toEqual([expect.stringMatching(/ -i docker0 -m conntrack --ctstate NEW .* -j DOCKGATE-EGRESS-[0-9a-f]{10}$/)]);
    const chain = / -j (DOCKGATE-EGRESS-[0-9a-f]{10})$/.exec(jumps[0]!)![1]!;
    expect(save.filter((l) => l.startsWith(`-A ${chain} `))).toEqual([
      expect.stringMatching(new RegExp(`^-A ${chain} -d ${OUTSIDE_IP}/32 -p tcp -m tcp --dport 7001 .* -j ACCEPT$`)),
      expect.stringMatching(new RegExp(`^-A ${chain} -d ${OUTSIDE_IP}/32 -p udp -m udp --dport 7100 .* -j ACCEPT$`)),
      expect.stringMatching(new RegExp(`^-A ${chain} -d ${OUTSIDE_IP}/32 -p udp -m udp --dport 53 .* -j ACCEPT$`)),
      expect.stringMatching(new RegExp(`^-A ${chain} -d ${OUTSIDE_IP}/32 -p tcp -m tcp --dport 53 .* -j ACCEPT$`)),
    ]);
    const status = await runCli(h, ['status', '--config', configFile]);
    expect(status.stdout).toContain(`egress to ${LISTED}`);
  });

  it('explain SRC DEST:PORT from the container agrees with the connections', async () => {
    const ip = (await h.docker(['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', 'listed'])).stdout.trim();
    const explain = (dest: string) => runCli(h, ['explain', ip, dest, '--config', configFile]);
    const allowed = await explain(`${OUTSIDE_IP}:7001/tcp`);
    expect(allowed.stdout).toContain(': ALLOWED');
    expect(allowed.exitCode).toBe(0);
    const blocked = await explain(`${OUTSIDE_IP}:7002/tcp`);
    expect(blocked.stdout).toContain(': BLOCKED');
    expect(blocked.exitCode).not.toBe(0);
    // The same by the container's name: its own address, in by its bridge.
    const byName = await runCli(h, ['explain', 'listed', `${OUTSIDE_IP}:7001/tcp`, '--config', configFile]);
    expect([byName.exitCode, byName.stdout]).toEqual([0, expect.stringContaining(`${ip} -> ${OUTSIDE_IP}:7001/tcp: ALLOWED`)]);
    expect(byName.stdout).toContain(`egress of: listed (`);
  });

  it('a malformed entry fails the container closed: no egress at all, one error naming the entry', async () => {
    await startWebContainer(h, { name: 'typo', labels: { 'dockgate.egress': `${OUTSIDE_IP}:7001,10.0.0.5/8` } });
    const err = await daemon.waitForLog((l) => l.event === 'label-error' && l.container === 'typo', 3_000);
    expect(JSON.stringify(err)).toContain('10.0.0.5/8');
    expect((await fetchIn('typo', `http://${OUTSIDE_IP}:7001/cgi-bin/ip`)).exitCode).not.toBe(0);
  });
});

describe('egress allow-list: IPv6', () => {
  it('an IPv6 entry opens that port in ip6tables only, another port stays closed; IPv4 gets nothing for it', async () => {
    await startWebContainer(h, { name: 'listed6', network: 'dual', labels: { 'dockgate.egress': `[${OUTSIDE6}]:7001` } });
    const body = await waitFor('listed6 reaches [OUTSIDE6]:7001', async () => {
      const r = await fetchIn('listed6', `http://[${OUTSIDE6}]:7001/cgi-bin/ip`);
      return r.exitCode === 0 ? r.stdout : undefined;
    }, 8_000, 250);
    // ULA subnets are masqueraded (ipv6_masquerade: ula): the outside sees the host.
    expect(clientIp(body)).toBe(`[${HOST6}]`);
    expect((await fetchIn('listed6', `http://[${OUTSIDE6}]:7002/cgi-bin/ip`)).exitCode).not.toBe(0);
    expect((await fetchIn('listed6', `http://${OUTSIDE_IP}:7001/cgi-bin/ip`)).exitCode).not.toBe(0);
    // Each family jumps to its own chain of the list: IPv6 holds the entry, IPv4 only the
    // resolver on 53 (the list has no IPv4 destination).
    const chainOf = (save: string): string[] => {
      const lines = save.split('\n');
      const jump = lines.find((l) => l.includes('"listed6/') && l.startsWith('-A DOCKGATE-CONTAINERS-') && / -j DOCKGATE-EGRESS-/.test(l));
      const chain = jump === undefined ? undefined : / -j (DOCKGATE-EGRESS-[0-9a-f]{10})$/.exec(jump)?.[1];
      return chain === undefined ? [] : lines.filter((l) => l.startsWith(`-A ${chain} `));
    };
    const v6 = chainOf((await h.host.exec('ip6tables-save', ['-t', 'filter'])).stdout);
    expect(v6.filter((l) => l.includes(`-d ${OUTSIDE6}/128`))).toHaveLength(1);
    const v4 = chainOf((await h.host.exec('iptables-save', ['-t', 'filter'])).stdout);
    expect(v4.length).toBeGreaterThan(0);
    expect(v4.every((l) => l.includes('--dport 53 '))).toBe(true);
  });
});

// A DNS server in the outside namespace (Debian's dnsmasq, answering from a hosts file only) whose
// answer changes: dockgate resolves the name through the resolv.conf it is pointed at, and keeps
// each answer for max(TTL, 30 s) + dns_grace_s (0 here).
const DNS_IP = '10.0.0.10';
const OLD_IP = '10.0.0.21';
const NEW_IP = '10.0.0.22';
const NAME = 'app.dg.test';
/** An AAAA-only name: the same machinery in ip6tables and a family-6 set. */
const NAME6 = 'app6.dg.test';
const NAME6_IP = 'fd00:10::21';

describe('egress allow-list: DNS names', () => {
  let dnsmasq: ChildProcess;
  let hostsFile: string;

  const ipsetMembers = async (): Promise<string> => (await h.host.exec('ipset', ['save'])).stdout;

  beforeAll(async () => {
    for (const ip of [DNS_IP, OLD_IP, NEW_IP]) await h.outside.exec('ip', ['addr', 'add', `${ip}/24`, 'dev', h.outsideIf]);
    await h.outside.exec('ip', ['-6', 'addr', 'add', `${NAME6_IP}/64`, 'dev', h.outsideIf, 'nodad']);
    await startAddressEcho(h, h.outside.path, `[${NAME6_IP}]:7300`);
    await startAddressEcho(h, h.outside.path, `${OLD_IP}:7300`);
    await startAddressEcho(h, h.outside.path, `${NEW_IP}:7300`);
    hostsFile = `${h.tmpDir}/dns-hosts`;
    await writeFile(hostsFile, `${OLD_IP} ${NAME}\n${NAME6_IP} ${NAME6}\n`);
    // Foreground, hosts file only, TTL 1 s (dockgate counts it as 30 s); stopped by pid in stopAll.
    dnsmasq = spawnIn(h.outside.path, [
      'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', `--addn-hosts=${hostsFile}`,
      `--listen-address=${DNS_IP}`, '--bind-interfaces', '--local-ttl=1', '--user=root', `--pid-file=${h.tmpDir}/dnsmasq.pid`,
    ]).child;
    // The daemon follows resolv.conf: pointing it at the new server needs no restart.
    await writeFile(resolvConfPath, `nameserver ${DNS_IP}\n`);
  });

  it('a listed name reaches what it resolves to, on the listed port only', async () => {
    const changed = await daemon.waitForLog((l) => l.event === 'resolv-conf-changed', 3_000);
    expect(changed.servers).toEqual([DNS_IP]);
    await startWebContainer(h, { name: 'named', labels: { 'dockgate.egress': `${NAME}:7300` } });
    const body = await waitFor('named reaches the old address', async () => {
      const r = await fetchIn('named', `http://${OLD_IP}:7300/cgi-bin/ip`);
      return r.exitCode === 0 ? r.stdout : undefined;
    }, 15_000, 250);
    expect(clientIp(body)).toBe(HOST_IP);
    expect((await fetchIn('named', `http://${NEW_IP}:7300/cgi-bin/ip`)).exitCode).not.toBe(0);
    const plan = await runCli(h, ['plan', '--config', configFile]);
    expect(plan.stdout).toMatch(/-m set --match-set dockgate-e4-[0-9a-f]{12} dst/);
    expect(await ipsetMembers()).toContain(`${OLD_IP} timeout`);
    expect(plan.stdout).toMatch(/# ipset restore -exist[\s\S]*create dockgate-e4-[0-9a-f]{12} hash:ip family inet timeout 300/);
    const status = await runCli(h, ['status', '--config', configFile]);
    expect(status.stdout).toContain(`egress to ${NAME}:7300 (and its resolvers on port 53)`);
    expect(status.stdout).toMatch(new RegExp(`name  ${NAME.replaceAll('.', '\\.')}: ${OLD_IP.replaceAll('.', '\\.')} \\(\\d+ s left\\)`));
  });

  it('explain CONTAINER DEST:PORT reads the set: its address allowed via the name, another blocked, as the connections go', async () => {
    const explain = (dest: string) => runCli(h, ['explain', 'named', dest, '--config', configFile]);
    const allowed = await explain(`${OLD_IP}:7300/tcp`);
    expect(allowed.exitCode, allowed.stdout + allowed.stderr).toBe(0);
    expect(allowed.stdout).toContain(`: ALLOWED`);
    expect(allowed.stdout).toMatch(new RegExp(`allowed via name ${NAME.replaceAll('.', '\\.')} \\(${OLD_IP.replaceAll('.', '\\.')}, \\d+ s left in ipset dockgate-e4-[0-9a-f]{12}\\): accepted by dockgate`));
    expect((await fetchIn('named', `http://${OLD_IP}:7300/cgi-bin/ip`)).exitCode).toBe(0);
    const blocked = await explain(`${NEW_IP}:7300/tcp`);
    expect(blocked.exitCode).toBe(1);
    expect(blocked.stdout).toContain(': BLOCKED');
    expect(blocked.stdout).toContain(`note: ${NEW_IP} is not among the addresses of ${NAME} (${OLD_IP}, `);
    expect((await fetchIn('named', `http://${NEW_IP}:7300/cgi-bin/ip`)).exitCode).not.toBe(0);
    // The name's address on a port the list does not give.
    const port = await explain(`${OLD_IP}:7301/tcp`);
    expect([port.exitCode, port.stdout]).toEqual([1, expect.stringContaining(`note: ${OLD_IP} is an address of ${NAME}, but named's egress list`)]);
  });

  it('an AAAA answer fills the family-6 set: the container reaches it over IPv6, on the listed port only', async () => {
    await startWebContainer(h, { name: 'named6', network: 'dual', labels: { 'dockgate.egress': `${NAME6}:7300` } });
    await waitFor('named6 reaches its AAAA', async () => ((await fetchIn('named6', `http://[${NAME6_IP}]:7300/cgi-bin/ip`)).exitCode === 0 ? true : undefined), 15_000, 250);
    expect((await fetchIn('named6', `http://[${OUTSIDE6}]:7001/cgi-bin/ip`)).exitCode).not.toBe(0);
    expect(await ipsetMembers()).toMatch(new RegExp(`add dockgate-e6-[0-9a-f]{12} ${NAME6_IP} timeout`));
  });

  it('a changed answer: the new address works within TTL + refresh, the old one stops after the grace', async () => {
    await writeFile(hostsFile, `${NEW_IP} ${NAME}\n${NAME6_IP} ${NAME6}\n`);
    dnsmasq.kill('SIGHUP');
    const t0 = Date.now();
    await waitFor('named reaches the new address', async () => ((await fetchIn('named', `http://${NEW_IP}:7300/cgi-bin/ip`)).exitCode === 0 ? true : undefined), 40_000, 500);
    const newAfterMs = Date.now() - t0;
    // 30 s (the TTL floor) x 0.8 before the refresh, plus a second of slack.
    expect(newAfterMs).toBeLessThan(31_000);
    await waitFor('the old address ages out', async () => ((await fetchIn('named', `http://${OLD_IP}:7300/cgi-bin/ip`)).exitCode !== 0 ? true : undefined), 40_000, 1_000);
    expect(await ipsetMembers()).not.toContain(`${OLD_IP} timeout`);
  }, 90_000);

  it('a flushed set comes back at the next full check', async () => {
    const set = /add (dockgate-e4-[0-9a-f]{12}) /.exec(await ipsetMembers())![1]!;
    await h.host.exec('ipset', ['flush', set]);
    await waitFor('set repaired', async () => ((await ipsetMembers()).includes(`add ${set} ${NEW_IP}`) ? true : undefined), 8_000, 250);
    await daemon.waitForLog((l) => l.event === 'egress-set-repaired', 1_000);
    expect((await fetchIn('named', `http://${NEW_IP}:7300/cgi-bin/ip`)).exitCode).toBe(0);
  });

  it('a name that does not resolve allows nothing and is reported', async () => {
    await startWebContainer(h, { name: 'nowhere', labels: { 'dockgate.egress': `nowhere.dg.test:7300` } });
    const warn = await daemon.waitForLog((l) => l.event === 'egress-name-unresolved' && l.name === 'nowhere.dg.test', 10_000);
    expect(String(warn.reason)).not.toBe('');
    expect((await fetchIn('nowhere', `http://${NEW_IP}:7300/cgi-bin/ip`)).exitCode).not.toBe(0);
    expect((await runCli(h, ['status', '--config', configFile])).stdout).toContain('name  nowhere.dg.test: no address');
  });

  it('flush removes the sets once the daemon is gone', async () => {
    await daemon.stop();
    const r = await runCli(h, ['flush']);
    expect(r.stdout).toContain('egress name set');
    expect(await ipsetMembers()).not.toContain('dockgate-e');
  });
});
