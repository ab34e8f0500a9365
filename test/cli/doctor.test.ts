// `dockgate doctor` on real kernels: network namespaces this test builds to have each bad
// condition (and then repairs), plus a real dockerd in a namespace for the Docker and swarm
// checks. Nothing here touches the machine's own namespace: every probe runs through a
// CommandQueue bound to a test namespace, or the CLI runs under `nsenter --net`.
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { runDoctor } from '../../src/cli/doctor.js';
import { CommandQueue } from '../../src/dataplane/command-queue.js';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { Iptables } from '../../src/dataplane/iptables.js';
import type { CheckResult } from '../../src/doctor/check-result.js';
import { buildRuleSet } from '../../src/plan/ruleset.js';
import { type DockerHost, HOST_IP, startDockerHost, stopAll } from '../e2e/harness.js';
import { type Netns, cleanupLeftovers, createNetns, destroyNetns, sbinPath } from '../support/netns.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

function check(results: CheckResult[], name: string): CheckResult {
  const r = results.find((x) => x.name === name);
  if (!r) throw new Error(`no check ${name}; got ${results.map((x) => `${x.status} ${x.name}`).join(', ')}`);
  return r;
}

let base: string;

beforeAll(async () => {
  await cleanupLeftovers();
  base = await mkdtemp(join(tmpdir(), 'dockgate-doctor-'));
});

afterAll(async () => {
  await stopAll();
  if (base) await rm(base, { recursive: true, force: true });
});

describe('doctor in a namespace built to be wrong', () => {
  let ns: Netns | undefined;
  let queue: CommandQueue;
  let root: string;
  let configFile: string;
  let config: Config;
  const noDocker = () => `unix://${base}/no-docker.sock`;

  beforeAll(async () => {
    ns = await createNetns('doc');
    queue = new CommandQueue({ netns: ns.path });
    root = join(base, 'root');
    await mkdir(join(root, 'etc/docker'), { recursive: true });
    configFile = join(base, 'config.yaml');
    const configText = `external_interfaces: [ext0, nope0]\ndocker:\n  host: "${noDocker()}"\n`;
    await writeFile(configFile, configText);
    config = parseConfig(configText, configFile);

    // Docker's rules still in the firewall; FORWARD left at ACCEPT (the default); only one of
    // dockgate's jumps; forwarding on for everything, but off on the external interface.
    await ns.exec('iptables', ['-t', 'nat', '-N', 'DOCKER']);
    await ns.exec('iptables', ['-t', 'nat', '-A', 'DOCKER', '-i', 'docker0', '-j', 'RETURN']);
    await ns.exec('iptables', ['-N', 'DOCKGATE-INPUT']);
    await ns.exec('iptables', ['-I', 'INPUT', '-m', 'comment', '--comment', 'dockgate', '-j', 'DOCKGATE-INPUT']);
    await ns.exec('sysctl', ['-q', '-w', 'net.ipv4.conf.all.forwarding=1']);
    await ns.exec('ip', ['link', 'add', 'ext0', 'type', 'veth', 'peer', 'name', 'ext0p']);
    await ns.exec('sysctl', ['-q', '-w', 'net.ipv4.conf.ext0.forwarding=0']);
    // dockgate's chain in the other (legacy) backend as well
    await ns.exec('iptables-legacy', ['-N', 'DOCKGATE-INPUT']);
  });

  afterAll(async () => {
    if (ns) await destroyNetns(ns);
  });

  const doctor = () => runDoctor({ config, queue, root, dockerTimeoutMs: 2000 });

  it('reports every bad condition', async () => {
    await writeFile(join(root, 'etc/docker/daemon.json'), '{\n  "iptables": true,\n  "ip-forward": true\n}\n');
    const r = await doctor();
    expect(check(r, 'iptables')).toMatchObject({ status: 'ok', detail: expect.stringMatching(/backend nf_tables/) });
    expect(check(r, 'iptables-backends')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/legacy backend holds filter\/DOCKGATE-INPUT/) });
    expect(check(r, 'docker')).toMatchObject({ status: 'fail', detail: expect.stringContaining(`cannot reach Docker at ${noDocker()}`) });
    expect(check(r, 'swarm').status).toBe('warn');
    expect(check(r, 'docker-iptables')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/Docker manages iptables itself \(.*daemon\.json\)/) });
    expect(check(r, 'docker-ip-forward').status).toBe('warn');
    expect(check(r, 'docker-chains')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/nat\/DOCKER \(1 rule\)/) });
    expect(check(r, 'forwarding')).toMatchObject({ status: 'warn', detail: expect.stringMatching(/all\.forwarding=1/) });
    expect(check(r, 'forwarding:ext0')).toMatchObject({ status: 'warn', detail: expect.stringMatching(/ext0\.forwarding=0/) });
    expect(check(r, 'forwarding:nope0')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/nope0 .* does not exist/) });
    expect(check(r, 'forward-policy')).toMatchObject({ status: 'warn', detail: expect.stringMatching(/ACCEPT and net\.ipv4\.conf\.all\.forwarding=1: this host routes between all its interfaces/) });
    expect(check(r, 'jumps')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/missing filter\/FORWARD -> DOCKGATE-FORWARD/) });
  });

  it('reports a malformed daemon.json with its position', async () => {
    await writeFile(join(root, 'etc/docker/daemon.json'), '{\n  "iptables": false,\n}\n');
    const r = await doctor();
    expect(check(r, 'daemon.json')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/invalid JSON at line 3, column 1/) });
  });

  it('the CLI prints one `status  name  detail` line per check and exits 1 (run inside the namespace)', async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} missing: run \`npm run build\` first`);
    const r = await execa('nsenter', [`--net=${ns!.path}`, process.execPath, CLI, 'doctor', '--config', configFile, '--root', root], {
      reject: false,
      timeout: 60_000,
      env: { PATH: sbinPath() },
    });
    expect(r.exitCode).toBe(1);
    const lines = r.stdout.trim().split('\n');
    for (const l of lines) expect(l).toMatch(/^(ok  |warn|fail)  \S+ +\S/);
    expect(lines.some((l) => /^fail  docker-chains +Docker's rules are in the firewall/.test(l))).toBe(true);
    expect(lines.some((l) => /^warn  forward-policy +iptables FORWARD policy is ACCEPT/.test(l))).toBe(true);

    const json = await execa('nsenter', [`--net=${ns!.path}`, process.execPath, CLI, 'doctor', '--json', '--config', configFile, '--root', root], {
      reject: false,
      timeout: 60_000,
      env: { PATH: sbinPath() },
    });
    expect(json.exitCode).toBe(1);
    const parsed = JSON.parse(json.stdout) as { ok: boolean; checks: CheckResult[] };
    expect(parsed.ok).toBe(false);
    expect(parsed.checks.length).toBe(lines.length);
  });

  it('turns those checks ok once the namespace is repaired', async () => {
    await writeFile(join(root, 'etc/docker/daemon.json'), '{"iptables": false, "ip6tables": false, "ip-forward": false}\n');
    await ns!.exec('iptables', ['-t', 'nat', '-F', 'DOCKER']);
    await ns!.exec('iptables', ['-t', 'nat', '-X', 'DOCKER']);
    await ns!.exec('iptables', ['-P', 'FORWARD', 'DROP']);
    await ns!.exec('iptables-legacy', ['-X', 'DOCKGATE-INPUT']);
    await ns!.exec('sysctl', ['-q', '-w', 'net.ipv4.conf.all.forwarding=0']);
    await ns!.exec('sysctl', ['-q', '-w', 'net.ipv4.conf.ext0.forwarding=1']);
    // dockgate's own chains and jumps, written the way the daemon writes them
    const plan = buildRuleSet({ labelPrefix: 'dockgate', defaults: config.defaults, containers: [], networks: [] });
    await new Dataplane(new Iptables(queue, config.iptables)).sync(plan);

    const r = await doctor();
    for (const name of ['iptables', 'iptables-backends', 'daemon.json', 'docker-iptables', 'docker-ip-forward', 'docker-chains', 'forwarding', 'forwarding:ext0', 'forward-policy', 'jumps']) {
      expect(check(r, name), name).toMatchObject({ status: 'ok' });
    }
    expect(check(r, 'forwarding:nope0').status).toBe('fail');
  });
});

