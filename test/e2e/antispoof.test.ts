// Issue 18 item 3: egress=false and the guards are keyed on source addresses, so they hold only
// if a container cannot send from an address that is not its own. With a real dockerd: a
// container with CAP_NET_RAW (Docker's default) forges its egress=true neighbour's address, and a
// no-egress container talks to a proxy-mode port through the bridge's IPv6 link-local address.
//
// The raw sender and the link-local client run in the container's network namespace (nsenter
// --net=/proc/PID/ns/net) with the host's python3: on the wire that is exactly what a process in
// the container with CAP_NET_RAW sends, without copying an interpreter into a busybox image.
import { readFile, writeFile } from 'node:fs/promises';
import { BridgePorts } from '../../src/dataplane/bridge-ports.js';
import { CommandQueue } from '../../src/dataplane/command-queue.js';
import { DockerSource } from '../../src/docker/source.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupLeftovers, run } from '../support/netns.js';
import {
  type DaemonProcess,
  type DockerHost,
  OUTSIDE_IP,
  runCli,
  saveClean,
  spawnIn,
  startDockerHost,
  startReadyDaemon,
  startWebContainer,
  stopAll,
  waitFor,
} from './harness.js';

const PYTHON = '/usr/bin/python3';
const SINK_PORT = 9999;
const WEB_PORT = 8080;

/** One IPv4/UDP datagram with any source address, through a raw socket (IP_HDRINCL). */
const SEND_RAW = `
import socket, struct, sys
src, dst, port, payload = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].encode()
udp = struct.pack('!HHHH', 40000, port, 8 + len(payload), 0) + payload
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, socket.inet_aton(src), socket.inet_aton(dst))
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.sendto(ip + udp, (dst, 0))
`;

/** Prints each datagram's payload; the far end that must never see a forged one. */
const SINK = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
while True:
    data, peer = s.recvfrom(2048)
    print(data.decode(errors='replace'), peer[0], flush=True)
`;

/** A TCP connect with a scope id (fe80::1%eth0); exit 0 only when the handshake completes. */
const CONNECT6 = `
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).close()
    print('connected')
except OSError as e:
    print('refused', e)
    sys.exit(1)
