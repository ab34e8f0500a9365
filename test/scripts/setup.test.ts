// scripts/setup on faked machines: `id`, `dpkg-query`, `apt-get` and `systemctl` are stand-ins on
// PATH that record how they were called, and DOCKGATE_SETUP_ROOT points it at a fake /etc, /run and
// /usr/sbin. PATH holds only the stand-ins and a few named tools, so a dockerd on the machine
// running the tests (Docker CE's /usr/bin/dockerd) is not seen. Nothing here needs root or touches
// the machine's packages or services.
import { execa } from 'execa';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const SETUP = join(REPO, 'scripts', 'setup');
const DEMO_PACKAGES = ['iptables', 'nftables', 'docker.io', 'busybox-static', 'curl', 'iproute2', 'conntrack', 'ulogd2', 'ulogd2-json', 'ipset'];
const TEST_ONLY_PACKAGES = ['systemd', 'python3', 'firewalld', 'dbus', 'debootstrap', 'ufw', 'dnsmasq-base'];
const PACKAGES = [...DEMO_PACKAGES, ...TEST_ONLY_PACKAGES];
const installCommand = (packages: string[]) =>
  `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends --no-remove ${packages.join(' ')}`;
const INSTALL_COMMAND = installCommand(PACKAGES);
/** The real tools scripts/setup may use besides the stand-ins. */
const TOOLS = ['bash', 'sh', 'cat', 'chmod', 'dirname', 'mkdir', 'mv', 'rm'];
type Mode = 'demo' | 'test';

const DEBIAN_12 = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n';
const FEDORA = 'NAME="Fedora Linux"\nVERSION_ID=40\nID=fedora\n';
const UBUNTU = 'NAME="Ubuntu"\nVERSION_ID="24.04"\nID=ubuntu\nID_LIKE=debian\n';

let base: string;
let n = 0;

interface Machine {
  dir: string;
  bin: string;
  root: string;
  log: string;
  /** What `dpkg-query -L PKG` prints, one file per package: the unit files a package ships. */
  lists: string;
}

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'dockgate-setup-'));
});

afterAll(async () => {
  if (base) await rm(base, { recursive: true, force: true });
});

async function script(path: string, text: string): Promise<void> {
  await writeFile(path, `#!/bin/sh\n${text}`);
  await chmod(path, 0o755);
}

/**
 * A fake machine: `id -u` prints $FAKE_UID; `dpkg-query -W` knows the packages in $FAKE_INSTALLED
 * and `dpkg-query -L` prints the files in lists/PKG; `apt-get` logs its arguments, DEBIAN_FRONTEND
 * and the policy-rc.d it finds, and fails when $FAKE_APT_FAIL is set; `systemctl` logs its
 * arguments.
 */
async function machine(osRelease: string | undefined): Promise<Machine> {
  const dir = join(base, `m${++n}`);
  const bin = join(dir, 'bin');
  const root = join(dir, 'root');
  const log = join(dir, 'calls.log');
  const lists = join(dir, 'lists');
  await mkdir(bin, { recursive: true });
  await mkdir(lists, { recursive: true });
  await mkdir(join(root, 'etc'), { recursive: true });
  for (const t of TOOLS) {
    const real = ['/usr/bin', '/bin'].map((d) => join(d, t)).find((p) => existsSync(p));
    if (real) await symlink(real, join(bin, t));
  }
  if (osRelease !== undefined) await writeFile(join(root, 'etc', 'os-release'), osRelease);
  await script(join(bin, 'id'), `echo "id $*" >>"${log}"\n[ "$1" = -u ] && echo "$FAKE_UID"\n`);
  await script(
    join(bin, 'dpkg-query'),
    [
      `echo "dpkg-query $*" >>"${log}"`,
      'eval "pkg=\\$$#"',
      `if [ "$1" = -L ]; then [ -f "${lists}/$pkg" ] && cat "${lists}/$pkg"; exit 0; fi`,
      'case " $FAKE_INSTALLED " in *" $pkg "*) printf installed ;; *) echo "dpkg-query: no packages found matching $pkg" >&2; exit 1 ;; esac',
      '',
    ].join('\n'),
  );
  await script(join(bin, 'systemctl'), `echo "systemctl $*" >>"${log}"\n`);
  await script(
    join(bin, 'apt-get'),
    [
      `echo "apt-get $* DEBIAN_FRONTEND=$DEBIAN_FRONTEND" >>"${log}"`,
      `if [ -x "${root}/usr/sbin/policy-rc.d" ]; then "${root}/usr/sbin/policy-rc.d" docker.service start; echo "policy-rc.d exit $?" >>"${log}"; fi`,
      '[ -z "$FAKE_APT_FAIL" ]',
      '',
    ].join('\n'),
  );
  return { dir, bin, root, log, lists };
}

