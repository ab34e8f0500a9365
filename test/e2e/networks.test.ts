// Everything Docker's own rules did that `--iptables=false` takes away: egress, isolation
// between networks, direct-access protection, hairpin and localhost access, forwarding per
// interface, and conntrack clean-up. Real dockerd, real connections.
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupLeftovers } from '../support/netns.js';
import {
  type DaemonProcess,
  type DockerHost,
  HOST_IP,
  clientIp,
  OUTSIDE_IP,
  httpGet,
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

let h: DockerHost;
let daemon: DaemonProcess;
let configFile: string;


const sysctl = async (key: string): Promise<string> => (await h.host.exec('cat', [`/proc/sys/${key.replaceAll('.', '/')}`])).stdout.trim();
const exec = (container: string, args: string[]) => h.docker(['exec', container, ...args], { reject: false, timeoutMs: 10_000 });
/** busybox-static's `wget -T` crashes (exit 139), so the fetch is bounded by busybox timeout. */
const fetchIn = (container: string, url: string) => exec(container, ['busybox', 'timeout', '3', 'wget', '-q', '-O', '-', url]);
const containerIp = async (name: string): Promise<string> =>
  (await h.docker(['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', name])).stdout.trim();
const pidOf = async (name: string): Promise<number> => Number((await h.docker(['inspect', '-f', '{{.State.Pid}}', name])).stdout.trim());

beforeAll(async () => {
  await cleanupLeftovers();
  // Docker told not to touch forwarding; the namespace starts with it off everywhere.
  h = await startDockerHost({ userlandProxy: false, ipForward: false });
  await h.host.exec('sysctl', ['-qw', 'net.ipv4.conf.all.forwarding=0']);
  configFile = `${h.tmpDir}/config.yaml`;
  await writeFile(configFile, `log_level: debug\nexternal_interfaces: [${h.hostIf}]\nsync:\n  debounce_ms: 10\n`);
  // A server in the outside namespace that answers with the address it sees.
  await startAddressEcho(h, h.outside.path, `${OUTSIDE_IP}:9000`);
  daemon = await startReadyDaemon(h, configFile);
});

afterAll(async () => {
  await stopAll();
});

describe('egress and forwarding', () => {
  it('forwarding is on only where needed, all.forwarding stays 0', async () => {
    await startWebContainer(h, { name: 'egress-on', labels: {} });
    await waitFor('docker0 forwarding', async () => ((await sysctl('net.ipv4.conf.docker0.forwarding')) === '1' ? true : undefined), 3_000);
    expect(await sysctl(`net.ipv4.conf.${h.hostIf}.forwarding`)).toBe('1');
    expect(await sysctl('net.ipv4.conf.all.forwarding')).toBe('0');
    expect(await sysctl('net.ipv4.conf.lo.forwarding')).toBe('0');
  });

  it('a container reaches the outside, which sees the host address', async () => {
    const r = await waitFor('egress works', async () => {
      const e = await fetchIn('egress-on', `http://${OUTSIDE_IP}:9000/cgi-bin/ip`);
      return e.exitCode === 0 ? e.stdout : undefined;
    }, 5_000);
    expect(clientIp(r)).toBe(HOST_IP);
  });

  it('dockgate.egress=false blocks it', async () => {
    await startWebContainer(h, { name: 'egress-off', labels: { 'dockgate.egress': 'false' } });
    await daemon.waitForLog((l) => l.event === 'applied' && l.container === 'egress-off', 3_000).catch(() => undefined);
    const e = await fetchIn('egress-off', `http://${OUTSIDE_IP}:9000/cgi-bin/ip`);
    expect(e.exitCode).not.toBe(0);
    // ... while its neighbour with egress still gets out.
    expect((await fetchIn('egress-on', `http://${OUTSIDE_IP}:9000/cgi-bin/ip`)).exitCode).toBe(0);
  });

  it('dnat works with all.forwarding=0 and the client address is preserved', async () => {
    await startSeer(h, 'seer', ['-l', `dockgate.ports=${HOST_IP}:8010:80`, '-l', 'dockgate.mode=dnat']);
    const r = await waitFor('seer reachable', async () => {
      const g = await httpGet(h.outside, `http://${HOST_IP}:8010/cgi-bin/ip`);
      return g.ok ? g.body : undefined;
    }, 5_000);
    expect(clientIp(r)).toBe(OUTSIDE_IP);
    expect(await sysctl('net.ipv4.conf.all.forwarding')).toBe('0');
  });
});

describe('isolation between networks', () => {
  it('same network talks by name, other networks are cut off, new networks are managed', async () => {
    await h.docker(['network', 'create', 'dgfront']);
    await h.docker(['network', 'create', '-o', 'com.docker.network.bridge.name=dg-back', 'dgback']);
    await startWebContainer(h, { name: 'f1', network: 'dgfront' });
    await startWebContainer(h, { name: 'f2', network: 'dgfront' });
    await startWebContainer(h, { name: 'b1', network: 'dgback' });
    const plan = await waitFor('both networks planned', async () => {
      const p = await runCli(h, ['plan', '--config', configFile]);
      return p.stdout.includes('dg-back') && p.stdout.includes('dockgate isolate dgfront from dgback') ? p.stdout : undefined;
    }, 5_000);
    expect(plan).toContain('-A DOCKGATE-FORWARD -i dg-back -o dg-back');
    const byName = await fetchIn('f1', 'http://f2:8000/');
    expect(byName.stdout.trim()).toBe('f2');
    const b1 = await containerIp('b1');
    const cross = await fetchIn('f1', `http://${b1}:8000/`);
    expect(cross.exitCode).not.toBe(0);
    // ... and not because b1 is down: its own neighbours on dgback would reach it.
    expect((await h.host.exec('curl', ['-s', '-m', '2', `http://${b1}:8000/`], { reject: false })).stdout.trim()).toBe('b1');
  });

  it('a packet routed from outside straight to a container address is dropped', async () => {
    const ip = await containerIp('egress-on');
    await h.outside.exec('ip', ['route', 'replace', '172.16.0.0/12', 'via', HOST_IP]);
    const counter = async (): Promise<number> => {
      const r = await h.host.exec('iptables', ['-t', 'raw', '-L', 'DOCKGATE-RAW', '-v', '-x', '-n']);
      return r.stdout.split('\n').filter((l) => l.includes('no direct access to bridge')).reduce((n, l) => n + Number(l.trim().split(/\s+/)[0]), 0);
    };
    const before = await counter();
    expect((await httpGet(h.outside, `http://${ip}:8000/`, 1500)).ok).toBe(false);
    // The packets did reach the host and were dropped by that rule, not lost on the way.
    expect(await counter()).toBeGreaterThan(before);
  });
});

describe('hairpin and localhost', () => {
  it('containers and the host reach a dnat port through the host address', async () => {
    await startWebContainer(h, { name: 'hp', labels: { 'dockgate.ports': `${HOST_IP}:8050:8000`, 'dockgate.mode': 'dnat' } });
    await waitFor('hp from outside', async () => ((await httpGet(h.outside, `http://${HOST_IP}:8050/`)).ok ? true : undefined), 5_000);
    const sameNet = await fetchIn('egress-on', `http://${HOST_IP}:8050/`);
    expect(sameNet.stdout.trim()).toBe('hp');
    const otherNet = await fetchIn('f1', `http://${HOST_IP}:8050/`);
    expect(otherNet.stdout.trim()).toBe('hp');
    const host = await h.host.exec('curl', ['-s', '-m', '2', `http://${HOST_IP}:8050/`], { reject: false });
    expect(host.stdout.trim()).toBe('hp');
  });

  it('a port published on 127.0.0.1 in dnat mode is reachable from the host only', async () => {
    await startWebContainer(h, { name: 'lh', labels: { 'dockgate.ports': '127.0.0.1:8060:8000', 'dockgate.mode': 'dnat' } });
    const r = await waitFor('lh from the host', async () => {
      const c = await h.host.exec('curl', ['-s', '-m', '2', 'http://127.0.0.1:8060/'], { reject: false });
      return c.stdout.trim() === 'lh' ? true : undefined;
    }, 5_000);
    expect(r).toBe(true);
    expect(await sysctl('net.ipv4.conf.docker0.route_localnet')).toBe('1');
    expect((await httpGet(h.outside, `http://${HOST_IP}:8060/`, 1500)).ok).toBe(false);
    expect((await h.host.exec('iptables-save', ['-t', 'raw'])).stdout).toContain('-A DOCKGATE-RAW -d 127.0.0.0/8 ! -i lo');
  });
});

describe('UDP and conntrack', () => {
  const udpServer = (name: string) =>
    `const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>s.send(${JSON.stringify(name)},r.port,r.address));s.bind(5000);setTimeout(()=>process.exit(0),60000);`;

  it('a replaced container on the same UDP port is reached within 2 s by a client sending all along', async () => {
    const labels = ['-l', `dockgate.ports=${HOST_IP}:5000:5000/udp`, '-l', 'dockgate.mode=dnat'];
    // The replacement gets another address (as it usually does in real life), so a stale
    // conntrack entry would keep sending the client's packets to the old one.
    await h.docker(['network', 'create', '--subnet', '172.29.0.0/24', 'dgudp']);
    await h.docker(['run', '-d', '--name', 'udp1', '--network', 'dgudp', '--ip', '172.29.0.10', ...labels, h.image, 'sleep', '600']);
    spawnIn(`/proc/${await pidOf('udp1')}/ns/net`, [process.execPath, '-e', udpServer('udp1')]);
    // A client that keeps one source port and sends every 50 ms, at most 30 s.
    const client = spawnIn(h.outside.path, [process.execPath, '-e',
      `const s=require('dgram').createSocket('udp4');let n=0;s.on('message',m=>console.log(Date.now()+' '+m));` +
      `s.bind(40000,()=>{const t=setInterval(()=>{if(++n>600){clearInterval(t);s.close();return;}s.send('x',5000,${JSON.stringify(HOST_IP)});},50);});`]);
    await waitFor('udp1 answers', async () => (client.out.some((l) => l.endsWith(' udp1')) ? true : undefined), 5_000);

    await h.docker(['rm', '-f', 'udp1']);
    await h.docker(['run', '-d', '--name', 'udp2', '--network', 'dgudp', '--ip', '172.29.0.11', ...labels, h.image, 'sleep', '600']);
    spawnIn(`/proc/${await pidOf('udp2')}/ns/net`, [process.execPath, '-e', udpServer('udp2')]);
    const t0 = Date.now();
    await waitFor('udp2 answers', async () => (client.out.some((l) => l.endsWith(' udp2')) ? true : undefined), 2_000, 20);
    expect(Date.now() - t0).toBeLessThanOrEqual(2_000);
    client.child.kill('SIGKILL');
  });
});
