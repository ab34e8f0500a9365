// man/dockgate.8 is hand-written except its EXIT STATUS, which must say what `--help` says: both
// come from src/cli/exit-codes.ts. After changing a command's exit codes (or adding a command),
// run `npx tsx scripts/package/man.ts --write` and describe the command in SYNOPSIS and COMMANDS.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../../src/cli/exit-codes.js';
import { BEGIN, END, exitStatusRoff, roffText, withExitStatus } from '../../scripts/package/man.js';

const PAGE_PATH = new URL('../../man/dockgate.8', import.meta.url).pathname;
const page = readFileSync(PAGE_PATH, 'utf8');

function section(name: string): string {
  const start = page.indexOf(`\n.SH ${name}\n`);
  expect(start, `section ${name}`).toBeGreaterThan(0);
  const rest = page.slice(start + 1);
  const next = rest.indexOf('\n.SH ', 1);
  return next < 0 ? rest : rest.slice(0, next);
}

describe('man/dockgate.8', () => {
  it("EXIT STATUS is EXIT_CODES (the same table as --help); fix: npx tsx scripts/package/man.ts --write", () => {
    const begin = page.indexOf(BEGIN);
    const end = page.indexOf(END);
    expect(begin).toBeGreaterThan(0);
    expect(page.slice(begin, end + END.length + 1)).toBe(exitStatusRoff(EXIT_CODES));
    expect(withExitStatus(page)).toBe(page);
    expect(section('EXIT STATUS')).toContain(BEGIN);
  });

  it('has every command in SYNOPSIS and COMMANDS, and the sections a manual page needs', () => {
    for (const command of Object.keys(EXIT_CODES)) {
      expect(section('SYNOPSIS'), `SYNOPSIS: ${command}`).toContain(`.B ${roffText(command)}\n`);
      expect(section('COMMANDS'), `COMMANDS: ${command}`).toMatch(new RegExp(`\\n\\.TP\\n\\.BI? "?${roffText(command).replaceAll('\\', '\\\\')}[ "\\n]`));
    }
    for (const name of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'COMMANDS', 'LABELS', 'EXIT STATUS', 'FILES', 'EXAMPLES', 'SEE ALSO']) section(name);
  });

  it('names the labels the parser knows, and the default config path', () => {
    const labels = section('LABELS');
    for (const key of ['ports', 'from', 'mode', 'egress']) expect(labels).toContain(`dockgate.${key}`);
    expect(section('FILES')).toContain('/etc/dockgate/config.yaml');
  });

  it('renders without a warning (man -l), where man is installed', () => {
    if (spawnSync('man', ['--version']).status !== 0) return;
    const r = spawnSync('man', ['-l', PAGE_PATH], { env: { ...process.env, MANWIDTH: '80', MAN_KEEP_FORMATTING: '' }, encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('EXIT STATUS');
    if (spawnSync('groff', ['--version']).status === 0) {
      expect(execFileSync('groff', ['-man', '-ww', '-z', PAGE_PATH], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })).toBe('');
    }
  });
});