/** The unit files (and one file that is not a unit) a package ships, as `dpkg-query -L` lists them. */
async function ships(m: Machine, pkg: string, units: string[]): Promise<void> {
  await writeFile(join(m.lists, pkg), ['/.', '/usr/share/doc/' + pkg, ...units.map((u) => `/lib/systemd/system/${u}`), ''].join('\n'));
}

/** systemd is PID 1 on this fake machine (what `sd_booted` looks at). */
async function booted(m: Machine): Promise<void> {
  await mkdir(join(m.root, 'run/systemd/system'), { recursive: true });
}

/** A dockerd from some other package (Docker CE's) on PATH. */
async function dockerCe(m: Machine): Promise<void> {
  await script(join(m.bin, 'dockerd'), 'exit 0\n');
}

async function run(m: Machine, env: { uid: number; installed: string[]; aptFail?: boolean; mode?: Mode | string | null }) {
  const mode = env.mode === undefined ? 'test' : env.mode;
  const r = await execa(join(m.bin, 'bash'), mode === null ? [SETUP] : [SETUP, mode], {
    reject: false,
    timeout: 30_000,
    input: '',
    extendEnv: false,
    env: {
      PATH: m.bin,
      DOCKGATE_SETUP_ROOT: m.root,
      FAKE_UID: String(env.uid),
      FAKE_INSTALLED: env.installed.join(' '),
      FAKE_APT_FAIL: env.aptFail ? '1' : '',
    },
  });
  const calls = existsSync(m.log) ? (await readFile(m.log, 'utf8')).split('\n').filter(Boolean) : [];
  return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1, calls };
}

const aptCalls = (calls: string[]) => calls.filter((c) => c.startsWith('apt-get '));
const systemctlCalls = (calls: string[]) => calls.filter((c) => c.startsWith('systemctl '));
const checked = (calls: string[]) => calls.filter((c) => c.startsWith('dpkg-query -W')).map((c) => c.split(' ').at(-1));

