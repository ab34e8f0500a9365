// Forwarding off everywhere, as after a reboot with the settings `dockgate install` writes
// ("ip-forward": false, all.forwarding=0) and a config that does not name external_interfaces:
// auto must find the uplink from the default route, turn forwarding on there and nowhere else,
// and follow the route when it moves. Real dockerd, real connections, all in test namespaces.
//
//   outside ns: 10.0.0.9 (+ 10.0.1.9 later), and 198.51.100.9 on lo: a server only reachable
//               through the host's default route, with the outside ns as the router
//   host ns:    10.0.0.5, default via 10.0.0.9; later a second uplink 10.0.1.5, default moved there
//   lan ns:     192.168.77.9 / fd00:77:2::9, default via the host (192.168.77.5 / fd00:77:2::5): a
//               second network the host reaches, which the uplink must not be routed into
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Netns, cleanupLeftovers, destroyNetns, linkNamespaces } from '../support/netns.js';
import {
  type DaemonProcess,
  type DockerHost,
  HOST_IP,
  OUTSIDE_IP,
  clientIp,
  runCli,
  startDockerHost,
  startWebContainer,
  stopAll,
  waitFor,
  spawnIn,
  startAddressEcho,
  startSeer,
  startReadyDaemon,
} from './harness.js';
import { addLan, countUdpIn, countUdpRule, doctorCheck, fetchInContainer, hostSysctl, sendUdp } from './topology.js';

/** Beyond the host's own subnets: reached only through its default route. */
const FAR_IP = '198.51.100.9';

let h: DockerHost;
let daemon: DaemonProcess | undefined;
let configFile: string;
let lan: Netns | undefined;


const sysctl = (path: string): Promise<string> => hostSysctl(h, path);
const fetchIn = (container: string, url: string) => fetchInContainer(h, container, url);

beforeAll(async () => {
  await cleanupLeftovers();
  h = await startDockerHost({ userlandProxy: false, ipForward: false });
  await h.host.exec('sysctl', ['-qw', 'net.ipv4.conf.all.forwarding=0']);
  // The outside namespace is the router; the far server lives on its loopback.
  await h.outside.exec('ip', ['addr', 'add', `${FAR_IP}/32`, 'dev', 'lo']);
  await h.host.exec('ip', ['route', 'add', 'default', 'via', OUTSIDE_IP, 'dev', h.hostIf]);
  await startAddressEcho(h, h.outside.path, `${FAR_IP}:9000`);
  // No external_interfaces: the default, auto.
  configFile = `${h.tmpDir}/config.yaml`;
  await writeFile(configFile, 'log_level: debug\nsync:\n  debounce_ms: 10\n');
  // Running before dockgate, egress on (the default): what doctor judges first.
  await startWebContainer(h, { name: 'out' });
}, 120_000);

afterAll(async () => {
  await stopAll();
  if (lan) await destroyNetns(lan);
});

