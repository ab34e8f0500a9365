// A label opens only what its own container owns (issue 9), proved with real connections from
// the outside namespace: the host's own services behind the admin's DROP stay closed whatever a
// label says, a from-restricted port stays restricted whatever another label says, a dnat port
// restricted by `from` leaves the host's own service on that port to everyone else, containers
// without egress and internal networks reach nothing through the host.
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
  startDockerHost,
  startInHost,
  startWebContainer,
  stopAll,
  waitFor,
  startReadyDaemon,
} from './harness.js';

let h: DockerHost;
let daemon: DaemonProcess;
let www: string;
let configFile: string;

const url = (port: number): string => `http://${HOST_IP}:${port}/`;
const exec = (container: string, args: string[]) => h.docker(['exec', container, ...args], { reject: false, timeoutMs: 10_000 });
/** busybox-static's `wget -T` crashes, so the fetch is bounded by busybox timeout. */
const fetchIn = (container: string, target: string) => exec(container, ['busybox', 'timeout', '3', 'wget', '-q', '-O', '-', target]);
const body = async (port: number): Promise<string> => {
  const r = await httpGet(h.outside, url(port), 1500);
  return r.ok ? r.body.trim() : '(no answer)';
};
/** Waits until dockgate has logged a plan with `name` in it (applied, or a label error). */
const planned = (name: string) =>
  daemon.waitForLog((l) => (l.event === 'applied' || l.event === 'label-error' || l.event === 'warning') && l.container === name, 10_000);

beforeAll(async () => {
  await cleanupLeftovers();
  // dnat mode without docker-proxy: a host port Docker maps is not bound by anything on the host.
  h = await startDockerHost({ userlandProxy: false });
  www = `${h.tmpDir}/host-www`;
  await mkdir(www, { recursive: true });
  await writeFile(`${www}/index.html`, 'host\n');
  // The host's own services: one behind the admin's DROP (an sshd, say), one the admin serves.
  await startInHost(h, ['busybox', 'httpd', '-f', '-p', '0.0.0.0:2222', '-h', www]);
  await startInHost(h, ['busybox', 'httpd', '-f', '-p', '0.0.0.0:9090', '-h', www]);
  await h.host.exec('iptables', ['-w', '-A', 'INPUT', '-p', 'tcp', '--dport', '9090', '-j', 'ACCEPT']);
  configFile = `${h.tmpDir}/config.yaml`;
  await writeFile(configFile, 'log_level: debug\nsync:\n  debounce_ms: 10\n');
  daemon = await startReadyDaemon(h, configFile);
  expect(await body(9090)).toBe('host');
  expect(await body(2222)).toBe('(no answer)');
});

afterAll(async () => {
  await stopAll();
});

describe('a label opens only what its own container owns', () => {
  it('a host service behind the admin\'s DROP stays closed whatever a label says', async () => {
    await startWebContainer(h, { name: 'sneak-proxy', port: 80, labels: { 'dockgate.ports': '2222:2222' } });
    await startWebContainer(h, { name: 'sneak-dnat', port: 80, labels: { 'dockgate.ports': '2222:80', 'dockgate.mode': 'dnat' } });
    await planned('sneak-proxy');
    const refused = await planned('sneak-dnat');
    expect(refused).toMatchObject({ event: 'label-error', label: 'dockgate.ports' });
    expect(String(refused.reason)).toMatch(/a host process listens on \*:2222\/tcp/);
    expect(await body(2222)).toBe('(no answer)');
  });

  it('a from-restricted port stays restricted whatever another container\'s label says', async () => {
    await startWebContainer(h, {
      name: 'tight',
      port: 80,
      ports: ['8443:80'],
      labels: { 'dockgate.ports': '80', 'dockgate.mode': 'dnat', 'dockgate.from': '192.0.2.0/24' },
    });
    await planned('tight');
    await startWebContainer(h, { name: 'widen', port: 80, labels: { 'dockgate.ports': '8443:80', 'dockgate.mode': 'dnat' } });
    await startWebContainer(h, { name: 'widen-proxy', port: 80, labels: { 'dockgate.ports': '8443:80' } });
    const lost = await planned('widen');
    expect(String(lost.reason)).toMatch(/published with -p by container tight: it belongs to that container/);
    await planned('widen-proxy');
    expect(await body(8443)).toBe('(no answer)');
  });

  it('a dnat port restricted by from still reaches the host\'s own service for other sources', async () => {
    // Docker binds every -p port itself, so the host's own service on a dnat port is one the
    // admin reaches it through: here their own redirect of 9094 to the service on 9090.
    await h.host.exec('iptables', ['-w', '-t', 'nat', '-A', 'PREROUTING', '-p', 'tcp', '--dport', '9094', '-j', 'REDIRECT', '--to-ports', '9090']);
    expect(await body(9094)).toBe('host');
    await startWebContainer(h, {
      name: 'restricted',
      port: 80,
      labels: { 'dockgate.ports': '9094:80', 'dockgate.mode': 'dnat', 'dockgate.from': '192.0.2.0/24' },
    });
    await startWebContainer(h, {
      name: 'allowed',
      port: 80,
      labels: { 'dockgate.ports': '9091:80', 'dockgate.mode': 'dnat', 'dockgate.from': `${OUTSIDE_IP}/32` },
    });
    await daemon.waitForLog((l) => l.event === 'applied' && l.container === 'restricted', 10_000);
    await waitFor('allowed reachable', async () => ((await body(9091)) === 'allowed' ? true : undefined), 5_000);
    expect(await body(9094)).toBe('host');
  });

  it('a container without egress reaches no published port through the host; one with egress does', async () => {
    await startWebContainer(h, { name: 'open', port: 80, ports: ['9092:80'], labels: { 'dockgate.ports': '80', 'dockgate.mode': 'dnat' } });
    await startWebContainer(h, { name: 'free', port: 80 });
    await startWebContainer(h, { name: 'jail', port: 80, labels: { 'dockgate.egress': 'false' } });
    await planned('open');
    await waitFor('free reaches the published port', async () => ((await fetchIn('free', url(9092))).stdout.trim() === 'open' ? true : undefined), 5_000);
    expect((await fetchIn('jail', url(9092))).stdout.trim()).toBe('');
  });

  it('nothing crosses an internal network: no DNAT onto it, no way out of it through the host', async () => {
    await h.docker(['network', 'create', '--internal', '--subnet', '172.29.0.0/24', 'sealed']);
    await startWebContainer(h, {
      name: 'inside',
      port: 80,
      network: 'sealed',
      labels: { 'dockgate.ports': '9093:80', 'dockgate.mode': 'dnat' },
    });
    const w = await planned('inside');
    expect(String(w.reason ?? '')).toMatch(/internal network sealed/);
    expect(await body(9093)).toBe('(no answer)');
    expect((await fetchIn('inside', url(9092))).stdout.trim()).toBe('');
  });
});

