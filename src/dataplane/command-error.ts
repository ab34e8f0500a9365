// What a firewall helper (ipset, nft) throws when a command it ran through the queue failed.
import type { CommandResult } from './command-queue.js';

/** A command that did not succeed; `ended` says how (never a success). */
export class CommandError extends Error {
  override readonly name: string = 'CommandError';
  constructor(
    message: string,
    readonly ended: CommandResult,
  ) {
    super(message);
  }
  /** The program is not on this host at all. */
  get missing(): boolean {
    return this.ended.kind === 'not-found';
  }
}
