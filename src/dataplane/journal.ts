// dockgate's own log as the systemd journal keeps it: the message of each entry, one per line.
// Not through CommandQueue: `--follow` never ends, and the queue runs one command at a time so
// that firewall commands never race; a log reader would hold it for as long as it reads.
import { execa } from 'execa';
import { type CommandResult, endOf, howEnded } from './command-queue.js';

export interface JournalOptions {
  unit: string;
  follow?: boolean;
  /** Only the last N entries. */
  lines?: number;
}

export class JournalError extends Error {
  constructor(message: string, readonly ended: CommandResult) {
    super(message);
  }
}

export function journalctlArgs(o: JournalOptions): string[] {
  // -o cat: the message alone, which for dockgate is one pino JSON object per line.
  const args = ['-u', o.unit, '-o', 'cat', '--no-pager'];
  if (o.lines !== undefined) args.push('-n', String(o.lines));
  if (o.follow) args.push('-f');
  return args;
}

/**
 * The journal's lines, as journalctl prints them. Ends when journalctl does (never with
 * `follow`); stopping the iteration stops journalctl. journalctl's own complaints (no
 * permission to read the journal, say) go straight to stderr; a failure is a JournalError.
 */
export async function* journalLines(o: JournalOptions, file = 'journalctl'): AsyncGenerator<string, void> {
  const sub = execa(file, journalctlArgs(o), { stdin: 'ignore', stderr: 'inherit', buffer: false, reject: false });
  try {
    for await (const line of sub.iterable()) yield line;
    const r = await sub;
    if (r.failed) {
      const ended = endOf(r, 0, 0);
      if (ended.kind === 'not-found') throw new JournalError(`cannot run ${file}: ${r.shortMessage} (it comes with Debian's systemd package)`, ended);
      throw new JournalError(`${file} failed (${howEnded(ended)})`, ended);
    }
  } finally {
    if (sub.exitCode === null) sub.kill();
  }
}
