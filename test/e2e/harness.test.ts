// Self-test of the kernel/Docker test harness (test/support/netns.ts, test/e2e/harness.ts).
import { existsSync, readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanupLeftovers,
  createNetns,
  destroyNetns,
  isAlive,
  linkNamespaces,
  listTestNetns,
  mountsUnder,
  type Netns,
} from '../support/netns.js';
import {
  HOST_IP,
  OUTSIDE_IP,
  httpGet,
  runInHost,
  startDockerHost,
  startInHost,
  startReadyDaemon,
  startWebContainer,
  stopAll,
  tcpConnects,
  waitFor,
  type DockerHost,
} from './harness.js';

beforeAll(cleanupLeftovers);
afterAll(stopAll);

describe('netns helpers', () => {
  const made: Netns[] = [];
  afterAll(async () => {
    for (const ns of made) await destroyNetns(ns);
  });

  it('creates, links and destroys namespaces', async () => {
    const a = await createNetns('ta');
    made.push(a);
    const b = await createNetns('tb');
    made.push(b);
    expect(a.name).toMatch(new RegExp(`^dgt-ta-${process.pid}-\\d+$`));
    expect(a.path).toBe(`/var/run/netns/${a.name}`);
    expect(existsSync(a.path)).toBe(true);

    // lo is up, nothing else there
    const lo = await a.exec('ip', ['-o', 'link', 'show', 'lo']);
    expect(lo.stdout).toMatch(/state UNKNOWN|UP/);
    expect((await a.exec('ip', ['-o', 'link'])).stdout.trim().split('\n')).toHaveLength(1);

    const { aIf, bIf } = await linkNamespaces(a, '10.77.0.1/24', b, '10.77.0.2/24');
    expect((await a.exec('ip', ['-o', 'addr', 'show', 'dev', aIf])).stdout).toContain('10.77.0.1/24');
    expect((await b.exec('ip', ['-o', 'addr', 'show', 'dev', bIf])).stdout).toContain('10.77.0.2/24');

    // real traffic between them; a listener in b, connect from a
    const ping = await a.exec('busybox', ['ping', '-c', '1', '-W', '2', '10.77.0.2'], { reject: false, timeoutMs: 5000 });
    expect(ping.exitCode).toBe(0);
    const server = b.exec('busybox', ['nc', '-l', '-p', '7777', '-e', 'echo', 'pong'], { reject: false, timeoutMs: 5000 });
    await waitFor(
      'listener in b',
      async () => (await b.exec('ss', ['-Hltn', 'sport = :7777'])).stdout.includes('7777'),
      3000,
      50,
    );
    const got = await a.exec('timeout', ['3', 'bash', '-c', 'exec 3<>/dev/tcp/10.77.0.2/7777; cat <&3'], { reject: false, timeoutMs: 5000 });
    expect(got).toMatchObject({ exitCode: 0, stdout: 'pong\n' });
    expect((await server).exitCode).toBe(0);

    // exec: reject, exit codes, timeouts
    await expect(a.exec('false', [])).rejects.toThrow(/exit 1/);
    expect((await a.exec('sh', ['-c', 'exit 3'], { reject: false })).exitCode).toBe(3);
    const t0 = Date.now();
    const slow = await a.exec('sleep', ['10'], { reject: false, timeoutMs: 300 });
    expect(slow.exitCode).not.toBe(0);
    expect(Date.now() - t0).toBeLessThan(3000);

    // destroy kills what is still inside, removes the name
    const sleeper = a.exec('sleep', ['30'], { reject: false, timeoutMs: 40_000 });
    await new Promise((r) => setTimeout(r, 200));
    const t1 = Date.now();
    await destroyNetns(a);
    expect((await sleeper).exitCode).not.toBe(0);
    expect(Date.now() - t1).toBeLessThan(5000);
    expect(existsSync(a.path)).toBe(false);
    await destroyNetns(a); // idempotent, never throws
    await destroyNetns(b);
    expect(await listTestNetns()).not.toContain(b.name);
  });
});

