// `dockgate install` / `uninstall` as an admin runs them (the built CLI), into a temporary root;
// `--flush-docker-chains` against the firewall of a network namespace this test makes.
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseSave } from '../../src/plan/kernel-state.js';
import { type Netns, cleanupLeftovers, createNetns, destroyNetns, sbinPath } from '../support/netns.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const REPO = fileURLToPath(new URL('../../', import.meta.url));

let base: string;
let root: string;
let n = 0;

async function cli(args: string[], netns?: string): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  if (!existsSync(CLI)) throw new Error(`${CLI} missing: run \`npm run build\` first`);
  const argv = [process.execPath, CLI, ...args];
  const [cmd, rest] = netns ? ['nsenter', [`--net=${netns}`, ...argv]] : [argv[0]!, argv.slice(1)];
  const r = await execa(cmd, rest, { reject: false, timeout: 60_000, env: { PATH: sbinPath() }, input: '' });
  return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
}

/** Every entry under dir: type, mode, and content (or link target), sorted by path. */
async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(dir, rel))).sort()) {
      const p = rel ? `${rel}/${name}` : name;
      const s = await lstat(join(dir, p));
      const mode = (s.mode & 0o7777).toString(8);
      if (s.isDirectory()) {
        out.push(`d ${mode} ${p}`);
        await walk(p);
      } else if (s.isSymbolicLink()) {
        out.push(`l ${p} -> ${await readlink(join(dir, p))}`);
      } else {
        out.push(`f ${mode} ${p} ${JSON.stringify(await readFile(join(dir, p), 'utf8'))}`);
      }
    }
  };
  await walk('');
  return out;
}

async function put(path: string, text: string): Promise<void> {
  await mkdir(join(root, path, '..'), { recursive: true });
  await writeFile(join(root, path), text);
}

const DAEMON = 'etc/docker/daemon.json';
const read = (path: string) => readFile(join(root, path), 'utf8');

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'dockgate-install-'));
});

beforeEach(async () => {
  root = join(base, `root${++n}`);
  await mkdir(join(root, 'etc'), { recursive: true });
});

afterAll(async () => {
  if (base) await rm(base, { recursive: true, force: true });
});