const HAVE_DOCKERD = ['/usr/sbin/dockerd', '/usr/bin/dockerd'].some((p) => existsSync(p));

describe.skipIf(!HAVE_DOCKERD)('doctor against a real dockerd in a namespace', () => {
  let h: DockerHost | undefined;
  let queue: CommandQueue;
  let config: Config;

  beforeAll(async () => {
    // Docker's default ip-forward: dockerd turns on forwarding for the whole namespace.
    h = await startDockerHost();
    queue = new CommandQueue({ netns: h.host.path });
    config = parseConfig(`docker:\n  host: "${h.dockerHost}"\n`, 'test config');
  });

  afterAll(async () => {
    await h?.stop();
  });

  const doctor = () => runDoctor({ config, queue, root: '/', dockerTimeoutMs: 10_000 });

  it("reads Docker's version, its flags and its config file, and forwarding as dockerd left it", async () => {
    const r = await doctor();
    const version = (await h!.docker(['version', '--format', '{{.Server.Version}}'])).stdout.trim();
    expect(check(r, 'docker')).toMatchObject({ status: 'ok', detail: `Docker ${version} at ${h!.dockerHost}` });
    expect(check(r, 'swarm')).toMatchObject({ status: 'ok', detail: 'inactive' });
    // the harness runs dockerd with --iptables=false --ip6tables=false and an empty --config-file
    expect(check(r, 'docker-iptables')).toMatchObject({ status: 'ok', detail: 'off (dockerd flag --iptables=false)' });
    expect(check(r, 'docker-ip6tables')).toMatchObject({ status: 'ok', detail: 'off (dockerd flag --ip6tables=false)' });
    expect(check(r, 'daemon.json')).toMatchObject({ status: 'warn', detail: expect.stringContaining(`${h!.tmpDir}/daemon.json: "iptables": false, "ip6tables": false, "ip-forward": false not set`) });
    expect(check(r, 'docker-ip-forward').status).toBe('warn');
    expect(check(r, 'forwarding')).toMatchObject({ status: 'warn', detail: expect.stringMatching(/all\.forwarding=1/) });
    expect(check(r, 'docker-chains').status).toBe('ok');
  });

  it('fails when swarm mode is active, and says why', async () => {
    await h!.docker(['swarm', 'init', '--advertise-addr', HOST_IP], { timeoutMs: 60_000 });
    try {
      const r = await doctor();
      expect(check(r, 'swarm')).toMatchObject({
        status: 'fail',
        detail: expect.stringContaining("swarm is active: swarm needs Docker's own iptables; dockgate refuses to run there"),
      });
    } finally {
      await h!.docker(['swarm', 'leave', '--force'], { reject: false, timeoutMs: 60_000 });
    }
  });
});
