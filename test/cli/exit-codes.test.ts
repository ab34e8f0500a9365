// Each command's exit codes say the same thing in `--help`, in README and in the code's one table
// (src/cli/exit-codes.ts); the codes the commands return are checked by their own tests.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { type CommandName, EXIT_CODES, exitHelp, exitMarkdown } from '../../src/cli/exit-codes.js';

const root = join(import.meta.dirname, '..', '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const commands = Object.keys(EXIT_CODES) as CommandName[];

describe('exit codes', () => {
  it.each(commands)('README has the table of %s', (c) => {
    expect(readme).toContain(`\`dockgate ${c}\`:\n\n${exitMarkdown(c)}\n`);
  });

  it('every command exits 2 on a usage error, and says so', () => {
    for (const c of commands) expect(EXIT_CODES[c].find(([code]) => code === 2)?.[1]).toBeDefined();
  });

  it('--help of each command ends with its table', async () => {
    for (const c of commands) {
      const r = await execa('npx', ['tsx', join(root, 'src/cli/main.ts'), c, '--help'], { reject: false, timeout: 60_000 });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toContain(exitHelp(c).trim());
    }
  }, 300_000);
});