describe('dockgate install / uninstall into a temp root', () => {
  it('merges the Docker settings into daemon.json, keeping every other key as it was written', async () => {
    const original = '{\n    "log-driver": "journald",\n    "log-opts": { "tag": "{{.Name}}" },\n    "iptables": true,\n    "bip": "10.200.0.1/24"\n}\n';
    await put(DAEMON, original);
    const r = await cli(['install', '--root', root]);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const merged = await read(DAEMON);
    expect(merged).toBe('{\n    "log-driver": "journald",\n    "log-opts": { "tag": "{{.Name}}" },\n    "iptables": false,\n    "bip": "10.200.0.1/24",\n    "ip6tables": false,\n    "ip-forward": false\n}\n');
    expect(JSON.parse(merged)).not.toHaveProperty('userland-proxy');
    expect(r.stdout).toContain('updated /etc/docker/daemon.json: "iptables": false (was true), "ip6tables": false (was absent), "ip-forward": false (was absent)');
    expect(r.stdout).toContain('systemctl daemon-reload');
    expect(r.stdout).toContain('systemctl restart docker');
    expect(r.stdout).toContain('systemctl enable --now dockgate');
    expect(r.stdout).toContain('dockgate install --flush-docker-chains');

    const unit = await read('etc/systemd/system/dockgate.service');
    expect(unit).toContain(`ExecStart=${process.execPath} --max-semi-space-size=1 --no-concurrent-recompilation ${CLI} run --config /etc/dockgate/config.yaml`);
    expect(unit).toContain('Type=notify');
    expect(await read('etc/dockgate/config.yaml')).toBe(await readFile(join(REPO, 'config/config.yaml'), 'utf8'));
    const state = JSON.parse(await read('var/lib/dockgate/install-state.json')) as { daemonJson: { changes: unknown[] } };
    expect(state.daemonJson.changes).toEqual([
      { key: 'iptables', previous: 'true', next: 'false' },
      { key: 'ip6tables', previous: null, next: 'false' },
      { key: 'ip-forward', previous: null, next: 'false' },
    ]);
  });

  it('the installed unit checks the config with the same node and script before the HUP, and that command runs', async () => {
    const r = await cli(['install', '--root', root]);
    expect(r.exitCode).toBe(0);
    const unit = (await read('etc/systemd/system/dockgate.service')).split('\n');
    const reload = unit.filter((l) => l.startsWith('ExecReload='));
    // systemd runs these in order and stops at the first failure: the check must come first.
    expect(reload).toEqual([
      `ExecReload=${process.execPath} --max-semi-space-size=1 --no-concurrent-recompilation ${CLI} check-config --log-json --config /etc/dockgate/config.yaml`,
      'ExecReload=/bin/kill -HUP $MAINPID',
    ]);
    // The line as systemd would run it, pointed at the config install wrote.
    const [node, ...args] = reload[0]!.slice('ExecReload='.length).split(' ');
    const config = join(root, 'etc/dockgate/config.yaml');
    const check = await execa(node!, args.map((a) => (a === '/etc/dockgate/config.yaml' ? config : a)), { reject: false, input: '' });
    expect(check.exitCode).toBe(0);
    expect(JSON.parse(check.stdout)).toMatchObject({ event: 'config-checked', file: config });
    await writeFile(config, 'defaults:\n  mode: tunnel\n');
    const bad = await execa(node!, args.map((a) => (a === '/etc/dockgate/config.yaml' ? config : a)), { reject: false, input: '' });
    expect(bad.exitCode).toBe(2);
    expect(JSON.parse(bad.stdout)).toMatchObject({ event: 'reload-rejected', key: 'defaults.mode' });
  });

  it('refuses a malformed daemon.json, naming file and position, and writes nothing at all', async () => {
    await put(DAEMON, '{\n  "log-driver": "journald",\n  "iptables": true,\n}\n');
    const before = await tree(root);
    const r = await cli(['install', '--root', root]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`${root}/etc/docker/daemon.json: invalid JSON at line 4, column 1: trailing comma before "}"`);
    expect(r.stderr).toContain('nothing was changed');
    expect(r.stdout).toBe('');
    expect(await tree(root)).toEqual(before);
  });

  it('uninstall leaves the tree exactly as it was before install', async () => {
    await put(DAEMON, '{"debug":true,"ip-forward":true}');
    await put('etc/systemd/system/other.service', '[Service]\nExecStart=/bin/true\n');
    await mkdir(join(root, 'var/lib'), { recursive: true });
    const before = await tree(root);
    expect((await cli(['install', '--root', root])).exitCode).toBe(0);
    expect(await tree(root)).not.toEqual(before);
    const r = await cli(['uninstall', '--root', root]);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('restored /etc/docker/daemon.json as it was before install');
    expect(await tree(root)).toEqual(before);
  });

  it('uninstall on a bare root removes every file and directory install made', async () => {
    const before = await tree(root);
    expect((await cli(['install', '--root', root])).exitCode).toBe(0);
    expect(JSON.parse(await read(DAEMON))).toEqual({ iptables: false, ip6tables: false, 'ip-forward': false });
    expect((await cli(['uninstall', '--root', root])).exitCode).toBe(0);
    expect(await tree(root)).toEqual(before);
  });

  it('install twice is idempotent', async () => {
    await put(DAEMON, '{\n  "debug": true\n}\n');
    expect((await cli(['install', '--root', root])).exitCode).toBe(0);
    const once = await tree(root);
    const r = await cli(['install', '--root', root]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('nothing to change: already installed');
    expect(r.stdout).not.toContain('systemctl restart docker');
    expect(await tree(root)).toEqual(once);
    // and one uninstall still undoes it all
    expect((await cli(['uninstall', '--root', root])).exitCode).toBe(0);
    expect(await read(DAEMON)).toBe('{\n  "debug": true\n}\n');
  });

  it('with defaults.mode dnat in the config, also sets userland-proxy false (and keeps that config)', async () => {
    const config = 'defaults:\n  mode: dnat\n';
    await put('etc/dockgate/config.yaml', config);
    const r = await cli(['install', '--root', root]);
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(await read(DAEMON))).toEqual({ iptables: false, ip6tables: false, 'ip-forward': false, 'userland-proxy': false });
    expect(await read('etc/dockgate/config.yaml')).toBe(config);
    expect(r.stdout).toContain('kept /etc/dockgate/config.yaml (exists; defaults.mode is dnat)');
  });

  it('uninstall keeps a config the admin edited, and says so', async () => {
    expect((await cli(['install', '--root', root])).exitCode).toBe(0);
    await writeFile(join(root, 'etc/dockgate/config.yaml'), 'external_interfaces: [eth0]\n');
    const r = await cli(['uninstall', '--root', root]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('kept /etc/dockgate/config.yaml: edited since install');
    expect(r.stdout).toContain('kept /etc/dockgate: not empty');
    expect(await read('etc/dockgate/config.yaml')).toBe('external_interfaces: [eth0]\n');
    expect(existsSync(join(root, 'etc/systemd/system/dockgate.service'))).toBe(false);
  });

  it.skipIf(!existsSync('/usr/bin/setpriv'))('run without root privileges, fails before writing anything', async () => {
    await put(DAEMON, '{}\n');
    await chmod(base, 0o755); // mkdtemp's 0700 would hide the root from the unprivileged user entirely
    const before = await tree(root);
    const r = await execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, 'install', '--root', root], {
      reject: false,
      timeout: 60_000,
    });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/cannot write in .* \(run it as root\); nothing was changed/);
    expect(await tree(root)).toEqual(before);
  });

  it('uninstall without an install record is an error that changes nothing', async () => {
    const before = await tree(root);
    const r = await cli(['uninstall', '--root', root]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/nothing to uninstall: no install record at .*\/var\/lib\/dockgate\/install-state\.json/);
    expect(await tree(root)).toEqual(before);
  });
});

