// The Debian package's prerm on a faked machine: systemctl, deb-systemd-invoke and the dockgate
// binary are stand-ins that record their calls, and the script's absolute paths (/usr/bin/dockgate,
// /run/systemd/system, /var/lib/dockgate) are pointed into a temporary directory. Nothing here
// touches a firewall: the stand-in dockgate only says what it was asked. The packaged script as a
// whole, under systemd, is scripts/systemd-proof/run.sh's (test/e2e/systemd-package.test.ts).
import { execa } from 'execa';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const PRERM = join(REPO, 'scripts', 'package', 'debian', 'prerm');

let base: string;
let n = 0;

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'dockgate-prerm-'));
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

interface Machine {
  /** Whether systemd runs (/run/systemd/system exists) and dockgate.service is active. */
  systemd?: boolean;
  active?: boolean;
  /** deb-systemd-invoke stop fails to stop the unit. */
  stopFails?: boolean;
  /** dockgate flush's exit code. */
  flushExit?: number;
  installState?: boolean;
}

async function machine(m: Machine): Promise<{ dir: string; script: string; log: string; bin: string }> {
  const dir = join(base, String(++n));
  const bin = join(dir, 'bin');
  const log = join(dir, 'calls.log');
  await mkdir(bin, { recursive: true });
  await mkdir(join(dir, 'var-lib-dockgate'));
  if (m.systemd !== false) await mkdir(join(dir, 'run-systemd-system'));
  if (m.installState) await writeFile(join(dir, 'var-lib-dockgate', 'install-state.json'), '{}');
  await writeFile(join(dir, 'active'), m.active === false ? 'inactive' : 'active');
  const stub = async (name: string, body: string): Promise<void> => {
    await writeFile(join(bin, name), `#!/bin/sh\necho "${name} $*" >>'${log}'\n${body}\n`);
    await chmod(join(bin, name), 0o755);
  };
  await stub('systemctl', `[ "$1" = is-active ] && [ "$(cat '${dir}/active')" = active ]`);
  await stub('deb-systemd-invoke', m.stopFails ? 'exit 1' : `[ "$1" = stop ] && echo inactive >'${dir}/active'; exit 0`);
  await stub('dockgate', `echo "removed dockgate chains and jumps from: filter, nat, raw"; exit ${m.flushExit ?? 0}`);
  const text = (await readFile(PRERM, 'utf8'))
    .replaceAll('/usr/bin/dockgate', join(bin, 'dockgate'))
    .replaceAll('/run/systemd/system', join(dir, 'run-systemd-system'))
    .replaceAll('/var/lib/dockgate', join(dir, 'var-lib-dockgate'));
  const script = join(dir, 'prerm');
  await writeFile(script, text);
  await chmod(script, 0o755);
  return { dir, script, log, bin };
}

async function prerm(m: Machine, args: string[], env: Record<string, string> = {}) {
  const x = await machine(m);
  const r = await execa(x.script, args, { reject: false, env: { PATH: `${x.bin}:/usr/bin:/bin`, ...env }, extendEnv: false });
  const calls = (await readFile(x.log, 'utf8').catch(() => '')).trim().split('\n').filter((l) => l !== '');
  return { code: r.exitCode, stdout: r.stdout, stderr: r.stderr, calls };
}

describe('prerm', () => {
  it('remove: stops the running unit, then flushes dockgate\'s rules while the binary is still there', async () => {
    const r = await prerm({}, ['remove']);
    expect(r.code).toBe(0);
    expect(r.calls).toEqual(['systemctl is-active --quiet dockgate.service', 'deb-systemd-invoke stop dockgate.service', 'systemctl is-active --quiet dockgate.service', 'dockgate flush']);
    expect(r.stdout).toContain('removed dockgate chains and jumps');
  });

  it('remove without systemd (a container, a chroot): flushes all the same', async () => {
    const r = await prerm({ systemd: false }, ['remove']);
    expect(r.code).toBe(0);
    expect(r.calls).toEqual(['dockgate flush']);
  });

  it('remove in favour of another package flushes too', async () => {
    const r = await prerm({ active: false }, ['remove', 'in-favour', 'other', '1.0']);
    expect(r.code).toBe(0);
    expect(r.calls).toContain('dockgate flush');
  });

  it('upgrade and failed-upgrade: no stop, no flush (the rules stay while the new version is unpacked)', async () => {
    for (const args of [['upgrade', '0.2.0'], ['failed-upgrade', '0.1.0']]) {
      const r = await prerm({}, args);
      expect(r.code).toBe(0);
      expect(r.calls).toEqual([]);
    }
  });

  it('deconfigure: stops the unit but keeps the rules (the package stays installed)', async () => {
    const r = await prerm({}, ['deconfigure', 'in-favour', 'other', '1.0']);
    expect(r.code).toBe(0);
    expect(r.calls).not.toContain('dockgate flush');
    expect(r.calls).toContain('deb-systemd-invoke stop dockgate.service');
  });

  it('a failing flush refuses the removal with a message that says why and what to do', async () => {
    const r = await prerm({ flushExit: 1 }, ['remove']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/dockgate flush.*failed/);
    expect(r.stderr).toMatch(/stays installed/);
    expect(r.stderr).toContain('DOCKGATE_KEEP_RULES=1');
  });

  it('a unit that does not stop: refused, nothing flushed (the daemon would write the rules back)', async () => {
    const r = await prerm({ stopFails: true }, ['remove']);
    expect(r.code).not.toBe(0);
    expect(r.calls).not.toContain('dockgate flush');
    expect(r.stderr).toMatch(/still running/);
  });

  it('DOCKGATE_KEEP_RULES=1 removes without flushing, and says the rules stay', async () => {
    const r = await prerm({}, ['remove'], { DOCKGATE_KEEP_RULES: '1' });
    expect(r.code).toBe(0);
    expect(r.calls).not.toContain('dockgate flush');
    expect(r.stderr).toMatch(/rules stay/);
  });

  it("remove still reminds of `dockgate install`'s changes", async () => {
    const r = await prerm({ installState: true }, ['remove']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('dockgate uninstall');
  });

  it('an unknown argument is refused', async () => {
    expect((await prerm({}, ['bogus'])).code).toBe(1);
  });
});
