// Issue 22 item 1: a multi-homed host (an uplink with the default route, and a private LAN on a
// second interface with only its on-link route), forwarding off everywhere as after a reboot,
// FORWARD policy ACCEPT, default config (external_interfaces: auto). dnat from a LAN client and
// egress to a LAN server must work, which needs forwarding on the LAN interface too (Linux
// forwards by the interface a packet arrives on: the LAN client's requests, the LAN server's
// replies); the host must still route nothing between the LAN and the uplink. Real dockerd, real
// connections, all in test namespaces.
//
//   outside ns: 10.0.0.9 / fd00:78:1::9, the uplink's router (the host's default route)
//   host ns:    10.0.0.5 / fd00:78:1::5 on the uplink; 192.168.78.5 / fd00:78:2::5 on the LAN
//   lan ns:     192.168.78.9 / fd00:78:2::9: no default route through it on the host
//   vpn ns:     added while dockgate runs: 10.66.0.5/30 on a third link, 10.77.0.0/16 routed through it
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Netns, cleanupLeftovers, createNetns, destroyNetns, linkNamespaces } from '../support/netns.js';
import {
  type DaemonProcess,
  type DockerHost,
  HOST_IP,
  OUTSIDE_IP,
  clientIp,
  runCli,
  startAddressEcho,
  startDockerHost,
  startReadyDaemon,
  startSeer,
  startWebContainer,
  stopAll,
  waitFor,
} from './harness.js';
import { addLan, countUdpIn, countUdpRule, doctorCheck, fetchInContainer, hostSysctl, sendUdp } from './topology.js';

const HOST_LAN_IP = '192.168.78.5';
const LAN_IP = '192.168.78.9';

let h: DockerHost;
let daemon: DaemonProcess | undefined;
let configFile: string;
let lan: Netns;
let vpn: Netns | undefined;
let lanIf: string;

const sysctl = (path: string): Promise<string> => hostSysctl(h, path);
const fetchIn = (container: string, url: string) => fetchInContainer(h, container, url);
const curlFrom = (ns: Netns, url: string) => ns.exec('curl', ['-s', '-f', '--noproxy', '*', '-m', '2', url], { reject: false, timeoutMs: 5_000 });

/** Every interface list the daemon has logged as its external interfaces. */
const loggedInterfaces = (): string[][] =>
  (daemon?.lines ?? [])
    .filter((l): l is Record<string, unknown> => typeof l === 'object' && l !== null && (l as Record<string, unknown>).event === 'external-interfaces')
    .map((l) => l.interfaces as string[]);

beforeAll(async () => {
  await cleanupLeftovers();
  h = await startDockerHost({ userlandProxy: false, ipForward: false });
  await h.host.exec('sysctl', ['-qw', 'net.ipv4.conf.all.forwarding=0']);
  await h.host.exec('ip', ['route', 'add', 'default', 'via', OUTSIDE_IP, 'dev', h.hostIf]);
  // Each side knows the other network is behind the host, as neighbours on the same segments
  // could: only the host's forwarding decides whether it is reached.
  const link = await addLan(h, 78, 'uplink');
  lan = link.ns;
  lanIf = link.hostIf;
  await startAddressEcho(h, lan.path, `${LAN_IP}:9000`);
  configFile = `${h.tmpDir}/config.yaml`;
  await writeFile(configFile, 'log_level: debug\nsync:\n  debounce_ms: 10\n');
  await h.docker(['network', 'create', '--subnet', '172.30.5.0/24', 'side'], { timeoutMs: 30_000 });
  // Egress on (the default); one on a second Docker network, whose bridge must stay out too.
  await startWebContainer(h, { name: 'out' });
  await startWebContainer(h, { name: 'side', network: 'side' });
  await startSeer(h, 'seer', ['-l', 'dockgate.ports=8010:80', '-l', 'dockgate.mode=dnat']);
}, 120_000);

afterAll(async () => {
  await stopAll();
  await destroyNetns(lan);
  if (vpn) await destroyNetns(vpn);
});

