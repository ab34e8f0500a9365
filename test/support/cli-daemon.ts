// The built CLI as a long-running child inside a test's network namespace (`nsenter --net`), with
// its output collected and every wait bounded. For CLI tests that run `dockgate run` itself.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ownDropsSocket } from './drops-socket.js';
import { sbinPath } from './netns.js';
import { until } from './poll.js';

export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface CliChild {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
  /** The JSON log lines so far. */
  events: () => Array<Record<string, unknown>>;
}

export function startCli(nsPath: string, args: string[]): CliChild {
  ownDropsSocket(args);
  let out = '';
  let err = '';
  const child = spawn('nsenter', [`--net=${nsPath}`, process.execPath, CLI, ...args], {
    env: { PATH: sbinPath() },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const events = () =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { child, stdout: () => out, stderr: () => err, exited, events };
}

/** The exit code, or 'still running' (and a SIGKILL) after `ms`. */
export async function exitWithin(r: CliChild, ms: number): Promise<number | null | 'still running'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'still running'>((resolve) => (timer = setTimeout(() => resolve('still running'), ms)));
  const code = await Promise.race([r.exited, late]);
  clearTimeout(timer);
  if (code === 'still running') r.child.kill('SIGKILL');
  return code;
}

/** Waits (at most `ms`) for a log line with this event; undefined if the child exits or time runs out. */
export async function eventWithin(r: CliChild, event: string, ms: number): Promise<Record<string, unknown> | undefined> {
  const exited = (): boolean => r.child.exitCode !== null || r.child.signalCode !== null;
  const seen = (): Record<string, unknown> | 'exited' | undefined => r.events().find((l) => l.event === event) ?? (exited() ? 'exited' : undefined);
  const found = await until(seen, { what: `log event ${event}`, timeoutMs: ms, intervalMs: 50 }).catch(() => undefined);
  return found === 'exited' ? undefined : found;
}
