// `dockgate check-config` as the unit's ExecReload and an admin run it: the built CLI on a good
// and a bad file. Needs `npm run build` first (npm test does it).
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const DEFAULT_CONFIG = fileURLToPath(new URL('../../config/config.yaml', import.meta.url));

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dockgate-check-config-'));
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function cli(args: string[]): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  if (!existsSync(CLI)) throw new Error(`${CLI} missing: run \`npm run build\` first`);
  const r = await execa(process.execPath, [CLI, ...args], { reject: false, timeout: 60_000, input: '' });
  return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
}

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

describe('dockgate check-config', () => {
  it('a good file: exit 0 and one line saying ok', async () => {
    const good = await file('good.yaml', 'defaults:\n  mode: dnat\nlog_level: debug\n');
    const r = await cli(['check-config', '--config', good]);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`ok: ${good}`);
  });

  it('the shipped default config is good', async () => {
    const r = await cli(['check-config', '--config', DEFAULT_CONFIG]);
    expect(r.exitCode).toBe(0);
  });

  it('a bad value: exit 2, the message names the file and the key', async () => {
    const bad = await file('bad-value.yaml', 'defaults:\n  mode: tunnel\n');
    const r = await cli(['check-config', '--config', bad]);
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(new RegExp(`^dockgate: config error: ${bad}: defaults\\.mode: `));
  });

  it('an unknown key: exit 2 naming it', async () => {
    const bad = await file('bad-key.yaml', 'no_such_key: 1\n');
    const r = await cli(['check-config', '--config', bad]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`${bad}: no_such_key: unknown key`);
  });

  it('a missing file given with --config: exit 2', async () => {
    const r = await cli(['check-config', '--config', join(dir, 'absent.yaml')]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('no such file');
  });

  it('--log-json (the unit): one pino JSON line either way, so the journal stays JSON', async () => {
    const good = await file('good2.yaml', 'log_level: warn\n');
    const ok = await cli(['check-config', '--log-json', '--config', good]);
    expect(ok.exitCode).toBe(0);
    expect(ok.stderr).toBe('');
    expect(JSON.parse(ok.stdout)).toMatchObject({ level: 'info', event: 'config-checked', file: good });

    const bad = await file('bad2.yaml', 'defaults:\n  egress: maybe\n');
    const r = await cli(['check-config', '--log-json', '--config', bad]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toBe('');
    const lines = r.stdout.split('\n');
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 'error', event: 'reload-rejected', file: bad, key: 'defaults.egress' });
    expect(line.msg).toContain('defaults.egress');
  });
});
