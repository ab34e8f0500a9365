// The one door through which dockgate runs processes. Concurrency 1: iptables-restore,
// iptables-save and conntrack never race each other, and their order is the order asked.
import { execa } from 'execa';
import PQueue from 'p-queue';

export interface CommandResult {
  stdout: string;
  stderr: string;
  exitCode: number;
  durationMs: number;
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
}

export class CommandQueue {
  readonly #queue = new PQueue({ concurrency: 1 });
  #runs = 0;
  /**
   * Pids of the processes this queue started lately: `nft monitor` names the pid behind every
   * ruleset change, and a change of our own is not drift.
   */
  readonly #pids: number[] = [];

  constructor(readonly options: CommandQueueOptions = {}) {}

  /** Number of processes started so far (the benchmark and logs report it). */
  get runs(): number {
    return this.#runs;
  }

  get pending(): number {
    return this.#queue.size + this.#queue.pending;
  }

  run(file: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    return this.#queue.add(
      async () => {
        this.#runs++;
        const started = performance.now();
        const [cmd, argv] = this.options.netns ? ['nsenter', [`--net=${this.options.netns}`, file, ...args]] : [file, args];
        const child = execa(cmd, argv, {
          input: options.input ?? '',
          reject: false,
          timeout: options.timeoutMs ?? 120_000,
          stripFinalNewline: false,
          env: { ...this.options.env, LC_ALL: 'C' },
        });
        if (child.pid !== undefined) {
          this.#pids.push(child.pid);
          if (this.#pids.length > 64) this.#pids.shift();
        }
        const r = await child;
        if (r.failed && r.exitCode === undefined) {
          // Not started at all (ENOENT) or killed by the timeout: report as exit 127/124.
          return {
            stdout: r.stdout ?? '',
            stderr: `${r.stderr ?? ''}${r.shortMessage}`,
            exitCode: r.timedOut ? 124 : 127,
            durationMs: performance.now() - started,
          };
        }
        return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? 1, durationMs: performance.now() - started };
      },
      { throwOnTimeout: true },
    );
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
