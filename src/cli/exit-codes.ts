// Each command's exit codes, in one place: `--help` prints them from here, README's table is
// checked against them by a test, so the three never say different things again. Free of
// imports, like errors.ts: main.ts reads it before it knows which command runs.

export type ExitTable = ReadonlyArray<readonly [code: number, meaning: string]>;

const USAGE = 'a usage error (an unknown option, a missing argument) or a config error naming the key';

export const EXIT_CODES = {
  run: [
    [0, 'stopped by SIGTERM or SIGINT (the rules stay in place)'],
    [1, 'a failure it could not recover from (the unit restarts it)'],
    [2, `${USAGE}; or the Docker node is in a swarm (the unit does not restart it)`],
  ],
  plan: [
    [0, 'printed'],
    [1, 'Docker could not be read'],
    [2, USAGE],
  ],
  status: [
    [0, 'the firewall equals the plan and every opening is effective'],
    [1, 'Docker or a table could not be read'],
    [2, USAGE],
    [3, 'the firewall differs from the plan (drift), or an opening is blocked or may be blocked by another firewall'],
  ],
  flush: [
    [0, "dockgate's rules are removed"],
    [1, 'something could not be removed (it says what), or refused because dockgate run is running (use --force)'],
    [2, USAGE],
  ],
  doctor: [
    [0, 'no check failed (warnings allowed)'],
    [1, 'a check failed'],
    [2, USAGE],
  ],
  explain: [
    [0, 'allowed (explain CONTAINER: it has an opening)'],
    [1, 'blocked or unknown (explain CONTAINER: nothing is opened for it), or Docker or the firewall could not be read'],
    [2, USAGE],
  ],
  'check-config': [
    [0, 'the config is valid (a missing file at the default path is the built-in defaults)'],
    [2, 'the config is invalid or cannot be read (the message names the key or the file)'],
  ],
  drops: [
    [0, 'printed (or followed until interrupted)'],
    [1, 'the daemon could not be asked: not running, drops.log off, or not root'],
    [2, USAGE],
  ],
  logs: [
    [0, 'printed (or followed until interrupted)'],
    [1, 'the journal could not be read'],
    [2, USAGE],
  ],
  install: [
    [0, 'installed'],
    [1, 'nothing or not all was changed (it says what): not root, a file could not be written, the firewall could not be read, or rules of yours in DOCKER-USER (use --force)'],
    [2, USAGE],
  ],
  uninstall: [
    [0, 'uninstalled'],
    [1, 'a file could not be removed or restored (it says which)'],
    [2, USAGE],
  ],
} as const satisfies Record<string, ExitTable>;

export type CommandName = keyof typeof EXIT_CODES;

/** The block `--help` ends with. */
export function exitHelp(command: CommandName): string {
  return `\nExit status:\n${EXIT_CODES[command].map(([code, meaning]) => `  ${code}  ${meaning}`).join('\n')}\n`;
}

/** README's table for one command. */
export function exitMarkdown(command: CommandName): string {
  return ['| exit | meaning |', '|---|---|', ...EXIT_CODES[command].map(([code, meaning]) => `| ${code} | ${meaning} |`)].join('\n');
}