describe('scripts/setup', () => {
  beforeEach(() => {
    expect(existsSync(SETUP)).toBe(true);
  });

  it('not root: names every package and the command, exits non-zero, and looks at nothing else', async () => {
    const m = await machine(DEBIAN_12);
    const r = await run(m, { uid: 1000, installed: [] });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('not running as root (uid 1000)');
    expect(r.stderr).toContain(PACKAGES.join(' '));
    expect(r.stderr).toContain(INSTALL_COMMAND);
    expect(r.stdout).toBe('');
    expect(r.calls).toEqual(['id -u']);
  });

  it('not Debian: the same message and a non-zero exit, before any package is looked at', async () => {
    const m = await machine(FEDORA);
    const r = await run(m, { uid: 0, installed: PACKAGES });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('this is not Debian');
    expect(r.stderr).toContain(INSTALL_COMMAND);
    expect(r.calls).toEqual(['id -u']);
  });

  it('no os-release and no debian_version: not Debian', async () => {
    const m = await machine(undefined);
    const r = await run(m, { uid: 0, installed: PACKAGES });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain('this is not Debian');
  });

  it('everything installed: one line, no apt-get at all', async () => {
    const m = await machine(DEBIAN_12);
    const r = await run(m, { uid: 0, installed: PACKAGES });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split('\n')).toHaveLength(1);
    expect(aptCalls(r.calls)).toEqual([]);
    // every package was checked, each with dpkg-query
    for (const p of PACKAGES) expect(r.calls.some((c) => c.startsWith('dpkg-query ') && c.endsWith(` ${p}`))).toBe(true);
    expect(existsSync(join(m.root, 'usr/sbin/policy-rc.d'))).toBe(false);
  });

  it('a Debian derivative (ID_LIKE=debian) counts as Debian', async () => {
    const m = await machine(UBUNTU);
    const r = await run(m, { uid: 0, installed: PACKAGES });
    expect(r.exitCode).toBe(0);
  });

  it('some missing: apt-get update, then installs only those, noninteractive, without recommends, services forbidden to start', async () => {
    const m = await machine(DEBIAN_12);
    const r = await run(m, { uid: 0, installed: PACKAGES.filter((p) => p !== 'docker.io' && p !== 'curl') });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.calls.filter((c) => c.startsWith('apt-get ') || c.startsWith('policy-rc.d'))).toEqual([
      'apt-get update -qq DEBIAN_FRONTEND=noninteractive',
      'policy-rc.d exit 101',
      'apt-get install -y -qq --no-install-recommends --no-remove docker.io curl DEBIAN_FRONTEND=noninteractive',
      'policy-rc.d exit 101',
    ]);
    // only for the install: afterwards nothing forbids the admin's own service starts
    expect(existsSync(join(m.root, 'usr/sbin/policy-rc.d'))).toBe(false);
  });

  it("an admin's own policy-rc.d is put back afterwards, also when apt-get fails", async () => {
    const m = await machine(DEBIAN_12);
    const theirs = '#!/bin/sh\n# the admin\'s\nexit 0\n';
    await mkdir(join(m.root, 'usr/sbin'), { recursive: true });
    await writeFile(join(m.root, 'usr/sbin/policy-rc.d'), theirs, { mode: 0o755 });
    const r = await run(m, { uid: 0, installed: ['iptables'], aptFail: true });
    expect(r.exitCode).not.toBe(0);
    expect(r.calls).toContain('policy-rc.d exit 101');
    expect(await readFile(join(m.root, 'usr/sbin/policy-rc.d'), 'utf8')).toBe(theirs);
    expect(existsSync(join(m.root, 'usr/sbin/policy-rc.d.dockgate-setup-saved'))).toBe(false);
  });

  it('no mode, or an unknown one: says demo or test, exit 2, looks at nothing', async () => {
    for (const mode of [null, 'all']) {
      const m = await machine(DEBIAN_12);
      const r = await run(m, { uid: 0, installed: [], mode });
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toMatch(/usage: scripts\/setup demo\|test/);
      expect(r.calls).toEqual([]);
    }
  });

  it('demo mode: looks at and installs only what the demo needs, never a test-only package', async () => {
    const m = await machine(DEBIAN_12);
    const r = await run(m, { uid: 0, installed: [], mode: 'demo' });
    expect(r.exitCode).toBe(0);
    expect(checked(r.calls)).toEqual(DEMO_PACKAGES);
    expect(aptCalls(r.calls)).toContain(`apt-get install -y -qq --no-install-recommends --no-remove ${DEMO_PACKAGES.join(' ')} DEBIAN_FRONTEND=noninteractive`);
    for (const p of TEST_ONLY_PACKAGES) expect(r.calls.join('\n')).not.toContain(` ${p}`);
  });

  it('demo mode, not root: names the demo packages only', async () => {
    const m = await machine(DEBIAN_12);
    const r = await run(m, { uid: 1000, installed: [], mode: 'demo' });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain(installCommand(DEMO_PACKAGES));
    expect(r.stderr).not.toContain('firewalld');
  });

  it('test mode looks at every package the tests need', async () => {
    const m = await machine(DEBIAN_12);
    const r = await run(m, { uid: 0, installed: PACKAGES, mode: 'test' });
    expect(r.exitCode).toBe(0);
    expect(checked(r.calls)).toEqual(PACKAGES);
  });

  it('never removes a package: every install carries --no-remove', async () => {
    for (const mode of ['demo', 'test'] as const) {
      const m = await machine(DEBIAN_12);
      const r = await run(m, { uid: 0, installed: ['iptables'], mode });
      const installs = aptCalls(r.calls).filter((c) => c.startsWith('apt-get install'));
      expect(installs).toHaveLength(1);
      expect(installs[0]).toContain(' --no-remove ');
    }
  });

  it('a dockerd from another package (Docker CE) is used: docker.io is neither looked at nor installed', async () => {
    for (const mode of ['demo', 'test'] as const) {
      const m = await machine(DEBIAN_12);
      await dockerCe(m);
      const r = await run(m, { uid: 0, installed: [], mode });
      expect(r.exitCode).toBe(0);
      expect(r.calls.join('\n')).not.toContain('docker.io');
      expect(r.stdout).toContain(`dockerd found at ${join(m.bin, 'dockerd')}`);
    }
  });

  it('a dockerd on PATH and everything else in place: no apt-get at all', async () => {
    const m = await machine(DEBIAN_12);
    await dockerCe(m);
    const r = await run(m, { uid: 0, installed: PACKAGES.filter((p) => p !== 'docker.io') });
    expect(r.exitCode).toBe(0);
    expect(aptCalls(r.calls)).toEqual([]);
  });

  it('the services of what it installed are left disabled (systemd not PID 1: disable, nothing to stop)', async () => {
    const m = await machine(DEBIAN_12);
    await ships(m, 'firewalld', ['firewalld.service']);
    await ships(m, 'ufw', ['ufw.service']);
    await ships(m, 'docker.io', ['docker.service', 'docker.socket']);
    await ships(m, 'systemd', ['systemd-networkd.service', 'getty@.service']);
    await ships(m, 'nftables', ['nftables.service']);
    const r = await run(m, { uid: 0, installed: PACKAGES.filter((p) => !['firewalld', 'ufw', 'docker.io', 'systemd'].includes(p)) });
    expect(r.exitCode).toBe(0);
    // systemd's own units are the init system's; nftables was there before, so it is not setup's to touch
    expect(systemctlCalls(r.calls)).toEqual(['systemctl disable docker.service docker.socket firewalld.service ufw.service']);
    expect(r.stdout).toContain('left disabled: docker.service docker.socket firewalld.service ufw.service');
  });

  it('systemd is PID 1: disable --now, so nothing it installed runs now or after a reboot', async () => {
    const m = await machine(DEBIAN_12);
    await booted(m);
    await ships(m, 'firewalld', ['firewalld.service']);
    await ships(m, 'dbus', ['dbus.service', 'dbus.socket']);
    const r = await run(m, { uid: 0, installed: PACKAGES.filter((p) => p !== 'firewalld' && p !== 'dbus') });
    expect(r.exitCode).toBe(0);
    expect(systemctlCalls(r.calls)).toEqual(['systemctl disable --now firewalld.service dbus.service dbus.socket']);
    // the disable runs after the install, while services are still forbidden to start
    const order = r.calls.filter((c) => c.startsWith('apt-get install') || c.startsWith('systemctl '));
    expect(order.map((c) => c.split(' ')[0])).toEqual(['apt-get', 'systemctl']);
  });

  it('packages without services: no systemctl at all', async () => {
    const m = await machine(DEBIAN_12);
    await ships(m, 'curl', []);
    const r = await run(m, { uid: 0, installed: PACKAGES.filter((p) => p !== 'curl') });
    expect(r.exitCode).toBe(0);
    expect(systemctlCalls(r.calls)).toEqual([]);
  });
});

describe('the set-up path', () => {
  it('npm test and npm run demo run scripts/setup first; .ci/run is npm ci then npm test', async () => {
    const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.pretest).toBe('bash scripts/setup test');
    expect(pkg.scripts.predemo).toBe('bash scripts/setup demo');
    const ci = (await readFile(join(REPO, '.ci/run'), 'utf8')).split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
    const npmCi = ci.findIndex((l) => /^npm ci\b/.test(l));
    const npmTest = ci.findIndex((l) => l === 'npm test');
    expect(npmCi).toBeGreaterThanOrEqual(0);
    expect(npmTest).toBeGreaterThan(npmCi);
    expect(ci.some((l) => l.includes('apt-get'))).toBe(false);
  });
});
