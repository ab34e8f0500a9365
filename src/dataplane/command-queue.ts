// The one door through which dockgate runs processes. Concurrency 1: iptables-restore,
// iptables-save and conntrack never race each other, and their order is the order asked.
import { type ExecFileException, execFile } from 'node:child_process';
import PQueue from 'p-queue';
import { commandName } from './command-name.js';

/** The command ran to its end: `code` is its exit status (0 is success). */
export interface Exited {
  kind: 'exited';
  code: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

/** There was nothing to run by that name (or it could not be executed): install its package. */
export interface NotFound {
  kind: 'not-found';
  /** Why, as the system said it (e.g. `spawn nft ENOENT`). */
  reason: string;
  durationMs: number;
}

/** Still running when its time was up: it was killed, and may have done part of its work. */
export interface TimedOut {
  kind: 'timed-out';
  timeoutMs: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

/** Ended by a signal that was not our timeout (the OOM killer, an operator's kill). */
export interface Killed {
  kind: 'killed';
  signal: string;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export type CommandResult = Exited | NotFound | TimedOut | Killed;

export const succeeded = (r: CommandResult): r is Exited & { code: 0 } => r.kind === 'exited' && r.code === 0;

/** Exited with exactly this status (conntrack's 1 for "nothing matched", nft's 1 for "no such object"). */
export const exitedWith = (r: CommandResult, code: number): r is Exited => r.kind === 'exited' && r.code === code;

/** How it ended, for messages: "exit 1", "not found", "timed out after 30 s", "killed by SIGKILL". */
export function howEnded(r: CommandResult): string {
  switch (r.kind) {
    case 'exited':
      return `exit ${r.code}`;
    case 'not-found':
      return 'not found';
    case 'timed-out':
      return `timed out after ${r.timeoutMs / 1000} s`;
    case 'killed':
      return `killed by ${r.signal}`;
  }
}

export type CommandOutcome = 'ok' | 'failed' | 'timed-out' | 'not-found' | 'killed';

/** How it ended, as a metrics label or log field: any exit other than 0 is `failed`. */
export function outcomeOf(r: CommandResult): CommandOutcome {
  if (r.kind === 'exited') return r.code === 0 ? 'ok' : 'failed';
  return r.kind;
}

/** What it said about the failure, trimmed ('' when it said nothing). */
export const errorOutput = (r: CommandResult): string => (r.kind === 'not-found' ? r.reason : r.stderr).trim();

/** The first line of what it said about the failure ('' when it said nothing). */
export const firstErrorLine = (r: CommandResult): string => errorOutput(r).split('\n')[0] ?? '';

/** `what` failed, how, and the first line it printed: "nft list ruleset failed (exit 1): Error: …". */
export function failureMessage(what: string, r: CommandResult): string {
  return `${what} failed (${howEnded(r)}): ${firstErrorLine(r) || '(no message)'}`;
}

/** What is known of a finished child (startChild), as much as `endOf` reads. */
export interface ChildEnd {
  exitCode?: number;
  failed: boolean;
  timedOut: boolean;
  signal?: string;
  shortMessage?: string;
  stdout?: unknown;
  stderr?: unknown;
}

/**
 * The tagged end of a child process. Through nsenter a missing program is nsenter's own exit
 * 127 with "failed to execute", which is told apart here so no caller tests numbers.
 */
export function endOf(r: ChildEnd, timeoutMs: number, durationMs: number): CommandResult {
  const stdout = typeof r.stdout === 'string' ? r.stdout : '';
  const stderr = typeof r.stderr === 'string' ? r.stderr : '';
  if (r.exitCode !== undefined) {
    if (r.exitCode === 127 && /^nsenter: failed to execute/m.test(stderr)) return { kind: 'not-found', reason: stderr.trim(), durationMs };
    return { kind: 'exited', code: r.exitCode, stdout, stderr, durationMs };
  }
  if (r.timedOut) return { kind: 'timed-out', timeoutMs, stdout, stderr, durationMs };
  if (r.signal !== undefined) return { kind: 'killed', signal: r.signal, stdout, stderr, durationMs };
  // Never started: the message names the program and the errno (`spawn nft ENOENT`).
  return { kind: 'not-found', reason: (r.shortMessage ?? 'could not be started').split('\n').pop()!, durationMs };
}

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
}

export interface CommandQueueOptions {
  /**
   * Run every command inside this network namespace (a /var/run/netns/NAME path) through
   * nsenter. Tests and benchmarks use it to work on a namespace they made, never on the host.
   */
  netns?: string;
  /** Extra environment for every command (e.g. XTABLES_LOCKFILE for the legacy backend). */
  env?: Record<string, string>;
  /**
   * Told once about every finished command (metrics, the debug log). Wall time only: Node does
   * not report a child's CPU, and the cutime+cstime of /proc/self/stat would also count any
   * other child reaped meanwhile (nft monitor, ulogd, another queue's commands), in 10 ms ticks.
   */
  onDone?: (c: CommandDone) => void;
}

/** One finished command, named for metrics: never an address or a container id in `verb`. */
export interface CommandDone {
  /** The basename of the program run (inside a netns: that program, not nsenter). */
  program: string;
  /** What it did, from a small fixed list (save, restore, list, write, ..., other). */
  verb: string;
  result: CommandResult;
  /** Wall time from start to end, milliseconds. */
  ms: number;
}

/**
 * Far more than any listing dockgate reads (iptables-save of 5,000 containers is ~3 MB); a child
 * that prints more is killed, as a hung one is.
 */
const MAX_OUTPUT_BYTES = 256 * 1024 * 1024;

/**
 * One child process through Node's own execFile: its end, as much as endOf reads. Not execa: for
 * the short commands the queue runs, execa's stream and abort plumbing cost ~8 ms of CPU and
 * ~11 ms of wall per process against ~3 ms and ~6 ms here (measured on 100 runs of `true`), a
 * share of every sync and of the CPU at rest. A timed-out child is killed with SIGKILL: it is hung,
 * and an iptables-restore commits all or nothing anyway.
 */
function startChild(cmd: string, argv: readonly string[], input: string, timeoutMs: number, env: NodeJS.ProcessEnv): { pid: number | undefined; end: Promise<ChildEnd> } {
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  let child: ReturnType<typeof execFile> | undefined;
  const end = new Promise<ChildEnd>((resolve) => {
    child = execFile(cmd, argv, { env, encoding: 'utf8', maxBuffer: MAX_OUTPUT_BYTES, windowsHide: true }, (err: ExecFileException | null, stdout: string, stderr: string) => {
      clearTimeout(timer);
      if (err === null) return resolve({ exitCode: 0, failed: false, timedOut: false, stdout, stderr });
      if (timedOut) return resolve({ failed: true, timedOut: true, stdout, stderr });
      // A number: it ran and exited so. A string: it never started (ENOENT, EACCES) or printed too much.
      if (typeof err.code === 'number') return resolve({ exitCode: err.code, failed: true, timedOut: false, stdout, stderr });
      if (err.signal) return resolve({ failed: true, timedOut: false, signal: err.signal, stdout, stderr });
      if (err.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') return resolve({ failed: true, timedOut: false, signal: 'SIGTERM', stdout, stderr });
      resolve({ failed: true, timedOut: false, shortMessage: err.message, stdout, stderr });
    });
    // A child that exits without reading its input (or never starts) closes the pipe: not our error.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);
    timer = setTimeout(() => {
      timedOut = true;
      child?.kill('SIGKILL');
    }, timeoutMs);
  });
  return { pid: child!.pid, end };
}

export class CommandQueue {
  readonly #queue = new PQueue({ concurrency: 1 });
  #runs = 0;
  /**
   * Pids of the processes this queue started lately: `nft monitor` names the pid behind every
   * ruleset change, and a change of our own is not drift.
   */
  readonly #pids: number[] = [];

  /**
   * Every child's environment, made once: reading process.env goes through the C++ environ each
   * time (a sizeable share of a process start's CPU in Node), and the daemon's own environment
   * does not change while it runs.
   */
  readonly #env: Record<string, string | undefined>;

  constructor(readonly options: CommandQueueOptions = {}) {
    this.#env = { ...process.env, ...options.env, LC_ALL: 'C' };
  }

  /** Number of processes started so far (the benchmark and logs report it). */
  get runs(): number {
    return this.#runs;
  }

  get pending(): number {
    return this.#queue.size + this.#queue.pending;
  }

  /** Runs one command; never rejects for how the command ended, which the result says. */
  run(file: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    return this.#queue.add(
      async () => {
        this.#runs++;
        const started = performance.now();
        const timeoutMs = options.timeoutMs ?? 120_000;
        const [cmd, argv] = this.options.netns ? ['nsenter', [`--net=${this.options.netns}`, file, ...args]] : [file, args];
        const { pid, end } = startChild(cmd, argv, options.input ?? '', timeoutMs, this.#env);
        if (pid !== undefined) {
          this.#pids.push(pid);
          if (this.#pids.length > 64) this.#pids.shift();
        }
        const result = endOf(await end, timeoutMs, performance.now() - started);
        this.#tell(file, args, result);
        return result;
      },
      { throwOnTimeout: true },
    );
  }

  #tell(file: string, args: readonly string[], result: CommandResult): void {
    const onDone = this.options.onDone;
    if (!onDone) return;
    try {
      onDone({ ...commandName(file, args), result, ms: result.durationMs });
    } catch {
      // Bookkeeping must never turn a command's result into a rejection its caller does not expect.
    }
  }

  /** Whether `pid` is one of the last 64 processes this queue started (nsenter execs in place: same pid). */
  started(pid: number): boolean {
    return this.#pids.includes(pid);
  }

  /** Resolves when everything queued so far has finished. */
  idle(): Promise<void> {
    return this.#queue.onIdle();
  }
}
