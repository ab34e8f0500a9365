// Network shapes several e2e files build around the harness's Docker host (test/e2e/harness.ts):
// IPv6 on the uplink veth with the admin's ip6tables, a LAN namespace on a second host interface,
// and the probes that tell whether the host forwarded a datagram. All inside test namespaces.
import { type Netns, createNetns, destroyNetns, linkNamespaces } from '../support/netns.js';
import { type DockerHost, HOST_IP, runCli } from './harness.js';

// ---------------------------------------------------------------------------------------------
// IPv6

export interface DualStackOptions {
  /** the host's and the outside's address on the uplink veth (a /64) */
  host6: string;
  outside6: string;
  /** the admin's FORWARD policy DROP too, and the host an IPv6 router of the admin's accord (all.forwarding=1) */
  router?: boolean;
}

/**
 * The uplink veth dual-stack (ULA addresses, without duplicate address detection's wait) and the
 * admin's IPv6 firewall as on any real host: INPUT policy DROP, loopback, replies and ICMPv6
 * (neighbour discovery) accepted.
 */
export async function dualStackUplink(h: DockerHost, o: DualStackOptions): Promise<void> {
  await h.host.exec('ip', ['-6', 'addr', 'add', `${o.host6}/64`, 'dev', h.hostIf, 'nodad']);
  await h.outside.exec('ip', ['-6', 'addr', 'add', `${o.outside6}/64`, 'dev', h.outsideIf, 'nodad']);
  const ip6 = (args: string[]) => h.host.exec('ip6tables', ['-w', ...args]);
  await ip6(['-P', 'INPUT', 'DROP']);
  if (o.router) await ip6(['-P', 'FORWARD', 'DROP']);
  await ip6(['-A', 'INPUT', '-i', 'lo', '-j', 'ACCEPT']);
  await ip6(['-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT']);
  await ip6(['-A', 'INPUT', '-p', 'ipv6-icmp', '-j', 'ACCEPT']);
  // A router, so that "direct access to a container address" has a path to be refused on.
  if (o.router) await h.host.exec('sysctl', ['-qw', 'net.ipv6.conf.all.forwarding=1']);
}

/** A dual-stack Docker network: 172.30.N.0/24 and fd00:db8:N::/64. */
export async function dualNetwork(h: DockerHost, name: string, n: number): Promise<void> {
  await h.docker(['network', 'create', '--ipv6', '--subnet', `172.30.${n}.0/24`, '--subnet', `fd00:db8:${n}::/64`, name]);
}

// ---------------------------------------------------------------------------------------------
// A LAN on a second host interface

/** The uplink's subnet: HOST_IP/24, as harness.ts makes it. */
const UPLINK_NET = '10.0.0.0/24';

export interface Lan {
  ns: Netns;
  /** the host's end of the LAN link, and the LAN's */
  hostIf: string;
  lanIf: string;
  /** 192.168.N.5 / fd00:N:2::5 on the host, 192.168.N.9 / fd00:N:2::9 in the LAN */
  hostIp: string;
  ip: string;
  hostIp6: string;
  ip6: string;
  /** the uplink's IPv6 addresses this adds: fd00:N:1::5 on the host, fd00:N:1::9 outside */
  uplinkHost6: string;
  uplinkOutside6: string;
}

/**
 * A namespace "lan" joined to the host by a second veth pair, in both families: 192.168.N.0/24 and
 * fd00:N:2::/64 on the LAN link, fd00:N:1::/64 added to the uplink. The outside knows the LAN is
 * behind the host, as a neighbour on the same segment could, so only the host's forwarding decides
 * whether it is reached. `lanRoutes`: 'default' gives the LAN its default route through the host;
 * 'uplink' only a route to the uplink's subnets (the host is not its router).
 * The caller destroys `ns` (destroyNetns) in its afterAll; on a failure here it is gone already.
 */
