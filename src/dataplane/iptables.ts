// iptables-save / iptables-restore through the command queue. Knows the exit codes and error
// format of iptables; knows nothing about containers.
import type { Family, Table } from '../model/types.js';
import { type KernelState, parseSave } from '../plan/kernel-state.js';
import { assertRestoreGrammar } from '../plan/restore-grammar.js';
import { type CommandQueue, type CommandResult, exitedWith, failureMessage, succeeded } from './command-queue.js';

export interface IptablesOptions {
  restoreCommand: string;
  saveCommand: string;
  waitSeconds: number;
}

export class RestoreError extends Error {
  override readonly name = 'RestoreError';
  constructor(
    message: string,
    /** How iptables-restore ended (never a success). */
    readonly ended: CommandResult,
    readonly stderr: string,
    /** The input lines iptables-restore named as failing (with their line numbers). */
    readonly failingLines: string[],
  ) {
    super(message);
  }
  /** Exit 4 is "resource problem", in practice the xtables lock: try again, nothing was lost. */
  get retryable(): boolean {
    return exitedWith(this.ended, 4) || this.ended.kind === 'timed-out';
  }
}

export class SaveError extends Error {
  override readonly name = 'SaveError';
  constructor(message: string, readonly ended: CommandResult) {
    super(message);
  }
}

export type Backend = 'nf_tables' | 'legacy' | 'unknown';

/** The backend an iptables program names in its `--version` line, e.g. 'iptables-save v1.8.9 (nf_tables)'. */
export function backendOf(version: string): Backend {
  if (version.includes('nf_tables')) return 'nf_tables';
  if (version.includes('legacy')) return 'legacy';
  return 'unknown';
}

export class Iptables {
  constructor(
    readonly queue: CommandQueue,
    readonly options: IptablesOptions,
    /** 4 for iptables, 6 for ip6tables: which nft family its tables live in. */
    readonly family: Family = 4,
  ) {}

  async save(table?: Table): Promise<KernelState> {
    const args = table ? ['-t', table] : [];
    const r = await this.queue.run(this.options.saveCommand, args);
    if (!succeeded(r)) {
      throw new SaveError(failureMessage(this.options.saveCommand, r), r);
    }
    return parseSave(r.stdout);
  }

  /** 'nf_tables' or 'legacy', as the save command reports its own version. */
  async backend(): Promise<Backend> {
    const r = await this.queue.run(this.options.saveCommand, ['--version']);
    return succeeded(r) ? backendOf(r.stdout) : 'unknown';
  }

  /** Deletes an (empty) nft table, so a flush leaves no trace. nft backend only. */
  async dropTable(table: Table): Promise<boolean> {
    const r = await this.queue.run('nft', ['delete', 'table', this.family === 6 ? 'ip6' : 'ip', table]);
    return succeeded(r);
  }

  /**
   * One process for all given tables (raw, nat, filter, or the footprint's mangle). Each table is
   * committed atomically, one after another: a failure leaves the tables before it committed (the
   * Dataplane then rereads the kernel). The text is held to dockgate's restore grammar first: any
   * line outside it (whatever let it through the planner) throws RestoreGrammarError, naming the
   * line and its container, and nothing at all is written.
   */
  async restore(texts: ReadonlyMap<Table | 'mangle', string>): Promise<{ durationMs: number }> {
    const input = [...texts.values()].join('');
    if (input === '') return { durationMs: 0 };
    assertRestoreGrammar(input, this.options.restoreCommand, { family: this.family, diff: true });
    return this.#run(input);
  }

  /**
   * Text dockgate did not plan and that names chains not its own: Docker's chains, removed once
   * at install (install/docker-chains.ts builds it from what iptables-save showed). The only
   * writer outside the grammar.
   */
  async restoreDockerFlush(input: string): Promise<{ durationMs: number }> {
    if (input === '') return { durationMs: 0 };
    return this.#run(input);
  }

  async #run(input: string): Promise<{ durationMs: number }> {
    const args = ['-w', String(this.options.waitSeconds), '--noflush'];
    const r = await this.queue.run(this.options.restoreCommand, args, { input, timeoutMs: (this.options.waitSeconds + 60) * 1000 });
    if (!succeeded(r)) {
      const stderr = r.kind === 'not-found' ? r.reason : r.stderr;
      throw new RestoreError(failureMessage(this.options.restoreCommand, r), r, stderr.trim(), failingLines(input, stderr));
    }
    return { durationMs: r.durationMs };
  }
}

/**
 * The input lines an iptables-restore error is about. The nft backend reports errors found at
 * commit time against the COMMIT line, so lines naming the quoted object are added too.
 */
export function failingLines(input: string, stderr: string): string[] {
  const lines = input.split('\n');
  const out = new Set<string>();
  for (const m of stderr.matchAll(/line:? (\d+)/gi)) {
    const n = Number(m[1]);
    out.add(`${n}: ${lines[n - 1] ?? '?'}`);
  }
  const quoted = [...stderr.matchAll(/['`]([^'`\s]+)'/g)].map((m) => m[1]!);
  for (const token of quoted) {
    lines.forEach((l, i) => {
      if (out.size < 8 && l.startsWith('-') && l.includes(token)) out.add(`${i + 1}: ${l}`);
    });
  }
  return [...out];
}
