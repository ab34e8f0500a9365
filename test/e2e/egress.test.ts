// Egress allow-lists on a real dockerd: a container with `dockgate.egress` reaches the listed
// destinations (TCP port, UDP port, its resolver on 53) and nothing else on the same host.
import { writeFile } from 'node:fs/promises';
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

let h: DockerHost;
let daemon: DaemonProcess;
let configFile: string;

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

beforeAll(async () => {
  await cleanupLeftovers();
  h = await startDockerHost();
  const resolvConf = `${h.tmpDir}/resolv.conf`;
  // The host's resolver, as the daemon reads it: a server in the outside namespace.
  await writeFile(resolvConf, `nameserver ${OUTSIDE_IP}\nnameserver 127.0.0.53\n`);
  configFile = `${h.tmpDir}/config.yaml`;
  await writeFile(configFile, `log_level: debug\nsync:\n  debounce_ms: 10\negress:\n  resolv_conf: ${resolvConf}\n`);
  await startAddressEcho(h, h.outside.path, `${OUTSIDE_IP}:7001`);
  await startAddressEcho(h, h.outside.path, `${OUTSIDE_IP}:7002`);
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

  it('the rules say so: one accept per destination plus the resolver, and status shows the list', async () => {
    const save = (await h.host.exec('iptables-save', ['-t', 'filter'])).stdout.split('\n').filter((l) => l.includes('"listed/'));
    expect(save.filter((l) => l.startsWith('-A DOCKGATE-CONTAINERS-'))).toEqual([
      expect.stringMatching(new RegExp(`-d ${OUTSIDE_IP}/32 -i docker0 -p tcp -m tcp --dport 7001 -m conntrack --ctstate NEW .* -j ACCEPT$`)),
      expect.stringMatching(new RegExp(`-d ${OUTSIDE_IP}/32 -i docker0 -p udp -m udp --dport 7100 -m conntrack --ctstate NEW .* -j ACCEPT$`)),
      expect.stringMatching(new RegExp(`-d ${OUTSIDE_IP}/32 -i docker0 -p udp -m udp --dport 53 -m conntrack --ctstate NEW .* -j ACCEPT$`)),
      expect.stringMatching(new RegExp(`-d ${OUTSIDE_IP}/32 -i docker0 -p tcp -m tcp --dport 53 -m conntrack --ctstate NEW .* -j ACCEPT$`)),
    ]);
    const status = await runCli(h, ['status', '--config', configFile]);
    expect(status.stdout).toContain(`egress to ${LISTED}`);
  });

  it('a malformed entry fails the container closed: no egress at all, one error naming the entry', async () => {
    await startWebContainer(h, { name: 'typo', labels: { 'dockgate.egress': `${OUTSIDE_IP}:7001,10.0.0.5/8` } });
    const err = await daemon.waitForLog((l) => l.event === 'label-error' && l.container === 'typo', 3_000);
    expect(JSON.stringify(err)).toContain('10.0.0.5/8');
    expect((await fetchIn('typo', `http://${OUTSIDE_IP}:7001/cgi-bin/ip`)).exitCode).not.toBe(0);
  });
});
