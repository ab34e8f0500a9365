// The core scenarios on two more host shapes (issue 10): an admin firewall kept with
// iptables-legacy, and ufw. Each runs in namespaces made here, with a real dockerd and real
// connections from the outside namespace: labelled proxy port open, unlabelled closed, `from`
// honoured, dnat reachable with the client's address, egress working, egress=false blocked.
import { cp, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupLeftovers } from '../support/netns.js';
import {
  type DaemonProcess,
  type DockerHost,
  HOST_IP,
  OUTSIDE_IP,
  clientIp,
  httpGet,
  startAddressEcho,
  startDockerHost,
  startSeer,
  startWebContainer,
  stopAll,
  waitFor,
  startReadyDaemon,
} from './harness.js';

const url = (port: number, path = '/'): string => `http://${HOST_IP}:${port}${path}`;

/** The compact scenario set, the same on every shape. */
function coreScenarios(get: () => { h: DockerHost; daemon: DaemonProcess }): void {
  const fetchIn = (h: DockerHost, container: string, target: string) =>
    h.docker(['exec', container, 'busybox', 'timeout', '3', 'wget', '-q', '-O', '-', target], { reject: false, timeoutMs: 10_000 });

  it('a labelled proxy port is open, an unlabelled one closed, and from is honoured', async () => {
    const { h } = get();
    await startWebContainer(h, { name: 'web', ports: [`${HOST_IP}:8000:8000`], labels: { 'dockgate.ports': '8000' } });
    await startWebContainer(h, { name: 'nolabel', ports: [`${HOST_IP}:8001:8000`] });
    await startWebContainer(h, { name: 'office', ports: [`${HOST_IP}:8002:8000`], labels: { 'dockgate.ports': '8000', 'dockgate.from': '192.0.2.0/24' } });
    await waitFor('web reachable', async () => ((await httpGet(h.outside, url(8000))).ok ? true : undefined), 5_000);
    expect((await httpGet(h.outside, url(8000))).body.trim()).toBe('web');
    expect((await httpGet(h.outside, url(8001), 1500)).ok).toBe(false);
    expect((await httpGet(h.outside, url(8002), 1500)).ok).toBe(false);
  });

  it('a dnat port is reachable and the container sees the client address', async () => {
    const { h } = get();
    await startSeer(h, 'seer', ['-l', `dockgate.ports=${HOST_IP}:8010:80`, '-l', 'dockgate.mode=dnat']);
    const seen = await waitFor('dnat reachable', async () => {
      const r = await httpGet(h.outside, url(8010, '/cgi-bin/ip'));
      return r.ok ? r.body : undefined;
    }, 5_000);
    expect(clientIp(seen)).toBe(OUTSIDE_IP);
  });

  it('egress works; egress=false is blocked', async () => {
    const { h } = get();
    await startWebContainer(h, { name: 'out' });
    await startWebContainer(h, { name: 'jail', labels: { 'dockgate.egress': 'false' } });
    const seen = await waitFor('egress', async () => {
      const r = await fetchIn(h, 'out', `http://${OUTSIDE_IP}:9000/cgi-bin/ip`);
      return r.exitCode === 0 ? r.stdout : undefined;
    }, 5_000);
    expect(clientIp(seen)).toBe(HOST_IP);
    expect((await fetchIn(h, 'jail', `http://${OUTSIDE_IP}:9000/cgi-bin/ip`)).exitCode).not.toBe(0);
  });
}

async function startShape(setup: (h: DockerHost) => Promise<string>): Promise<{ h: DockerHost; daemon: DaemonProcess }> {
  const h = await startDockerHost();
  // The harness keeps its admin rules in the nft backend: each shape replaces them with its own.
  await h.host.exec('iptables', ['-w', '-F', 'INPUT']);
  await h.host.exec('iptables', ['-w', '-P', 'INPUT', 'ACCEPT']);
  await startAddressEcho(h, h.outside.path, `${OUTSIDE_IP}:9000`);
  const extraConfig = await setup(h);
  const configFile = `${h.tmpDir}/config.yaml`;
  await writeFile(configFile, `log_level: debug\nsync:\n  debounce_ms: 10\n${extraConfig}`);
  const daemon = await startReadyDaemon(h, configFile);
  return { h, daemon };
}