// Issue 18 item 5: once granted, a claim is not revocable by a local user binding the port, and a
// refused entry costs only itself.
describe('a granted claim stays with its container until it stops', () => {
  /** Whether a host process listens on TCP `port` in the host namespace (/proc/net/tcp, state 0A). */
  const hostListens = async (port: number): Promise<true | undefined> => {
    const hex = port.toString(16).toUpperCase().padStart(4, '0');
    const r = await runInHost(h, ['cat', '/proc/net/tcp', '/proc/net/tcp6'], {}, 5_000);
    return new RegExp(`:${hex} [0-9A-F:]+ 0A `).test(r.stdout) ? true : undefined;
  };

  it('a host process that binds a claimed port later is reported, not obeyed, until the container restarts', async () => {
    await startWebContainer(h, { name: 'claimer', port: 80, labels: { 'dockgate.ports': '31337:80', 'dockgate.mode': 'dnat' } });
    await planned('claimer');
    await waitFor('the claim reachable', async () => ((await body(31337)) === 'claimer' ? true : undefined), 5_000);

    // What any local user can do: bind the port the claim holds.
    await startInHost(h, ['busybox', 'httpd', '-f', '-p', '0.0.0.0:31337', '-h', www]);
    await waitFor('the host process listening on 31337', () => hostListens(31337), 5_000);
    // Listeners are read at every plan; another container's start makes one. Its label asks for
    // a port a host process had before (refused) and a free one (granted): only the first is lost.
    await startWebContainer(h, { name: 'half', port: 80, labels: { 'dockgate.ports': '2222:80, 9095:80', 'dockgate.mode': 'dnat' } });
    const refused = await daemon.waitForLog((l) => l.event === 'label-error' && l.container === 'half', 10_000);
    expect(refused).toMatchObject({ value: '2222:80', closes: 'entry' });
    await waitFor('the other entry reachable', async () => ((await body(9095)) === 'half' ? true : undefined), 5_000);
    expect(await body(2222)).toBe('(no answer)');

    const warned = await daemon.waitForLog((l) => l.event === 'warning' && l.container === 'claimer', 10_000);
    expect(String(warned.reason)).toMatch(/host port \*:31337\/tcp was granted to this container before a host process began listening/);
    expect(daemon.lines.filter((l) => (l as { event?: string; container?: string }).event === 'label-error' && (l as { container?: string }).container === 'claimer')).toEqual([]);
    expect(await body(31337)).toBe('claimer');

    // status has no memory of its own: the kernel holding the claim's rules shows the daemon kept it.
    const status = await runCli(h, ['status', '--json', '--config', configFile]);
    const json = JSON.parse(status.stdout) as { inSync: boolean; containers: Array<{ name: string; openings: unknown[]; errors: unknown[]; warnings: string[] }> };
    expect(json.inSync).toBe(true);
    const claimer = json.containers.find((c) => c.name === 'claimer')!;
    expect(claimer.openings).toHaveLength(1);
    expect(claimer.errors).toEqual([]);
    expect(claimer.warnings.join()).toMatch(/not given the port/);

    // A restart is a new start: judged again, and now the host process had the port first.
    await h.docker(['restart', '-t', '1', 'claimer'], { timeoutMs: 30_000 });
    const lost = await daemon.waitForLog((l) => l.event === 'label-error' && l.container === 'claimer', 15_000);
    expect(String(lost.reason)).toMatch(/a host process listens on \*:31337\/tcp/);
    expect(await body(31337)).toBe('(no answer)');
  }, 90_000);
});