`;

let h: DockerHost;
let daemon: DaemonProcess;
let configFile: string;
let sink: { out: string[] };
let good: { ip: string; pid: number };
let jail: { ip: string; pid: number };
/** On a dual-stack network (IPv6 guards keyed on the global address) and on the default one with IPv6 turned on inside. */
let good6: { ip: string; pid: number };
let jail6: { ip: string; pid: number };
let good4: { ip: string; pid: number };
let jail4: { ip: string; pid: number };
const dualBridge = async (): Promise<string> => `br-${(await h.docker(['network', 'inspect', '-f', '{{.Id}}', 'dual'])).stdout.trim().slice(0, 12)}`;

const inspect = async (name: string, format: string): Promise<string> => (await h.docker(['inspect', '-f', format, name])).stdout.trim();
const container = async (name: string) => ({
  ip: await inspect(name, '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}'),
  pid: Number(await inspect(name, '{{.State.Pid}}')),
});
/** A python snippet in a container's network namespace (what the container itself could run). */
const inContainer = (pid: number, script: string, args: string[]) =>
  run('nsenter', [`--net=/proc/${pid}/ns/net`, PYTHON, '-c', script, ...args], { reject: false, timeoutMs: 10_000 });

const sendUdp = (from: { pid: number }, src: string, payload: string) => inContainer(from.pid, SEND_RAW, [src, OUTSIDE_IP, String(SINK_PORT), payload]);

beforeAll(async () => {
  await cleanupLeftovers();
  h = await startDockerHost();
  // The admin's IPv6 firewall, as on any real host: nothing in but replies, loopback and ICMPv6.
  const ip6 = (args: string[]) => h.host.exec('ip6tables', ['-w', ...args]);
  await ip6(['-P', 'INPUT', 'DROP']);
  await ip6(['-A', 'INPUT', '-i', 'lo', '-j', 'ACCEPT']);
  await ip6(['-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT']);
  await ip6(['-A', 'INPUT', '-p', 'ipv6-icmp', '-j', 'ACCEPT']);
  sink = spawnIn(h.outside.path, [PYTHON, '-c', SINK, OUTSIDE_IP, String(SINK_PORT)]);
  configFile = `${h.tmpDir}/config.yaml`;
  await writeFile(configFile, 'log_level: debug\nsync:\n  debounce_ms: 10\n');
  daemon = await startReadyDaemon(h, configFile);
  await startWebContainer(h, { name: 'web', port: 80, ports: [`${WEB_PORT}:80`], labels: { 'dockgate.ports': '80' } });
  await startWebContainer(h, { name: 'good', port: 80 });
  await startWebContainer(h, { name: 'jail', port: 80, labels: { 'dockgate.egress': 'false' } });
  await h.docker(['network', 'create', '--ipv6', '--subnet', '172.30.1.0/24', '--subnet', 'fd00:db8:1::/64', 'dual']);
  const v6inside = ['--sysctl', 'net.ipv6.conf.all.disable_ipv6=0'];
  await startWebContainer(h, { name: 'good6', port: 80, network: 'dual' });
  await startWebContainer(h, { name: 'jail6', port: 80, network: 'dual', labels: { 'dockgate.egress': 'false' } });
  await startWebContainer(h, { name: 'good4', port: 80, extraArgs: v6inside });
  await startWebContainer(h, { name: 'jail4', port: 80, extraArgs: v6inside, labels: { 'dockgate.egress': 'false' } });
  good = await container('good');
  jail = await container('jail');
  good6 = await container('good6');
  jail6 = await container('jail6');
  good4 = await container('good4');
  jail4 = await container('jail4');
  // Both containers' rules are in: good's egress accept and jail's guard.
  await waitFor(
    'rules for good and jail',
    async () => {
      const save = await saveClean(h.host);
      return save.includes(`-s ${good.ip}/32 -i docker0 -m conntrack --ctstate NEW`) && [jail, jail4, jail6].every((j) => save.includes(`-s ${j.ip}/32 -i`))
        ? true
        : undefined;
    },
    10_000,
  );
});

afterAll(async () => {
  await stopAll();
});

describe('anti-spoofing on the bridge ports', () => {
  it('a container forging its egress=true neighbour\'s address gets nothing out; the neighbour itself does', async () => {
    const real = await waitFor(
      'good\'s own datagram at the sink',
      async () => {
        await sendUdp(good, good.ip, 'real');
        return sink.out.some((l) => l.startsWith('real ')) ? true : undefined;
      },
      10_000,
      300,
    );
    expect(real).toBe(true);
    for (let i = 0; i < 3; i++) {
      const r = await sendUdp(jail, good.ip, 'forged');
      // The raw socket itself works (CAP_NET_RAW): whatever stops it is on the bridge.
      expect(r.exitCode).toBe(0);
      await sleep(300);
    }
    await sleep(500);
    expect(sink.out.filter((l) => l.startsWith('forged'))).toEqual([]);
  });

  it('a no-egress container does not reach a proxy-mode port through the bridge\'s IPv6 link-local address', async () => {
    for (const [net, bridgeOf] of [['dual', dualBridge], ['bridge', async () => 'docker0']] as const) {
      const bridge = await bridgeOf();
      const bridgeLl = await waitFor(
        `${bridge}'s link-local address`,
        async () => {
          const addrs = JSON.parse((await h.host.exec('ip', ['-j', '-6', 'addr', 'show', 'dev', bridge, 'scope', 'link'])).stdout) as Array<{
            addr_info: Array<{ local?: string; tentative?: boolean }>;
          }>;
          return addrs[0]?.addr_info.find((a) => a.local?.startsWith('fe80:') === true && a.tentative !== true)?.local;
        },
        10_000,
        200,
      );
      const target = `${bridgeLl}%eth0`;
      const [open, closed] = net === 'dual' ? [good6, jail6] : [good4, jail4];
      // The path works: the egress=true neighbour connects that way (its link-local passes the bridge).
      const ok = await waitFor(
        `${net}: the neighbour connects over link-local`,
        async () => ((await inContainer(open.pid, CONNECT6, [target, String(WEB_PORT)])).exitCode === 0 ? true : undefined),
        10_000,
        300,
      );
      expect(ok).toBe(true);
      const r = await inContainer(closed.pid, CONNECT6, [target, String(WEB_PORT)]);
      expect(`${net}: ${r.stdout}`).toMatch(new RegExp(`^${net}: refused`));
    }
  });

  it("a container's interfaces read from the sysfs Docker mounts in it are what the kernel says (no process per container)", async () => {
    const queue = new CommandQueue({ netns: h.host.path });
    const ports = new BridgePorts(queue);
    const docker = new DockerSource(h.dockerHost);
    const facts = (await docker.listRunning()).filter((c) => c.name === 'good' || c.name === 'jail');
    const r = await ports.lookup(facts, await docker.listNetworks());
    expect(r.failed).toEqual([]);
    // One `ip -j link` on the host for all of them; the containers' own sides from their sysfs.
    expect(r.processes).toBe(1);
    expect(r.ports.map((p) => p.port)).toHaveLength(2);
    const viaIp = await run('nsenter', [`--net=/proc/${good.pid}/ns/net`, 'ip', '-j', 'link', 'show', 'eth0']);
    const [eth0] = JSON.parse(viaIp.stdout) as Array<{ link_index: number }>;
    expect((await readFile(`/proc/${good.pid}/root/sys/class/net/eth0/iflink`, 'utf8')).trim()).toBe(String(eth0!.link_index));
  });

  it('status reports the bridge table in sync; a deleted table is put back; flush removes it', async () => {
    const listed = await h.host.exec('nft', ['list', 'table', 'bridge', 'dockgate'], { reject: false });
    expect(listed.exitCode).toBe(0);
    expect(listed.stdout).toContain(`"good/`);
    const status = await runCli(h, ['status', '--config', configFile]);
    expect(status.stdout).toMatch(/anti-spoofing: in sync/);
    // waitForLog looks at every line so far: only a repair logged after the delete proves one.
    const from = daemon.lines.length;
    await h.host.exec('nft', ['delete', 'table', 'bridge', 'dockgate']);
    await daemon.waitForLog((l) => l.event === 'drift-repaired' && l.table === 'bridge dockgate' && l.problem === 'table missing' && daemon.lines.indexOf(l) >= from, 10_000);
    expect((await h.host.exec('nft', ['list', 'table', 'bridge', 'dockgate'], { reject: false })).exitCode).toBe(0);
    // Still enforced after the repair.
    await sendUdp(jail, good.ip, 'forged-again');
    await sleep(800);
    expect(sink.out.filter((l) => l.startsWith('forged'))).toEqual([]);
    await daemon.stop();
    await runCli(h, ['flush', '--config', configFile]);
    expect((await h.host.exec('nft', ['list', 'table', 'bridge', 'dockgate'], { reject: false })).exitCode).not.toBe(0);
  });
});
