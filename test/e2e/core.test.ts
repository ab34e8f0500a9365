// The main job, end to end: a real dockerd with its iptables off, the admin's INPUT policy DROP,
// dockgate as a real process, and real connections from a second namespace.
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
  startDaemon,
  startDockerHost,
  startWebContainer,
  stopAll,
  waitFor,
  saveClean,
  startSeer,
  startReadyDaemon,
} from './harness.js';

let h: DockerHost;
let daemon: DaemonProcess;
let configFile: string;
let pristine: string;


const ownRules = (text: string): string[] => text.split('\n').filter((l) => l.includes('DOCKGATE'));


const url = (port: number, path = '/'): string => `http://${HOST_IP}:${port}${path}`;


const startDockgate = (): Promise<DaemonProcess> => startReadyDaemon(h, configFile);

beforeAll(async () => {
  await cleanupLeftovers();
  h = await startDockerHost();
  configFile = `${h.tmpDir}/config.yaml`;
  await writeFile(configFile, 'log_level: debug\nsync:\n  debounce_ms: 10\n');
  pristine = await saveClean(h.host);
  daemon = await startDockgate();
});

afterAll(async () => {
  await stopAll();
});

describe('dockgate with a real dockerd', () => {
  it('opens a labelled proxy port and keeps an unlabelled published port closed', async () => {
    await startWebContainer(h, { name: 'web', ports: [`${HOST_IP}:8000:8000`], labels: { 'dockgate.ports': '8000' } });
    await startWebContainer(h, { name: 'nolabel', ports: [`${HOST_IP}:8001:8000`] });
    const web = await waitFor('web reachable', async () => ((await httpGet(h.outside, url(8000))).ok ? true : undefined), 3_000);
    expect(web).toBe(true);
    expect((await httpGet(h.outside, url(8000))).body.trim()).toBe('web');
    expect((await httpGet(h.outside, url(8001), 1500)).ok).toBe(false);
    const warn = await daemon.waitForLog((l) => l.event === 'warning' && l.container === 'nolabel', 3_000);
    expect(String(warn.reason)).toContain('no dockgate.ports label');
    const applied = await daemon.waitForLog((l) => l.event === 'applied' && l.container === 'web', 3_000);
    expect(applied.ports).toEqual([`${HOST_IP}:8000->8000/tcp`]);
    expect(typeof applied.durationMs).toBe('number');
  });

  it('keeps a port closed to sources outside dockgate.from', async () => {
    await startWebContainer(h, {
      name: 'private',
      ports: [`${HOST_IP}:8002:8000`],
      labels: { 'dockgate.ports': '8000', 'dockgate.from': '192.168.77.0/24' },
    });
    await startWebContainer(h, {
      name: 'friendly',
      ports: [`${HOST_IP}:8003:8000`],
      labels: { 'dockgate.ports': '8000', 'dockgate.from': `${OUTSIDE_IP}/32` },
    });
    await waitFor('friendly reachable', async () => ((await httpGet(h.outside, url(8003))).ok ? true : undefined), 3_000);
    expect((await httpGet(h.outside, url(8002), 1500)).ok).toBe(false);
    expect(ownRules(await saveClean(h.host)).join('\n')).toContain('-s 192.168.77.0/24');
  });

  it('dnat mode: reachable, and the container sees the real client address', async () => {
    await startSeer(h, 'seer', ['-p', `${HOST_IP}:8010:80`, '-l', 'dockgate.ports=80', '-l', 'dockgate.mode=dnat']);
    const r = await waitFor('seer reachable', async () => {
      const g = await httpGet(h.outside, url(8010, '/cgi-bin/ip'));
      return g.ok ? g : undefined;
    }, 5_000);
    expect(clientIp(r.body)).toBe(OUTSIDE_IP);
    expect(ownRules(await saveClean(h.host)).join('\n')).toMatch(new RegExp(`-d ${HOST_IP}/32 -p tcp -m tcp --dport 8010 .* -j DNAT --to-destination 172\\.31\\.0\\.\\d+:80`));
  });

  it('dnat mode with the mapping form, for a container run without -p', async () => {
    await startSeer(h, 'mapped', ['-l', `dockgate.ports=${HOST_IP}:8020:80`, '-l', 'dockgate.mode=dnat']);
    const r = await waitFor('mapped reachable', async () => {
      const g = await httpGet(h.outside, url(8020, '/cgi-bin/ip'));
      return g.ok ? g : undefined;
    }, 5_000);
    expect(clientIp(r.body)).toBe(OUTSIDE_IP);
  });

  it('a container started while the daemon runs is reachable within 1 s', async () => {
    await startWebContainer(h, { name: 'late', ports: [`${HOST_IP}:8030:8000`], labels: { 'dockgate.ports': '8000' } });
    // startWebContainer returns once httpd answers inside; the rule must follow within a second.
    const t0 = Date.now();
    await waitFor('late reachable', async () => ((await httpGet(h.outside, url(8030), 500)).ok ? true : undefined), 1_000, 50);
    expect(Date.now() - t0).toBeLessThan(1_000);
  });

  it('a stopped container becomes unreachable and its rules are gone', async () => {
    const id = (await h.docker(['inspect', '-f', '{{.Id}}', 'late'])).stdout.trim();
    expect(await saveClean(h.host)).toContain(id.slice(0, 12));
    await h.docker(['stop', '-t', '1', 'late']);
    await waitFor('late rules gone', async () => (!(await saveClean(h.host)).includes(id.slice(0, 12)) ? true : undefined), 3_000);
    expect((await httpGet(h.outside, url(8030), 1000)).ok).toBe(false);
    await daemon.waitForLog((l) => l.event === 'removed' && l.container === 'late', 2_000);
  });

  it('a hostile label opens nothing, is logged by name, and others stay served', async () => {
    await startWebContainer(h, {
      name: 'hostile',
      ports: [`${HOST_IP}:8040:8000`],
      labels: { 'dockgate.ports': '8000 -j ACCEPT', 'dockgate.port': '1' },
    });
    const err = await daemon.waitForLog((l) => l.event === 'label-error' && l.container === 'hostile', 3_000);
    expect(['dockgate.ports', 'dockgate.port']).toContain(err.label);
    expect(String(err.reason).length).toBeGreaterThan(5);
    expect((await httpGet(h.outside, url(8040), 1000)).ok).toBe(false);
    expect((await httpGet(h.outside, url(8000))).ok).toBe(true);
    const id = (await h.docker(['inspect', '-f', '{{.Id}}', 'hostile'])).stdout.trim();
    // Nothing of it but the guards that keep it (no egress) from reaching published ports via the
    // host, and the drop log's line that reports its unopened port (it accepts nothing).
    const mine = ownRules(await saveClean(h.host)).filter((l) => l.includes(id.slice(0, 12)));
    expect(mine.filter((l) => !l.endsWith('-j RETURN') && !/ -j NFLOG /.test(l))).toEqual([]);
    expect(mine.filter((l) => / -j NFLOG /.test(l)).every((l) => l.includes('"dockgate:not-labelled:'))).toBe(true);
    const status = await runCli(h, ['status', '--json', '--config', configFile]);
    const parsed = JSON.parse(status.stdout) as { containers: Array<{ name: string; errors: unknown[] }>; inSync: boolean };
    expect(parsed.containers.find((c) => c.name === 'hostile')?.errors.length).toBeGreaterThan(0);
  });

  it('plan prints exactly what is in the kernel; status says in sync', async () => {
    const plan = await runCli(h, ['plan', '--config', configFile]);
    expect(plan.exitCode).toBe(0);
    // The IPv4 half: the IPv6 one follows under '# ip6tables (IPv6)'.
    const planned = plan.stdout.split('# ip6tables (IPv6)')[0]!.split('\n').filter((l) => l.startsWith('-A DOCKGATE'));
    const kernel = ownRules(await saveClean(h.host)).filter((l) => l.startsWith('-A DOCKGATE'));
    expect([...planned].sort()).toEqual([...kernel].sort());
    const status = await runCli(h, ['status', '--config', configFile]);
    expect(status.stdout).toContain('in sync');
    expect(status.exitCode).toBe(0);
  });

  it('SIGTERM stops within 2 s and leaves the rules; a restart changes nothing', async () => {
    const before = await saveClean(h.host);
    const stopped = await daemon.stop('SIGTERM');
    expect(stopped.code).toBe(0);
    expect(stopped.ms).toBeLessThan(2_000);
    expect(await saveClean(h.host)).toBe(before);
    expect((await httpGet(h.outside, url(8000))).ok).toBe(true);
    daemon = await startDockgate();
    const ready = daemon.lines.find((l) => (l as Record<string, unknown>).event === 'ready') as Record<string, unknown>;
    expect(ready.kind).toBe('none');
    expect(await saveClean(h.host)).toBe(before);
  });

  it('SIGHUP: a bad config is rejected and the old one stays; a good one is applied', async () => {
    const before = await saveClean(h.host);
    await writeFile(configFile, 'log_level: debug\nsync:\n  debounce_ms: 10\ndefaults:\n  mode: nat\n');
    process.kill(daemon.pid, 'SIGHUP');
    const rejected = await daemon.waitForLog((l) => l.event === 'reload-rejected', 3_000);
    expect(String(rejected.err)).toContain('defaults.mode');
    expect(await saveClean(h.host)).toBe(before);
    expect((await httpGet(h.outside, url(8000))).ok).toBe(true);
    // Only 192.0.2.0/24 by default now: web (no from label) closes to our client.
    await writeFile(configFile, 'log_level: debug\nsync:\n  debounce_ms: 10\ndefaults:\n  from: ["192.0.2.0/24"]\n');
    process.kill(daemon.pid, 'SIGHUP');
    await daemon.waitForLog((l) => l.event === 'reloaded', 3_000);
    await waitFor('web closed by the new default', async () => (!(await httpGet(h.outside, url(8000), 800)).ok ? true : undefined), 4_000);
    await writeFile(configFile, 'log_level: debug\nsync:\n  debounce_ms: 10\n');
    process.kill(daemon.pid, 'SIGHUP');
    await waitFor('web open again', async () => ((await httpGet(h.outside, url(8000))).ok ? true : undefined), 4_000);
  });

  it('Docker unreachable at start-up: a clear message and retries with backoff, no crash', async () => {
    const lost = await startDaemon(h, ['run', '--config', configFile], { DOCKER_HOST: `unix://${h.tmpDir}/nothing-here.sock` });
    const first = await lost.waitForLog((l) => l.event === 'docker-unreachable', 5_000);
    expect(String(first.msg)).toContain('cannot reach Docker at unix://');
    await lost.waitForLog((l) => l.event === 'docker-unreachable' && Number(l.attempt) >= 3, 5_000);
    const delays = lost.lines
      .filter((l): l is Record<string, unknown> => typeof l === 'object' && l !== null && (l as Record<string, unknown>).event === 'docker-unreachable')
      .map((l) => Number(l.retryInMs));
    expect(delays[2]).toBeGreaterThan(delays[0]!);
    const stopped = await lost.stop('SIGTERM');
    expect(stopped.code).toBe(0);
  });

  it('a bad config file stops start-up with exit 2 and names the key', async () => {
    const bad = `${h.tmpDir}/bad.yaml`;
    await writeFile(bad, 'sync:\n  debounce: 5\n');
    const r = await runCli(h, ['run', '--config', bad]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('sync.debounce');
  });

  it('a DROP in DOCKGATE-USER closes a labelled port, and survives drift repair and a restart', async () => {
    const ban = ['-s', `${OUTSIDE_IP}/32`, '-j', 'DROP'];
    await waitFor('web reachable', async () => ((await httpGet(h.outside, url(8000))).ok ? true : undefined), 3_000);
    await h.host.exec('iptables', ['-w', '-I', 'DOCKGATE-USER', ...ban]);
    expect((await httpGet(h.outside, url(8000), 1500)).ok).toBe(false);
    // Someone flushes dockgate's INPUT chain: the repair puts it back, and the ban stays first.
    await h.host.exec('iptables', ['-w', '-F', 'DOCKGATE-INPUT']);
    await daemon.waitForLog((l) => l.event === 'drift-repaired' && l.chain === 'DOCKGATE-INPUT', 10_000);
    expect((await h.host.exec('iptables', ['-w', '-S', 'DOCKGATE-USER'])).stdout).toContain(`-A DOCKGATE-USER -s ${OUTSIDE_IP}/32 -j DROP`);
    expect((await httpGet(h.outside, url(8000), 1500)).ok).toBe(false);
    await daemon.stop('SIGTERM');
    daemon = await startDockgate();
    expect((await h.host.exec('iptables', ['-w', '-S', 'DOCKGATE-USER'])).stdout).toContain(`-A DOCKGATE-USER -s ${OUTSIDE_IP}/32 -j DROP`);
    expect((await httpGet(h.outside, url(8000), 1500)).ok).toBe(false);
    await h.host.exec('iptables', ['-w', '-D', 'DOCKGATE-USER', ...ban]);
    await waitFor('web reachable again', async () => ((await httpGet(h.outside, url(8000))).ok ? true : undefined), 3_000);
  });

  it('flush keeps DOCKGATE-USER and its rules; flush --user-chain leaves the firewall exactly as before dockgate ran', async () => {
    await daemon.stop('SIGTERM');
    await h.host.exec('iptables', ['-w', '-A', 'DOCKGATE-USER', '-s', '203.0.113.9/32', '-j', 'DROP']);
    const r = await runCli(h, ['flush']);
    expect(r.exitCode).toBe(0);
    const kept = await saveClean(h.host);
    expect(kept).toContain('-A DOCKGATE-USER -s 203.0.113.9/32 -j DROP');
    expect(ownRules(kept).filter((l) => !l.includes('DOCKGATE-USER'))).toEqual([]);
    const all = await runCli(h, ['flush', '--user-chain']);
    expect(all.exitCode).toBe(0);
    expect(await saveClean(h.host)).toBe(pristine);
  });
});