describe('dockgate install --flush-docker-chains, in a network namespace', () => {
  let ns: Netns | undefined;

  beforeAll(async () => {
    await cleanupLeftovers();
    ns = await createNetns('inst');
    // What dockerd 20.10 leaves, dockgate's own jump, and an admin's rules: only Docker's chains
    // and the jumps into them may go.
    await ns.exec('iptables-restore', ['--noflush'], {
      input: [
        '*nat',
        ':DOCKER - [0:0]',
        '-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER',
        '-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER',
        '-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE',
        '-A DOCKER -i docker0 -j RETURN',
        'COMMIT',
        '*filter',
        ':DOCKER - [0:0]',
        ':DOCKER-USER - [0:0]',
        ':DOCKER-ISOLATION-STAGE-1 - [0:0]',
        ':DOCKER-ISOLATION-STAGE-2 - [0:0]',
        ':DOCKER-ADMIN - [0:0]',
        ':DOCKGATE-INPUT - [0:0]',
        '-A INPUT -m comment --comment dockgate -j DOCKGATE-INPUT',
        '-A INPUT -i lo -j ACCEPT',
        '-A FORWARD -j DOCKER-USER',
        '-A FORWARD -j DOCKER-ISOLATION-STAGE-1',
        '-A FORWARD -o docker0 -j DOCKER',
        '-A FORWARD -m comment --comment "admin: not -j DOCKER" -j ACCEPT',
        '-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2',
        '-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP',
        '-A DOCKER-USER -j RETURN',
        '-A DOCKER-ADMIN -j RETURN',
        'COMMIT',
        '',
      ].join('\n'),
    });
  });

  afterAll(async () => {
    if (ns) await destroyNetns(ns);
  });

  it("removes Docker's chains and the jumps to them, and nothing else", async () => {
    const r = await cli(['install', '--root', root, '--flush-docker-chains'], ns!.path);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const removed = /removed Docker's chains (.*)/.exec(r.stdout)?.[1]?.split(', ').sort();
    expect(removed).toEqual(['filter/DOCKER', 'filter/DOCKER-ISOLATION-STAGE-1', 'filter/DOCKER-ISOLATION-STAGE-2', 'filter/DOCKER-USER', 'nat/DOCKER']);
    expect(r.stdout).not.toContain('install --flush-docker-chains   #');

    const state = parseSave((await ns!.exec('iptables-save', [])).stdout);
    const filter = state.get('filter')!;
    const nat = state.get('nat')!;
    expect([...filter.chains.keys()].sort()).toEqual(['DOCKER-ADMIN', 'DOCKGATE-INPUT', 'FORWARD', 'INPUT', 'OUTPUT']);
    expect([...nat.chains.keys()].sort()).toEqual(['INPUT', 'OUTPUT', 'POSTROUTING', 'PREROUTING']);
    expect(filter.chains.get('INPUT')).toEqual(['-m comment --comment dockgate -j DOCKGATE-INPUT', '-i lo -j ACCEPT']);
    expect(filter.chains.get('FORWARD')).toEqual(['-m comment --comment "admin: not -j DOCKER" -j ACCEPT']);
    expect(filter.chains.get('DOCKER-ADMIN')).toEqual(['-j RETURN']);
    expect(nat.chains.get('POSTROUTING')).toEqual(['-s 172.17.0.0/16 ! -o docker0 -j MASQUERADE']);
    expect(nat.chains.get('PREROUTING')).toEqual([]);

    const again = await cli(['install', '--root', root, '--flush-docker-chains'], ns!.path);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain('no Docker chains in the firewall');
  });
});