describe('a multi-homed host, forwarding off everywhere, default config (external_interfaces: auto)', () => {
  it('before dockgate runs, doctor fails naming the LAN interface as well as the uplink', async () => {
    expect(await sysctl(`ipv4/conf/${lanIf}/forwarding`)).toBe('0');
    expect(await sysctl('ipv4/conf/all/forwarding')).toBe('0');
    const c = await doctorCheck(h, configFile, 'external-forwarding');
    expect(c.status).toBe('fail');
    expect(c.detail).toContain(`net.ipv4.conf.${h.hostIf}.forwarding=0`);
    expect(c.detail).toContain(`net.ipv4.conf.${lanIf}.forwarding=0`);
    expect(c.detail).not.toMatch(/docker0|br-|veth/);
  });

  it('dockgate follows the uplink and the LAN interface, never a Docker bridge or veth, and turns forwarding on there', async () => {
    daemon = await startReadyDaemon(h, configFile);
    const found = await daemon.waitForLog((l) => l.event === 'external-interfaces', 5_000);
    expect(found.interfaces).toEqual([h.hostIf, lanIf].sort());
    expect(found.uplinks).toEqual([h.hostIf]);
    expect(String(found.msg)).toContain(`${h.hostIf} (default route)`);
    expect(String(found.msg)).toMatch(new RegExp(`\\b${lanIf}\\b(?! \\(default)`));
    await waitFor('LAN forwarding', async () => ((await sysctl(`ipv4/conf/${lanIf}/forwarding`)) === '1' ? true : undefined), 5_000);
    expect(await sysctl(`ipv4/conf/${h.hostIf}/forwarding`)).toBe('1');
    expect(await sysctl(`ipv6/conf/${lanIf}/forwarding`)).toBe('1');
    if ((await sysctl('ipv6/conf/all/force_forwarding')) !== '') expect(await sysctl(`ipv6/conf/${lanIf}/force_forwarding`)).toBe('1');
    expect(await sysctl('ipv4/conf/all/forwarding')).toBe('0');
    expect(await sysctl('ipv6/conf/all/forwarding')).toBe('0');
    for (const list of loggedInterfaces()) for (const i of list) expect(i).not.toMatch(/^(docker0|br-|veth)/);
    expect((await doctorCheck(h, configFile, 'external-forwarding')).status).toBe('ok');
  });

  it('a LAN client reaches a dnat port at the host LAN address, and the container sees its address', async () => {
    const body = await waitFor('dnat from the LAN', async () => {
      const r = await curlFrom(lan, `http://${HOST_LAN_IP}:8010/cgi-bin/ip`);
      return r.exitCode === 0 ? r.stdout : undefined;
    }, 10_000);
    expect(clientIp(body)).toBe(LAN_IP);
  });

  it('a container reaches a server on the LAN, which sees the host LAN address', async () => {
    const body = await waitFor('egress to the LAN', async () => {
      const e = await fetchIn('out', `http://${LAN_IP}:9000/cgi-bin/ip`);
      return e.exitCode === 0 ? e.stdout : undefined;
    }, 10_000);
    expect(clientIp(body)).toBe(HOST_LAN_IP);
  });

  it('the host still routes nothing between the LAN and the uplink, either way, in both families', async () => {
    expect((await h.host.exec('iptables', ['-w', '-S', 'FORWARD'])).stdout).toContain('-P FORWARD ACCEPT');
    expect((await h.host.exec('ip6tables', ['-w', '-S', 'FORWARD'])).stdout).toContain('-P FORWARD ACCEPT');
    const v6Forwards = (await sysctl('ipv6/conf/all/force_forwarding')) !== '';
    for (const [ns, family] of [[lan, 4], [lan, 6], [h.outside, 4], [h.outside, 6]] as const) await countUdpRule(ns, family, 7788);
    // The routes themselves work: the host reaches both sides.
    await sendUdp(h.host, LAN_IP, 7788);
    await sendUdp(h.host, OUTSIDE_IP, 7788);
    await waitFor('host to LAN and outside', async () => ((await countUdpIn(lan, 4, 7788)) > 0 && (await countUdpIn(h.outside, 4, 7788)) > 0 ? true : undefined), 3_000);
    const before = { lan4: await countUdpIn(lan, 4, 7788), out4: await countUdpIn(h.outside, 4, 7788) };
    await sendUdp(h.outside, LAN_IP, 7788);
    await sendUdp(h.outside, 'fd00:78:2::9', 7788);
    await sendUdp(lan, OUTSIDE_IP, 7788);
    await sendUdp(lan, 'fd00:78:1::9', 7788);
    await new Promise((r) => setTimeout(r, 500));
    expect({
      outsideToLan4: (await countUdpIn(lan, 4, 7788)) - before.lan4,
      outsideToLan6: await countUdpIn(lan, 6, 7788),
      lanToOutside4: (await countUdpIn(h.outside, 4, 7788)) - before.out4,
      lanToOutside6: await countUdpIn(h.outside, 6, 7788),
    }).toEqual({ outsideToLan4: 0, outsideToLan6: 0, lanToOutside4: 0, lanToOutside6: 0 });
    // Forwarding is on where those datagrams arrived: the routing guard is what stopped them.
    expect(await sysctl(`ipv4/conf/${lanIf}/forwarding`)).toBe('1');
    expect(await sysctl(`ipv4/conf/${h.hostIf}/forwarding`)).toBe('1');
    if (v6Forwards) expect(await sysctl(`ipv6/conf/${lanIf}/force_forwarding`)).toBe('1');
    // And the uplink still serves: dnat from the outside.
    const d = await curlFrom(h.outside, `http://${HOST_IP}:8010/cgi-bin/ip`);
    expect([d.exitCode, clientIp(d.stdout)]).toEqual([0, OUTSIDE_IP]);
  });

  it('a network that appears later through a third interface (a static route, as a VPN adds) is followed within a bounded time', async () => {
    vpn = await createNetns('vpn');
    const { aIf: vpnIf } = await linkNamespaces(h.host, '10.66.0.5/30', vpn, '10.66.0.6/30');
    await h.host.exec('ip', ['route', 'add', '10.77.0.0/16', 'via', '10.66.0.6', 'dev', vpnIf]);
    const t0 = Date.now();
    await waitFor(`${vpnIf} forwarding`, async () => ((await sysctl(`ipv4/conf/${vpnIf}/forwarding`)) === '1' ? true : undefined), 5_000, 50);
    const log = await daemon!.waitForLog((l) => l.event === 'external-interfaces' && Array.isArray(l.added) && (l.added as string[]).includes(vpnIf), 2_000);
    expect(log.interfaces).toEqual([h.hostIf, lanIf, vpnIf].sort());
    expect(log.removed).toEqual([]);
    expect(Date.now() - t0).toBeLessThan(5_000);
    // A new Docker network's bridge is not an external interface.
    await h.docker(['network', 'create', '--subnet', '172.30.6.0/24', 'later'], { timeoutMs: 30_000 });
    await startWebContainer(h, { name: 'later', network: 'later' });
    await new Promise((r) => setTimeout(r, 1_000));
    for (const list of loggedInterfaces()) for (const i of list) expect(i).not.toMatch(/^(docker0|br-|veth)/);
    expect((await runCli(h, ['status', '--config', configFile])).stdout).toContain('firewall: in sync with the plan');
  });
});
