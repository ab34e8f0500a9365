// `dockgate logs [-f] [-n N]`: the daemon's pino JSON lines from the journal, pretty-printed here
// so that a server needs neither the network (`npx pino-pretty`) nor another tool to read them.
import type { Writable } from 'node:stream';
import { JournalError, journalLines } from '../dataplane/journal.js';
import { CliError } from './context.js';
import { escapeControls } from '../labels/text.js';

export const UNIT = 'dockgate';

export type LogFormatter = (line: string) => string;

/**
 * Formats one journal line: a pino record (a JSON object with a level) pretty-printed, anything
 * else (a stack trace from a crash, systemd's own words) exactly as it came, with a newline.
 */
export async function logFormatter(options: { colorize: boolean }): Promise<LogFormatter> {
  // Loaded here, not at start-up: every other command, the daemon included, never needs it.
  const { prettyFactory } = await import('pino-pretty');
  const pretty = prettyFactory({
    colorize: options.colorize,
    translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l o',
    ignore: 'hostname,name,event',
    messageFormat: '{if event}{event}: {end}{msg}',
  });
  return (line) => {
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch {
      return `${line}\n`;
    }
    if (typeof record !== 'object' || record === null || Array.isArray(record) || !('level' in record)) return `${line}\n`;
    return pretty(terminalSafe(record as Record<string, unknown>));
  };
}

/**
 * pino-pretty prints the message (and the event in front of it) as they are, every other field as
 * JSON; a message may quote a container's labels, so its control characters are escaped here.
 */
function terminalSafe(record: Record<string, unknown>): Record<string, unknown> {
  const out = { ...record };
  for (const key of ['msg', 'event']) {
    const v = out[key];
    if (typeof v === 'string') out[key] = escapeControls(v);
  }
  return out;
}

/** Resolves when `out` takes writes again, or will never do so (closed, failed). */
function drained(out: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      out.off('drain', done).off('close', done).off('error', done);
      resolve();
    };
    out.on('drain', done).on('close', done).on('error', done);
  });
}

/** Writes each line, formatted, to `out`; stops reading when `out` goes away (`| head`). */
export async function printLog(lines: AsyncIterable<string>, format: LogFormatter, out: Writable): Promise<void> {
  let gone = false;
  const onError = (): void => {
    gone = true;
  };
  out.on('error', onError);
  try {
    for await (const line of lines) {
      if (gone) break;
      if (!out.write(format(line))) await drained(out);
      if (gone || out.destroyed) break;
    }
  } finally {
    out.off('error', onError);
  }
}

function parseCount(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[0-9]{1,9}$/.test(text)) throw new CliError(`dockgate logs: -n wants a number of lines, got ${JSON.stringify(text)}`, 2);
  return Number(text);
}

export async function logs(options: { follow?: boolean; lines?: string }): Promise<number> {
  const lines = parseCount(options.lines);
  const format = await logFormatter({ colorize: process.stdout.isTTY === true });
  try {
    await printLog(journalLines({ unit: UNIT, follow: options.follow ?? false, lines }), format, process.stdout);
  } catch (err) {
    if (err instanceof JournalError) throw new CliError(`dockgate logs: ${err.message}`, 1);
    throw err;
  }
  return 0;
}