describe('forwarding off everywhere, default config (external_interfaces: auto)', () => {
  it('before dockgate runs, nothing forwards and doctor fails naming the uplink and the sysctl', async () => {
    expect(await sysctl('ipv4/conf/all/forwarding')).toBe('0');
    expect(await sysctl(`ipv4/conf/${h.hostIf}/forwarding`)).toBe('0');
    expect((await fetchIn('out', `http://${FAR_IP}:9000/cgi-bin/ip`)).exitCode).not.toBe(0);
    const c = await doctorCheck(h, configFile, 'external-forwarding');
    expect(c.status).toBe('fail');
    expect(c.detail).toContain(`net.ipv4.conf.${h.hostIf}.forwarding=0`);
    expect(c.detail).toMatch(/^egress \(1 container, e\.g\. out\) in use/);
  });

  it('dockgate finds the uplink from the routes and turns forwarding on there only', async () => {
    daemon = await startReadyDaemon(h, configFile);
    const found = await daemon.waitForLog((l) => l.event === 'external-interfaces', 5_000);
    expect(found.interfaces).toEqual([h.hostIf]);
    await waitFor('uplink forwarding', async () => ((await sysctl(`ipv4/conf/${h.hostIf}/forwarding`)) === '1' ? true : undefined), 5_000);
    expect(await sysctl('ipv4/conf/docker0/forwarding')).toBe('1');
    expect(await sysctl('ipv4/conf/all/forwarding')).toBe('0');
    expect(await sysctl('ipv4/conf/lo/forwarding')).toBe('0');
    // IPv6 on the same interfaces; the uplink keeps accepting router advertisements.
    expect(await sysctl(`ipv6/conf/${h.hostIf}/accept_ra`)).toBe('2');
    expect(await sysctl(`ipv6/conf/${h.hostIf}/forwarding`)).toBe('1');
    if ((await sysctl('ipv6/conf/all/force_forwarding')) !== '') expect(await sysctl(`ipv6/conf/${h.hostIf}/force_forwarding`)).toBe('1');
    expect(await sysctl('ipv6/conf/all/forwarding')).toBe('0');
    expect(daemon.lines.some((l) => typeof l === 'object' && (l as Record<string, unknown>).setting === 'accept_ra')).toBe(true);
  });

  it('a container reaches a server beyond the default route, which sees the host address', async () => {
    const r = await waitFor('egress works', async () => {
      const e = await fetchIn('out', `http://${FAR_IP}:9000/cgi-bin/ip`);
      return e.exitCode === 0 ? e.stdout : undefined;
    }, 10_000);
    expect(clientIp(r)).toBe(HOST_IP);
  });

  it('a dnat port is reachable from beyond the default route and the container sees the client address', async () => {
    await startSeer(h, 'seer', ['-l', `dockgate.ports=${HOST_IP}:8010:80`, '-l', 'dockgate.mode=dnat']);
    const body = await waitFor('seer reachable', async () => {
      const r = await h.outside.exec('curl', ['-s', '-f', '--noproxy', '*', '-m', '2', '--interface', FAR_IP, `http://${HOST_IP}:8010/cgi-bin/ip`], { reject: false, timeoutMs: 5_000 });
      return r.exitCode === 0 ? r.stdout : undefined;
    }, 10_000);
    expect(clientIp(body)).toBe(FAR_IP);
    expect(await sysctl('ipv4/conf/all/forwarding')).toBe('0');
    expect((await doctorCheck(h, configFile, 'external-forwarding')).status).toBe('ok');
  });

  it('the host does not route between the uplink and a LAN (FORWARD policy ACCEPT), either way, in both families; egress and dnat still work', async () => {
    lan = (await addLan(h, 77, 'default')).ns;
    // Debian's default, and the state the item is about.
    expect((await h.host.exec('iptables', ['-w', '-S', 'FORWARD'])).stdout).toContain('-P FORWARD ACCEPT');
    expect((await h.host.exec('ip6tables', ['-w', '-S', 'FORWARD'])).stdout).toContain('-P FORWARD ACCEPT');
    expect(await sysctl(`ipv4/conf/${h.hostIf}/forwarding`)).toBe('1');
    const v6Forwards = (await sysctl('ipv6/conf/all/force_forwarding')) !== '';
    for (const [ns, family] of [[lan, 4], [lan, 6], [h.outside, 4], [h.outside, 6]] as const) await countUdpRule(ns, family, 7777);
    // The routes work where nothing forwards: the host itself reaches both sides.
    await sendUdp(h.host, '192.168.77.9', 7777);
    await waitFor('host to LAN', async () => ((await countUdpIn(lan!, 4, 7777)) > 0 ? true : undefined), 3_000);
    const lanBefore4 = await countUdpIn(lan, 4, 7777);

    await sendUdp(h.outside, '192.168.77.9', 7777);
    await sendUdp(h.outside, 'fd00:77:2::9', 7777);
    await sendUdp(lan, OUTSIDE_IP, 7777);
    await sendUdp(lan, 'fd00:77:1::9', 7777);
    await new Promise((r) => setTimeout(r, 500));
    expect({
      outsideToLan4: (await countUdpIn(lan, 4, 7777)) - lanBefore4,
      outsideToLan6: await countUdpIn(lan, 6, 7777),
      lanToOutside4: await countUdpIn(h.outside, 4, 7777),
      lanToOutside6: await countUdpIn(h.outside, 6, 7777),
    }).toEqual({ outsideToLan4: 0, outsideToLan6: 0, lanToOutside4: 0, lanToOutside6: 0 });
    const guard = '-A DOCKGATE-FORWARD -m conntrack ! --ctstate RELATED,ESTABLISHED -m comment --comment "dockgate no routing between host interfaces" -j DROP';
    expect((await h.host.exec('iptables', ['-w', '-S', 'DOCKGATE-FORWARD'])).stdout).toContain(guard);
    if (v6Forwards) expect((await h.host.exec('ip6tables', ['-w', '-S', 'DOCKGATE-FORWARD'])).stdout).toContain(guard);
    expect(await sysctl('ipv4/conf/all/forwarding')).toBe('0');

    const e = await fetchIn('out', `http://${FAR_IP}:9000/cgi-bin/ip`);
    expect([e.exitCode, clientIp(e.stdout)]).toEqual([0, HOST_IP]);
    const d = await h.outside.exec('curl', ['-s', '-f', '--noproxy', '*', '-m', '2', '--interface', FAR_IP, `http://${HOST_IP}:8010/cgi-bin/ip`], { reject: false, timeoutMs: 5_000 });
    expect([d.exitCode, clientIp(d.stdout)]).toEqual([0, FAR_IP]);
    // status agrees with what the daemon wrote: the one-shot commands plan the same routing guard.
    expect((await runCli(h, ['status', '--config', configFile])).stdout).toContain('firewall: in sync with the plan');
  });

  it('a new uplink forwards within a bounded time of its link, the default route moves there, and egress goes on through it', async () => {
    // Its on-link subnet is a network the host reaches: auto follows it before any default route does.
    const linked = Date.now();
    const { aIf: newIf, bIf } = await linkNamespaces(h.host, '10.0.1.5/24', h.outside, '10.0.1.9/24');
    await waitFor(`${newIf} forwarding`, async () => ((await sysctl(`ipv4/conf/${newIf}/forwarding`)) === '1' ? true : undefined), 5_000, 50);
    const tookMs = Date.now() - linked;
    expect((await daemon!.waitForLog((l) => l.event === 'external-interfaces' && Array.isArray(l.added) && l.added.includes(newIf), 1_000)).removed).toEqual([]);
    await h.host.exec('ip', ['route', 'replace', 'default', 'via', '10.0.1.9', 'dev', newIf]);
    // The log names the uplink truthfully once the default route has moved.
    const log = await daemon!.waitForLog((l) => l.event === 'external-interfaces' && Array.isArray(l.uplinks) && l.uplinks.join() === newIf, 5_000);
    expect(log.interfaces).toContain(newIf);
    expect(log.interfaces).toContain(h.hostIf);
    expect(String(log.msg)).toContain(`${newIf} (default route)`);
    expect(tookMs).toBeLessThan(5_000);
    expect(await sysctl(`ipv6/conf/${newIf}/forwarding`)).toBe('1');
    expect(await sysctl('ipv4/conf/all/forwarding')).toBe('0');
    // The old uplink keeps its forwarding (dockgate never turns it off).
    expect(await sysctl(`ipv4/conf/${h.hostIf}/forwarding`)).toBe('1');
    // Egress now leaves by the new uplink, masqueraded to its address; the replies come in there.
    const r = await waitFor('egress through the new uplink', async () => {
      const e = await fetchIn('out', `http://${FAR_IP}:9000/cgi-bin/ip`);
      return e.exitCode === 0 ? e.stdout : undefined;
    }, 10_000);
    expect(clientIp(r)).toBe('10.0.1.5');
    expect(bIf).not.toBe('');
    // The old uplink keeps its forwarding, and still routes nothing into the LAN.
    if (lan) {
      const before = await countUdpIn(lan, 4, 7777);
      await sendUdp(h.outside, '192.168.77.9', 7777);
      await new Promise((done) => setTimeout(done, 300));
      expect(await countUdpIn(lan, 4, 7777)).toBe(before);
    }
    console.log(`new uplink ${newIf}: forwarding on after ${tookMs} ms`);
  });
});
