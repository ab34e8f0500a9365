// The manual page dockgate(8) is hand-written in man/dockgate.8, except its EXIT STATUS section,
// which comes from the same table as `--help` (src/cli/exit-codes.ts), between two marker
// comments. `npm run package` (scripts/package/build.sh) runs this to install the page with that
// section regenerated; test/docs/man.test.ts checks the committed page already says the same.
//
//   npx tsx scripts/package/man.ts [--write] [PAGE]    print PAGE (default man/dockgate.8) with its
//                                                      EXIT STATUS regenerated, or rewrite it in place
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EXIT_CODES, type ExitTable } from '../../src/cli/exit-codes.js';

export const BEGIN = '.\\" BEGIN EXIT STATUS (generated from src/cli/exit-codes.ts by scripts/package/man.ts)';
export const END = '.\\" END EXIT STATUS';

/** Text as roff reads it: backslashes and hyphens escaped, no line taken for a request. */
export function roffText(text: string): string {
  const escaped = text.replaceAll('\\', '\\e').replaceAll('-', '\\-');
  return /^[.']/.test(escaped) ? `\\&${escaped}` : escaped;
}

/** The EXIT STATUS section's body, one subsection per command, in EXIT_CODES order. */
export function exitStatusRoff(codes: Readonly<Record<string, ExitTable>> = EXIT_CODES): string {
  const lines = [
    BEGIN,
    'Every command exits 2 on a usage error (an unknown option, a missing argument);',
    '.B \\-\\-help',
    "prints the command's own table.",
  ];
  for (const [command, table] of Object.entries(codes)) {
    lines.push(`.SS dockgate ${roffText(command)}`);
    for (const [code, meaning] of table) lines.push('.TP 4', `.B ${code}`, roffText(meaning));
  }
  lines.push(END);
  return `${lines.join('\n')}\n`;
}

/** The page with the text between the markers replaced; throws when the markers are missing. */
export function withExitStatus(page: string, codes: Readonly<Record<string, ExitTable>> = EXIT_CODES): string {
  const begin = page.indexOf(`${BEGIN}\n`);
  const end = page.indexOf(`${END}\n`, begin);
  if (begin < 0 || end < 0) throw new Error(`the manual page has no "${BEGIN}" ... "${END}" block`);
  return page.slice(0, begin) + exitStatusRoff(codes) + page.slice(end + END.length + 1);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const write = args[0] === '--write';
  const file = (write ? args[1] : args[0]) ?? fileURLToPath(new URL('../../man/dockgate.8', import.meta.url));
  const page = withExitStatus(readFileSync(file, 'utf8'));
  if (write) writeFileSync(file, page);
  else process.stdout.write(page);
}
