// iptables-save / iptables-restore through the command queue. Knows the exit codes and error
// format of iptables; knows nothing about containers.
import type { Table } from '../model/types.js';
import { type KernelState, parseSave } from '../plan/kernel-state.js';
import type { CommandQueue } from './command-queue.js';

export interface IptablesOptions {
  restoreCommand: string;
  saveCommand: string;
  waitSeconds: number;
}

export class RestoreError extends Error {
  override readonly name = 'RestoreError';
  constructor(
    message: string,
    readonly exitCode: number,
    readonly stderr: string,
    /** The input lines iptables-restore named as failing (with their line numbers). */
    readonly failingLines: string[],
  ) {
    super(message);
  }
  /** Exit 4 is "resource problem", in practice the xtables lock: try again, nothing was lost. */
  get retryable(): boolean {
    return this.exitCode === 4 || this.exitCode === 124;
  }
}

export class SaveError extends Error {
  override readonly name = 'SaveError';
  constructor(message: string, readonly exitCode: number, readonly stderr: string) {
    super(message);
  }
}

export class Iptables {
  constructor(readonly queue: CommandQueue, readonly options: IptablesOptions) {}

  async save(table?: Table): Promise<KernelState> {
    const args = table ? ['-t', table] : [];
    const r = await this.queue.run(this.options.saveCommand, args);
    if (r.exitCode !== 0) {
      throw new SaveError(`${this.options.saveCommand} failed (exit ${r.exitCode}): ${r.stderr.trim()}`, r.exitCode, r.stderr);
    }
    return parseSave(r.stdout);
  }

  /** One process for all given tables; each table is committed atomically by the kernel. */
  async restore(texts: ReadonlyMap<Table, string>): Promise<{ durationMs: number }> {
    const input = [...texts.values()].join('');
    if (input === '') return { durationMs: 0 };
    const args = ['-w', String(this.options.waitSeconds), '--noflush'];
    const r = await this.queue.run(this.options.restoreCommand, args, { input, timeoutMs: (this.options.waitSeconds + 60) * 1000 });
    if (r.exitCode !== 0) {
      const lines = input.split('\n');
      const failing = [...r.stderr.matchAll(/line:? (\d+)/gi)].map((m) => {
        const n = Number(m[1]);
        return `${n}: ${lines[n - 1] ?? '?'}`;
      });
      throw new RestoreError(
        `${this.options.restoreCommand} failed (exit ${r.exitCode}): ${r.stderr.trim().split('\n')[0] ?? ''}`,
        r.exitCode,
        r.stderr.trim(),
        failing,
      );
    }
    return { durationMs: r.durationMs };
  }
}
