// The shipped systemd unit, judged by systemd's own tools (Debian's `systemd` package; systemd
// need not be PID 1): `systemd-analyze verify` clean and a security exposure of 2.5 or lower.
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderUnit } from '../../src/install/install-files.js';

const UNIT = fileURLToPath(new URL('../../systemd/dockgate.service', import.meta.url));
const ANALYZE = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => existsSync(p));
const MAX_EXPOSURE = 2.5;

let dir: string;
let template: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dockgate-unit-'));
  template = await readFile(UNIT, 'utf8');
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function analyze(args: string[]): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  const r = await execa(ANALYZE!, args, { reject: false, timeout: 60_000, env: { SYSTEMD_COLORS: '0', SYSTEMD_PAGER: '' } });
  return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
}

const SKIP_REASON = ANALYZE ? '' : ' [skipped: systemd-analyze not installed; apt-get install systemd]';

describe.skipIf(!ANALYZE)(`systemd/dockgate.service${SKIP_REASON}`, () => {
  it('has the readiness, restart and reload settings the daemon relies on', () => {
    const has = (line: string) => expect(template.split('\n')).toContain(line);
    has('Type=notify');
    has('NotifyAccess=all');
    has('Wants=docker.service');
    has('After=docker.service');
    has('Restart=on-failure');
    has('ExecReload=/bin/kill -HUP $MAINPID');
    has('ExecStart=/usr/local/bin/dockgate run --config /etc/dockgate/config.yaml');
    // Docker may restart under dockgate: a hard dependency would stop dockgate with it.
    expect(template).not.toMatch(/^(Requires|BindsTo|PartOf)=.*docker/m);
    // Node's JIT needs W+X memory.
    expect(template).not.toMatch(/^MemoryDenyWriteExecute=(yes|true|1)/m);
  });

  it('passes systemd-analyze verify (ExecStart pointed at an existing binary)', async () => {
    // The real ExecStart binary only exists once dockgate is installed; everything else is checked as shipped.
    const copy = join(dir, 'dockgate.service');
    await writeFile(copy, renderUnit(template, ['/bin/true', 'run', '--config', '/etc/dockgate/config.yaml']));
    const r = await analyze(['verify', copy]);
    expect(r.stderr + r.stdout).toBe('');
    expect(r.exitCode).toBe(0);
  });

  it('as shipped, verify complains about nothing but the not yet installed ExecStart binary', async () => {
    const r = await analyze(['verify', UNIT]);
    const lines = `${r.stderr}\n${r.stdout}`.split('\n').filter((l) => l.trim() !== '');
    for (const l of lines) expect(l).toMatch(/\/usr\/local\/bin\/dockgate.*(not executable|No such file)/);
  });

  it(`has an overall exposure of ${MAX_EXPOSURE} or lower in systemd-analyze security`, async () => {
    const r = await analyze(['security', '--offline=true', UNIT]);
    const m = /Overall exposure level for dockgate\.service: (\d+(?:\.\d+)?)/.exec(r.stdout);
    expect(m, `no exposure line in:\n${r.stdout}\n${r.stderr}`).not.toBeNull();
    const exposure = Number(m![1]);
    console.log(`systemd-analyze security: overall exposure ${exposure}`);
    expect(exposure).toBeLessThanOrEqual(MAX_EXPOSURE);
  });

  it('the unit install writes (ExecStart = node + script) verifies too', async () => {
    const copy = join(dir, 'installed', 'dockgate.service');
    await rm(join(dir, 'installed'), { recursive: true, force: true });
    await execa('mkdir', ['-p', join(dir, 'installed')]);
    await writeFile(copy, renderUnit(template, [process.execPath, '/usr/local/lib/node_modules/dockgate/dist/cli/main.js', 'run', '--config', '/etc/dockgate/config.yaml']));
    const r = await analyze(['verify', copy]);
    // node exists; the script path is an argument, which verify does not check.
    expect(r.stderr + r.stdout).toBe('');
  });
});
