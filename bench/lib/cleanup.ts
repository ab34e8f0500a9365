// Everything the benchmark starts is registered here and removed again: at the end of each part,
// on an error, and on Ctrl-C / SIGTERM (bounded: after 60 s the process exits anyway). Processes
// are stopped by their pid only; namespaces by their name (test/support/netns.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { stopAll } from '../../test/e2e/harness.js';
import { killQuiet, sbinPath, waitGone } from '../../test/support/netns.js';

type Cleanup = () => Promise<void>;

const cleanups = new Map<number, { what: string; fn: Cleanup }>();
let nextId = 1;
let interrupted = false;

/** Registers a clean-up; returns a function that runs it now (once) and unregisters it. */
export function onCleanup(what: string, fn: Cleanup): () => Promise<void> {
  const id = nextId++;
  cleanups.set(id, { what, fn });
  let done: Promise<void> | undefined;
  return () => {
    done ??= (async () => {
      cleanups.delete(id);
      await fn().catch((err: unknown) => console.error(`cleanup of ${what} failed: ${String(err)}`));
    })();
    return done;
  };
}

let running: Promise<void> | undefined;

/**
 * Runs every registered clean-up, newest first. Never throws. A call made while a clean-up is
 * under way waits for it (and then runs whatever was registered since), so that nobody exits the
 * process in the middle of another caller's clean-up.
 */
export function cleanupAll(): Promise<void> {
  if (running) return running.then(() => cleanupAll());
  running = (async () => {
    for (let round = 0; round < 10 && cleanups.size > 0; round++) {
      for (const [id, c] of [...cleanups].reverse()) {
        cleanups.delete(id);
        try {
          await c.fn();
        } catch (err) {
          console.error(`cleanup of ${c.what} failed: ${String(err)}`);
        }
      }
    }
    // Docker hosts (and their dockgate daemons) the harness still knows, e.g. one that was
    // starting when Ctrl-C came and so was never registered here.
    await stopAll().catch(() => undefined);
  })().finally(() => {
    running = undefined;
  });
  return running;
}

export function wasInterrupted(): boolean {
  return interrupted;
}

/** Thrown by long loops once Ctrl-C was pressed, so that they stop at the next step. */
export class Interrupted extends Error {
  override name = 'Interrupted';
}

export function checkInterrupted(): void {
  if (interrupted) throw new Interrupted('interrupted');
}

export function installSignalHandlers(): void {
  const handler = (signal: NodeJS.Signals): void => {
    if (interrupted) {
      console.error(`\n${signal} again: still cleaning up (hard exit in at most 60 s)`);
      return;
    }
    interrupted = true;
    console.error(`\n${signal}: stopping, removing the namespaces and processes this benchmark made ...`);
    const hard = setTimeout(() => process.exit(130), 60_000);
    hard.unref();
    void cleanupAll().finally(() => process.exit(130));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  process.on('SIGHUP', handler);
}

// ---------------------------------------------------------------------------------------------
// Long-running helper processes (docker events, nft monitor, the prober)

export interface LineProcess {
  pid: number;
  /** calls fn for every stdout line (with the wall-clock ms it arrived) */
  onLine(fn: (line: string, at: number) => void): void;
  write(line: string): void;
  stderr(): string;
  exited: Promise<void>;
  stop(): Promise<void>;
}

/** Spawns `cmd args` with stdout read line by line; registered for clean-up, stopped by pid. */
export async function startLineProcess(what: string, cmd: string, args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<LineProcess> {
  const child: ChildProcess = spawn(cmd, args, {
    cwd: options.cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, PATH: sbinPath(), ...options.env },
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', reject);
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${what} did not start`);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    child.once('exit', () => resolve());
  });
  const listeners: Array<(line: string, at: number) => void> = [];
  let buf = '';
  let err = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    const at = performance.timeOrigin + performance.now();
    buf += chunk;
    for (let i = buf.indexOf('\n'), n = 0; i >= 0 && n < 1_000_000; i = buf.indexOf('\n'), n++) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      for (const l of listeners) l(line, at);
    }
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    err = (err + chunk).slice(-20_000);
  });
  child.stdin?.on('error', () => undefined);
  const stop = onCleanup(`${what} (pid ${pid})`, async () => {
    child.stdin?.end();
    killQuiet(pid, 'SIGTERM');
    const left = await waitGone([pid], 3000);
    if (left.length > 0) {
      killQuiet(pid, 'SIGKILL');
      await waitGone([pid], 3000);
    }
    await Promise.race([exited, sleep(1000)]);
  });
  if (interrupted) {
    await stop();
    throw new Interrupted('interrupted');
  }
  return {
    pid,
    onLine: (fn) => listeners.push(fn),
    write: (line) => {
      child.stdin?.write(`${line}\n`);
    },
    stderr: () => err,
    exited,
    stop,
  };
}