export async function addLan(h: DockerHost, n: number, lanRoutes: 'default' | 'uplink'): Promise<Lan> {
  const ns = await createNetns('lan');
  const lan: Lan = {
    ns,
    hostIf: '',
    lanIf: '',
    hostIp: `192.168.${n}.5`,
    ip: `192.168.${n}.9`,
    hostIp6: `fd00:${n}:2::5`,
    ip6: `fd00:${n}:2::9`,
    uplinkHost6: `fd00:${n}:1::5`,
    uplinkOutside6: `fd00:${n}:1::9`,
  };
  try {
    const link = await linkNamespaces(h.host, `${lan.hostIp}/24`, ns, `${lan.ip}/24`);
    lan.hostIf = link.aIf;
    lan.lanIf = link.bIf;
    await h.host.exec('ip', ['-6', 'addr', 'add', `${lan.uplinkHost6}/64`, 'dev', h.hostIf, 'nodad']);
    await h.outside.exec('ip', ['-6', 'addr', 'add', `${lan.uplinkOutside6}/64`, 'dev', h.outsideIf, 'nodad']);
    await h.host.exec('ip', ['-6', 'addr', 'add', `${lan.hostIp6}/64`, 'dev', lan.hostIf, 'nodad']);
    await ns.exec('ip', ['-6', 'addr', 'add', `${lan.ip6}/64`, 'dev', lan.lanIf, 'nodad']);
    if (lanRoutes === 'default') {
      await ns.exec('ip', ['route', 'add', 'default', 'via', lan.hostIp]);
      await ns.exec('ip', ['-6', 'route', 'add', 'default', 'via', lan.hostIp6]);
    } else {
      await ns.exec('ip', ['route', 'add', UPLINK_NET, 'via', lan.hostIp]);
      await ns.exec('ip', ['-6', 'route', 'add', `fd00:${n}:1::/64`, 'via', lan.hostIp6]);
    }
    await h.outside.exec('ip', ['route', 'add', `192.168.${n}.0/24`, 'via', HOST_IP]);
    await h.outside.exec('ip', ['-6', 'route', 'add', `fd00:${n}:2::/64`, 'via', lan.uplinkHost6]);
  } catch (err) {
    // The caller never got it to destroy.
    await destroyNetns(ns);
    throw err;
  }
  return lan;
}

// ---------------------------------------------------------------------------------------------
// Probes: sysctls, doctor, containers' fetches, datagrams counted where they arrive

/** A sysctl of the host namespace, by path under /proc/sys/net (interface names are fine with dots). */
export const hostSysctl = async (h: DockerHost, path: string): Promise<string> =>
  (await h.host.exec('cat', [`/proc/sys/net/${path}`], { reject: false })).stdout.trim();

/** A GET from inside a container; busybox-static's `wget -T` crashes, so busybox timeout bounds it. */
export const fetchInContainer = (h: DockerHost, container: string, url: string) =>
  h.docker(['exec', container, 'busybox', 'timeout', '3', 'wget', '-q', '-O', '-', url], { reject: false, timeoutMs: 10_000 });

/** One check of `dockgate doctor --json`; throws when there is none by that name. */
export async function doctorCheck(h: DockerHost, configFile: string, name: string): Promise<{ status: string; detail: string }> {
  const r = await runCli(h, ['doctor', '--json', '--config', configFile]);
  const json = JSON.parse(r.stdout) as { checks: Array<{ status: string; name: string; detail: string }> };
  const c = json.checks.find((x) => x.name === name);
  if (!c) throw new Error(`no ${name} check in: ${r.stdout}\n${r.stderr}`);
  return c;
}

const iptablesOf = (family: 4 | 6): string => (family === 4 ? 'iptables' : 'ip6tables');

/**
 * A counting rule for UDP `port` in the namespace's own raw PREROUTING: one datagram is enough to
 * prove a route, whether or not an answer could come back.
 */
export const countUdpRule = (ns: Netns, family: 4 | 6, port: number) =>
  ns.exec(iptablesOf(family), ['-w', '-t', 'raw', '-A', 'PREROUTING', '-p', 'udp', '--dport', String(port)], { timeoutMs: 10_000 });

/** Datagrams the namespace received on `port`, by countUdpRule's counter. */
export async function countUdpIn(ns: Netns, family: 4 | 6, port: number): Promise<number> {
  const r = await ns.exec(iptablesOf(family), ['-w', '-t', 'raw', '-nvxL', 'PREROUTING'], { timeoutMs: 10_000 });
  const line = r.stdout.split('\n').find((l) => l.includes(`udp dpt:${port}`));
  return Number(line?.trim().split(/\s+/)[0] ?? 0);
}

/** Five datagrams through bash's /dev/udp, from inside `ns`. */
export const sendUdp = (ns: Netns, ip: string, port: number) =>
  ns.exec('timeout', ['-s', 'KILL', '5', 'bash', '-c', `for i in 1 2 3 4 5; do echo x > /dev/udp/${ip}/${port}; sleep 0.05; done`], { reject: false, timeoutMs: 8_000 });
