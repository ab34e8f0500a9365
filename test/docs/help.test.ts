// Each command's --help names the config it reads, gives an example and points to the manual
// page (issue 23 item 12), from src/cli/help-text.ts.
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG_PATH } from '../../src/config/load.js';
import { EXIT_CODES, exitHelp } from '../../src/cli/exit-codes.js';
import { DEFAULT_CONFIG_PATH_SHOWN, EXAMPLES, usageNotes } from '../../src/cli/help-text.js';

const root = join(import.meta.dirname, '..', '..');

describe('--help notes', () => {
  it('name the real default config path', () => {
    expect(DEFAULT_CONFIG_PATH_SHOWN).toBe(DEFAULT_CONFIG_PATH);
  });

  it('give every command an example that runs that command', () => {
    for (const command of Object.keys(EXIT_CODES)) {
      const examples = EXAMPLES[command] ?? [];
      expect(examples.length, `an example for ${command} in src/cli/help-text.ts`).toBeGreaterThan(0);
      for (const [line] of examples) expect(line).toMatch(new RegExp(`(^|&& )dockgate ${command}( |$)`));
    }
  });

  it('say where the config comes from only for commands that take --config', () => {
    expect(usageNotes('plan', true)).toContain(`Config: ${DEFAULT_CONFIG_PATH} unless --config FILE`);
    expect(usageNotes('logs', false)).not.toContain('Config:');
    expect(usageNotes('logs', false)).toContain('More: man dockgate');
  });

  it('end the real --help, after the exit codes', async () => {
    const r = await execa('npx', ['tsx', join(root, 'src/cli/main.ts'), 'plan', '--help'], { reject: false, timeout: 60_000 });
    expect(r.exitCode, r.stderr).toBe(0);
    const exit = r.stdout.indexOf(exitHelp('plan').trim());
    expect(exit).toBeGreaterThan(0);
    expect(r.stdout.indexOf(`Config: ${DEFAULT_CONFIG_PATH}`)).toBeGreaterThan(exit);
    expect(r.stdout).toContain('Example:\n  dockgate plan | less\n');
    expect(r.stdout.trimEnd().endsWith('More: man dockgate')).toBe(true);
  }, 60_000);
});