describe('docker host', () => {
  let h: DockerHost | undefined;
  afterAll(async () => {
    await h?.stop();
  });

  it('runs dockerd behind the admin firewall, and stop() removes everything', async () => {
    const t0 = Date.now();
    h = await startDockerHost();
    const startMs = Date.now() - t0;
    const dh = h;

    // the admin firewall
    const input = (await dh.host.exec('iptables', ['-w', '-S', 'INPUT'])).stdout;
    expect(input).toContain('-P INPUT DROP');
    expect(input).toContain('-A INPUT -i lo -j ACCEPT');
    expect(input).toContain('-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT');
    // docker's iptables is off: nothing of Docker in the host ns
    expect((await dh.host.exec('iptables-save', [])).stdout).not.toMatch(/DOCKER/);
    expect((await dh.outside.exec('ip', ['-o', 'addr', 'show', 'dev', dh.outsideIf])).stdout).toContain(`${OUTSIDE_IP}/24`);
    // the outside ns has no default route
    expect((await dh.outside.exec('ip', ['route', 'show', 'default'])).stdout.trim()).toBe('');
    expect((await dh.docker(['images', '--format', '{{.Repository}}:{{.Tag}}'])).stdout).toContain('dgbox:latest');

    const id = await startWebContainer(dh, { name: 'web1', ports: [`${HOST_IP}:8000:8000`], labels: { 'dockgate.ports': '8000' } });
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    const labels = (await dh.docker(['inspect', '-f', '{{json .Config.Labels}}', id])).stdout;
    expect(JSON.parse(labels)).toEqual({ 'dockgate.ports': '8000' });

    // the host itself reaches it (lo is accepted)
    expect(await httpGet(dh.host, `http://${HOST_IP}:8000/`)).toEqual({ ok: true, body: 'web1\n' });
    // from outside: dropped by INPUT
    expect(await tcpConnects(dh.outside, HOST_IP, 8000, 1000)).toBe(false);
    expect((await httpGet(dh.outside, `http://${HOST_IP}:8000/`, 1000)).ok).toBe(false);

    // the sysadmin opens the port
    await dh.host.exec('iptables', ['-w', '-I', 'INPUT', '-p', 'tcp', '--dport', '8000', '-j', 'ACCEPT']);
    expect(await tcpConnects(dh.outside, HOST_IP, 8000)).toBe(true);
    expect(await httpGet(dh.outside, `http://${HOST_IP}:8000/`)).toEqual({ ok: true, body: 'web1\n' });
    // a port nobody listens on is refused (from the host itself: lo is accepted), not a false positive
    const t2 = Date.now();
    expect(await tcpConnects(dh.host, HOST_IP, 8001)).toBe(false);
    expect(Date.now() - t2).toBeLessThan(1000);

    // process launchers in the host ns (startDaemon/runCli are these with dist/cli/main.js)
    expect((await runInHost(dh, ['ip', '-o', 'addr'])).stdout).toContain(`${HOST_IP}/24`);
    const script = [
      "const os = require('node:os');",
      'const addrs = Object.values(os.networkInterfaces()).flat().map((a) => a.address);',
      "console.log(JSON.stringify({ level: 30, msg: 'started', dockerHost: process.env.DOCKER_HOST, addrs }));",
      "console.log('not json');",
      "console.error('to stderr');",
      "process.on('SIGTERM', () => { console.log(JSON.stringify({ level: 30, msg: 'bye' })); process.exit(0); });",
      'setInterval(() => {}, 1000);',
    ].join('\n');
    const fake = await startInHost(dh, [process.execPath, '-e', script]);
    const started = await fake.waitForLog((l) => l.msg === 'started', 10_000);
    expect(started.dockerHost).toBe(dh.dockerHost);
    expect(started.addrs).toContain(HOST_IP);
    await waitFor('stderr', async () => fake.stderr.includes('to stderr'), 5000, 50);
    const stopped = await fake.stop();
    expect(stopped.code).toBe(0);
    expect(stopped.ms).toBeLessThan(5000);
    expect(fake.lines).toContain('not json');
    expect(fake.lines.at(-1)).toEqual({ level: 30, msg: 'bye' });
    expect(isAlive(fake.pid)).toBe(false);
    const quick = await startInHost(dh, [process.execPath, '-e', "console.log('{}')"]);
    await expect(quick.waitForLog((l) => l.msg === 'never', 10_000)).rejects.toThrow(/exited \(code 0/);
    const stubborn = await startInHost(dh, [
      process.execPath,
      '-e',
      "process.on('SIGTERM', () => {}); console.log(JSON.stringify({ msg: 'armed' })); setInterval(() => {}, 1000);",
    ]);
    // Only once the handler is installed does SIGTERM prove anything (a busy machine starts node slowly).
    await stubborn.waitForLog((l) => l.msg === 'armed', 10_000);
    const killed = await stubborn.stop();
    expect(killed.signal).toBe('SIGKILL');

    const pid = dh.dockerdPid;
    const tmp = dh.tmpDir;
    const names = [dh.host.name, dh.outside.name];
    expect(isAlive(pid)).toBe(true);
    const t1 = Date.now();
    await dh.stop();
    const stopMs = Date.now() - t1;
    await dh.stop(); // idempotent

    const nsLeft = await listTestNetns();
    for (const n of names) expect(nsLeft).not.toContain(n);
    expect(isAlive(pid)).toBe(false);
    expect(await mountsUnder(tmp)).toEqual([]);
    expect(existsSync(tmp)).toBe(false);
    console.log(`docker host: start ${startMs}ms, stop ${stopMs}ms`);
  });

  it('fails with the dockerd log and leaves nothing behind when dockerd cannot start', async () => {
    const before = await listTestNetns();
    const err: unknown = await startDockerHost({ bip: '300.1.2.3/24', startTimeoutMs: 10_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/dockerd exited[\s\S]*dockerd log/);
    expect(await listTestNetns()).toEqual(before);
  });
});

describe('dockgate run in the harness', () => {
  let h: DockerHost | undefined;
  afterAll(async () => {
    await h?.stop();
  });

  it("keeps its drop log in the test's temp dir; a SIGKILLed daemon's ulogd dir is swept by the next start", async () => {
    h = await startDockerHost();
    const tmp = h.tmpDir;
    const configFile = `${tmp}/config.yaml`;
    await writeFile(configFile, 'log_level: debug\n');
    const ulogdDirs = (): string[] => readdirSync(tmp).filter((n) => n.startsWith('dockgate-ulogd-'));
    const first = await startReadyDaemon(h, configFile);
    expect((await first.waitForLog((l) => l.event === 'drops-listening', 5_000)).socket).toBe(`${tmp}/drops.sock`);
    await first.waitForLog((l) => l.event === 'drop-log-reader', 5_000);
    const left = ulogdDirs();
    expect(left).toHaveLength(1);
    await first.stop('SIGKILL');
    expect(ulogdDirs()).toEqual(left);

    const second = await startReadyDaemon(h, configFile);
    expect((await second.waitForLog((l) => l.event === 'drop-log-swept', 5_000)).dir).toBe(`${tmp}/${left[0]}`);
    await second.waitForLog((l) => l.event === 'drop-log-reader', 5_000);
    expect(ulogdDirs()).not.toContain(left[0]);
    expect(ulogdDirs()).toHaveLength(1);
    await second.stop();
    expect(ulogdDirs()).toEqual([]);
  });
});