// Docker 28's leftovers (DOCKER-FORWARD/-CT/-BRIDGE, raw direct-access drops), Docker 29's
// DOCKER-INTERNAL, dockgate's own chains and an admin's rules, some shaped like Docker's.
const DOCKER28_HOST = [
  '*raw',
  ':DOCKGATE-RAW - [0:0]',
  '-A PREROUTING -m comment --comment dockgate -j DOCKGATE-RAW',
  '-A PREROUTING -d 10.0.0.5/32 ! -i eth0 -j DROP',
  '-A PREROUTING -d 172.17.0.2/32 ! -i docker0 -j DROP',
  '-A PREROUTING -d 127.0.0.1/32 ! -i lo -p tcp -m tcp --dport 5432 -j DROP',
  '-A PREROUTING -d 172.18.0.2/32 ! -i br-5f3c1a2b4d6e -p tcp -m tcp --dport 80 -j DROP',
  '-A PREROUTING -d 172.19.0.2/32 -i vpn0 -j ACCEPT',
  '-A PREROUTING -d 172.19.0.2/32 ! -i dmz0 -j DROP',
  '-A DOCKGATE-RAW -d 172.17.0.0/16 ! -i docker0 -m comment --comment "dockgate no direct access to bridge" -j DROP',
  'COMMIT',
  '*nat',
  ':DOCKER - [0:0]',
  '-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER',
  '-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER',
  '-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE',
  '-A DOCKER -i docker0 -j RETURN',
  '-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80',
  'COMMIT',
  '*filter',
  ':DOCKER - [0:0]',
  ':DOCKER-BRIDGE - [0:0]',
  ':DOCKER-CT - [0:0]',
  ':DOCKER-FORWARD - [0:0]',
  ':DOCKER-INTERNAL - [0:0]',
  ':DOCKER-ISOLATION-STAGE-1 - [0:0]',
  ':DOCKER-ISOLATION-STAGE-2 - [0:0]',
  ':DOCKER-USER - [0:0]',
  ':DOCKER-ADMIN - [0:0]',
  ':DOCKGATE-INPUT - [0:0]',
  ':DOCKGATE-USER - [0:0]',
  '-A INPUT -m comment --comment dockgate -j DOCKGATE-INPUT',
  '-A INPUT -i lo -j ACCEPT',
  '-A INPUT -j DOCKER-ADMIN',
  '-A FORWARD -j DOCKER-USER',
  '-A FORWARD -j DOCKER-FORWARD',
  '-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT',
  '-A DOCKER ! -i docker0 -o docker0 -j DROP',
  '-A DOCKER ! -i dmz0 -o dmz0 -j DROP',
  '-A DOCKER-BRIDGE -o docker0 -j DOCKER',
  '-A DOCKER-BRIDGE -o dmz0 -j DOCKER',
  '-A DOCKER-CT -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
  '-A DOCKER-FORWARD -j DOCKER-CT',
  '-A DOCKER-FORWARD -j DOCKER-INTERNAL',
  '-A DOCKER-FORWARD -j DOCKER-ISOLATION-STAGE-1',
  '-A DOCKER-FORWARD -j DOCKER-BRIDGE',
  '-A DOCKER-FORWARD -i docker0 -j ACCEPT',
  '-A DOCKER-INTERNAL ! -s 192.168.1.0/24 -o br-99aa88bb77cc -j DROP',
  '-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2',
  '-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP',
  '-A DOCKER-ADMIN -s 198.51.100.7/32 -j DROP',
  'COMMIT',
  '',
];
const ADMIN_DOCKER_USER = ['-s 203.0.113.0/24 -j DROP', '-i eth0 -p tcp -m tcp --dport 3306 -j DROP'];

/** iptables-save without its timestamped comment lines. */
async function saved(ns: Netns): Promise<string> {
  return (await ns.exec('iptables-save', [])).stdout.split('\n').filter((l) => !l.startsWith('#')).join('\n');
}

