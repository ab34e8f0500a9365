// `dockgate drops`: what the running daemon's drop log holds, asked over its socket (drops.socket).
import { askDrops } from '../drops/server.js';
import { type DropsRequest, type WireDrop, formatDrop } from '../drops/wire.js';
import { escapeControls } from '../labels/text.js';
import { CliError, EXIT_CONFIG, readConfig } from './context.js';

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `15m`, `2h`, `1d`, `500ms`; a bare number is seconds. undefined when it is none of these. */
export function parseDuration(text: string): number | undefined {
  const m = /^([0-9]+)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * UNITS[m[2] ?? 's']!;
}

export interface DropsOptions {
  config?: string;
  socket?: string;
  follow?: boolean;
  json?: boolean;
  since?: string;
  container?: string;
}

export async function drops(o: DropsOptions, now: () => number = Date.now): Promise<void> {
  let sinceMs: number | undefined;
  if (o.since !== undefined) {
    const d = parseDuration(o.since);
    if (d === undefined) throw new CliError(`dockgate drops: --since expects a duration such as 90s, 15m, 2h or 1d, got ${JSON.stringify(o.since)}`, EXIT_CONFIG);
    sinceMs = now() - d;
  }
  const socket = o.socket ?? readConfig(o.config).drops.socket;
  const req: DropsRequest = { op: 'entries', ...(sinceMs !== undefined ? { sinceMs } : {}), ...(o.container !== undefined ? { container: o.container } : {}), follow: o.follow === true };
  try {
    await askDrops(socket, req, (line) => {
      if (o.json) {
        process.stdout.write(`${line}\n`);
        return;
      }
      const d = JSON.parse(line) as WireDrop;
      process.stdout.write(`${escapeControls(formatDrop(d))}\n`);
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === 'ENOENT' || e.code === 'ECONNREFUSED'
        ? `nothing answers on ${socket}: is dockgate run running, with drops.log on?`
        : e.code === 'EACCES'
          ? `${socket} is root's only: run as root`
          : e.message;
    throw new CliError(`dockgate drops: ${why}`, 1);
  }
}