beforeAll(async () => {
  await cleanupLeftovers();
});

afterAll(async () => {
  await stopAll();
});

describe('an admin firewall kept with iptables-legacy', () => {
  let shape: { h: DockerHost; daemon: DaemonProcess };
  beforeAll(async () => {
    shape = await startShape(async (h) => {
      const legacy = (args: string[]) => h.host.exec('iptables-legacy', ['-w', ...args]);
      await legacy(['-P', 'INPUT', 'DROP']);
      await legacy(['-A', 'INPUT', '-i', 'lo', '-j', 'ACCEPT']);
      await legacy(['-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT']);
      // dockgate writes where the admin's firewall is: the legacy backend.
      return [
        'iptables:',
        '  restore_command: iptables-legacy-restore',
        '  save_command: iptables-legacy-save',
        '  ip6_restore_command: ip6tables-legacy-restore',
        '  ip6_save_command: ip6tables-legacy-save',
        '',
      ].join('\n');
    });
  }, 120_000);
  afterAll(async () => {
    await shape?.h.stop();
  });

  it('dockgate writes to the legacy tables and polls for drift (no nft events there)', async () => {
    const saved = await shape.h.host.exec('iptables-legacy-save', ['-t', 'filter']);
    expect(saved.stdout).toContain('-A INPUT -m comment --comment dockgate -j DOCKGATE-INPUT');
    expect(shape.daemon.lines.some((l) => typeof l === 'object' && (l as Record<string, unknown>).event === 'drift-watch' && (l as Record<string, unknown>).mode === 'polling')).toBe(true);
  });
  coreScenarios(() => shape);
});

describe('ufw enabled in the namespace', () => {
  let shape: { h: DockerHost; daemon: DaemonProcess };
  beforeAll(async () => {
    shape = await startShape(async (h) => {
      // ufw with its own copy of /etc/ufw (--rootdir/--datadir): `ufw enable` would otherwise
      // mark the machine's own ufw enabled. Run only under nsenter of the test's namespace.
      const root = await mkdtemp(`${h.tmpDir}/ufw-`);
      await mkdir(`${root}/etc/default`, { recursive: true });
      await mkdir(`${root}/lib`, { recursive: true });
      await cp('/etc/ufw', `${root}/etc/ufw`, { recursive: true });
      await cp('/etc/default/ufw', `${root}/etc/default/ufw`);
      await cp('/lib/ufw', `${root}/lib/ufw`, { recursive: true });
      const r = await h.host.exec('ufw', [`--rootdir=${root}`, `--datadir=${root}`, '--force', 'enable'], { reject: false, timeoutMs: 60_000 });
      if (r.exitCode !== 0) throw new Error(`ufw enable failed: ${r.stdout}${r.stderr}`);
      const input = await h.host.exec('iptables', ['-w', '-S', 'INPUT']);
      if (!input.stdout.includes('-P INPUT DROP') || !input.stdout.includes('ufw-before-input')) throw new Error(`ufw did not set up INPUT:\n${input.stdout}`);
      return '';
    });
  }, 120_000);
  afterAll(async () => {
    await shape?.h.stop();
  });

  it("dockgate's jumps come before ufw's in INPUT and FORWARD", async () => {
    const input = (await shape.h.host.exec('iptables', ['-w', '-S', 'INPUT'])).stdout.split('\n').filter((l) => l.startsWith('-A'));
    expect(input[0]).toBe('-A INPUT -m comment --comment dockgate -j DOCKGATE-INPUT');
    const forward = (await shape.h.host.exec('iptables', ['-w', '-S', 'FORWARD'])).stdout.split('\n').filter((l) => l.startsWith('-A'));
    expect(forward[0]).toBe('-A FORWARD -m comment --comment dockgate -j DOCKGATE-FORWARD');
  });
  coreScenarios(() => shape);
});