function expectOnlyDockersGone(text: string): void {
  const state = parseSave(text);
  const raw = state.get('raw')!;
  const filter = state.get('filter')!;
  const nat = state.get('nat')!;
  expect(raw.chains.get('PREROUTING')).toEqual([
    '-m comment --comment dockgate -j DOCKGATE-RAW',
    '-d 10.0.0.5/32 ! -i eth0 -j DROP',
    '-d 127.0.0.1/32 ! -i lo -p tcp -m tcp --dport 5432 -j DROP',
  ]);
  expect(raw.chains.get('DOCKGATE-RAW')).toHaveLength(1);
  expect([...filter.chains.keys()].sort()).toEqual(['DOCKER-ADMIN', 'DOCKGATE-INPUT', 'DOCKGATE-USER', 'FORWARD', 'INPUT', 'OUTPUT']);
  expect(filter.chains.get('INPUT')).toEqual(['-m comment --comment dockgate -j DOCKGATE-INPUT', '-i lo -j ACCEPT', '-j DOCKER-ADMIN']);
  expect(filter.chains.get('FORWARD')).toEqual([]);
  expect(filter.chains.get('DOCKER-ADMIN')).toEqual(['-s 198.51.100.7/32 -j DROP']);
  expect([...nat.chains.keys()].sort()).toEqual(['INPUT', 'OUTPUT', 'POSTROUTING', 'PREROUTING']);
  expect(nat.chains.get('POSTROUTING')).toEqual(['-s 172.17.0.0/16 ! -o docker0 -j MASQUERADE']);
}

describe('dockgate install --flush-docker-chains, Docker 28 leftovers, in a network namespace', () => {
  let ns: Netns | undefined;

  beforeAll(async () => {
    await cleanupLeftovers();
    ns = await createNetns('inst28');
  });

  beforeEach(async () => {
    // Each case starts from the same leftovers.
    for (const t of ['raw', 'nat', 'filter']) {
      await ns!.exec('iptables', ['-t', t, '-F']);
      await ns!.exec('iptables', ['-t', t, '-X']);
    }
    await ns!.exec('iptables-restore', ['--noflush'], { input: DOCKER28_HOST.join('\n') });
  });

  afterAll(async () => {
    if (ns) await destroyNetns(ns);
  });

  it("removes Docker 28's chains, DOCKER-INTERNAL and its raw direct-access rules, and nothing else", async () => {
    const r = await cli(['install', '--root', root, '--flush-docker-chains'], ns!.path);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const removed = /removed Docker's chains (.*)/.exec(r.stdout)?.[1]?.split(', ').sort();
    expect(removed).toEqual([
      'filter/DOCKER', 'filter/DOCKER-BRIDGE', 'filter/DOCKER-CT', 'filter/DOCKER-FORWARD', 'filter/DOCKER-INTERNAL',
      'filter/DOCKER-ISOLATION-STAGE-1', 'filter/DOCKER-ISOLATION-STAGE-2', 'filter/DOCKER-USER', 'nat/DOCKER',
    ]);
    expect(r.stdout).toContain('removed raw/PREROUTING rule: -d 172.17.0.2/32 ! -i docker0 -j DROP');
    expect(r.stdout).toContain('removed raw/PREROUTING rule: -d 172.19.0.2/32 -i vpn0 -j ACCEPT');
    expectOnlyDockersGone(await saved(ns!));

    const again = await cli(['install', '--root', root, '--flush-docker-chains'], ns!.path);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain('no Docker chains in the firewall');
  });

  it("refuses when DOCKER-USER holds the admin's rules: names them, changes no rule and no file", async () => {
    await ns!.exec('iptables-restore', ['--noflush'], {
      input: ['*filter', ...ADMIN_DOCKER_USER.map((l) => `-A DOCKER-USER ${l}`), 'COMMIT', ''].join('\n'),
    });
    const firewall = await saved(ns!);
    const files = await tree(root);
    const r = await cli(['install', '--root', root, '--flush-docker-chains'], ns!.path);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('DOCKER-USER');
    for (const l of ADMIN_DOCKER_USER) expect(r.stderr).toContain(`filter/DOCKER-USER: ${l}`);
    expect(r.stderr).toContain('--force');
    expect(r.stderr).toContain('nothing was changed');
    expect(await saved(ns!)).toBe(firewall);
    expect(await tree(root)).toEqual(files);
  });

  it('with --force removes the admin\'s DOCKER-USER rules too, saying so', async () => {
    await ns!.exec('iptables-restore', ['--noflush'], {
      input: ['*filter', ...ADMIN_DOCKER_USER.map((l) => `-A DOCKER-USER ${l}`), 'COMMIT', ''].join('\n'),
    });
    const r = await cli(['install', '--root', root, '--flush-docker-chains', '--force'], ns!.path);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    for (const l of ADMIN_DOCKER_USER) expect(r.stdout).toContain(`removed filter/DOCKER-USER rule (--force): ${l}`);
    expectOnlyDockersGone(await saved(ns!));
  });

  it('--force without --flush-docker-chains is a usage error that changes nothing', async () => {
    const files = await tree(root);
    const r = await cli(['install', '--root', root, '--force'], ns!.path);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('--force only applies with --flush-docker-chains');
    expect(await tree(root)).toEqual(files);
  });
});
