// scripts/setup on faked machines: `id`, `dpkg-query` and `apt-get` are stand-ins on PATH that
// record how they were called, and DOCKGATE_SETUP_ROOT points it at a fake /etc and /usr/sbin.
// Nothing here needs root or touches the machine's packages.
import { execa } from 'execa';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const SETUP = join(REPO, 'scripts', 'setup');
const PACKAGES = ['iptables', 'nftables', 'docker.io', 'busybox-static', 'curl', 'iproute2', 'conntrack', 'systemd', 'python3', 'firewalld', 'dbus', 'debootstrap', 'ufw'];
const INSTALL_COMMAND = `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${PACKAGES.join(' ')}`;

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
 * A fake machine: `id -u` prints $FAKE_UID; `dpkg-query` knows the packages in $FAKE_INSTALLED;
 * `apt-get` logs its arguments, DEBIAN_FRONTEND and the policy-rc.d it finds, and fails when
 * $FAKE_APT_FAIL is set.
 */
async function machine(osRelease: string | undefined): Promise<Machine> {
  const dir = join(base, `m${++n}`);
  const bin = join(dir, 'bin');
  const root = join(dir, 'root');
  const log = join(dir, 'calls.log');
  await mkdir(bin, { recursive: true });
  await mkdir(join(root, 'etc'), { recursive: true });
  if (osRelease !== undefined) await writeFile(join(root, 'etc', 'os-release'), osRelease);
  await script(join(bin, 'id'), `echo "id $*" >>"${log}"\n[ "$1" = -u ] && echo "$FAKE_UID"\n`);
  await script(
    join(bin, 'dpkg-query'),
    `echo "dpkg-query $*" >>"${log}"\neval "pkg=\\$$#"\ncase " $FAKE_INSTALLED " in *" $pkg "*) printf installed ;; *) echo "dpkg-query: no packages found matching $pkg" >&2; exit 1 ;; esac\n`,
  );
  await script(
    join(bin, 'apt-get'),
    [
      `echo "apt-get $* DEBIAN_FRONTEND=$DEBIAN_FRONTEND" >>"${log}"`,
      `if [ -x "${root}/usr/sbin/policy-rc.d" ]; then "${root}/usr/sbin/policy-rc.d" docker.service start; echo "policy-rc.d exit $?" >>"${log}"; fi`,
      '[ -z "$FAKE_APT_FAIL" ]',
      '',
    ].join('\n'),
  );
  return { dir, bin, root, log };
}

async function run(m: Machine, env: { uid: number; installed: string[]; aptFail?: boolean }) {
  const r = await execa('bash', [SETUP], {
    reject: false,
    timeout: 30_000,
    input: '',
    extendEnv: false,
    env: {
      PATH: `${m.bin}:/usr/bin:/bin`,
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
      'apt-get install -y -qq --no-install-recommends docker.io curl DEBIAN_FRONTEND=noninteractive',
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
});

describe('the set-up path', () => {
  it('npm test and npm run demo run scripts/setup first; .ci/run is npm ci then npm test', async () => {
    const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.pretest).toBe('bash scripts/setup');
    expect(pkg.scripts.predemo).toBe('bash scripts/setup');
    const ci = (await readFile(join(REPO, '.ci/run'), 'utf8')).split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
    const npmCi = ci.findIndex((l) => /^npm ci\b/.test(l));
    const npmTest = ci.findIndex((l) => l === 'npm test');
    expect(npmCi).toBeGreaterThanOrEqual(0);
    expect(npmTest).toBeGreaterThan(npmCi);
    expect(ci.some((l) => l.includes('apt-get'))).toBe(false);
  });
});
