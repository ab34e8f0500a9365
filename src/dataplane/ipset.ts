// dockgate's ipsets (egress/sets.ts): the addresses of the DNS names in egress allow-lists, each
// member with its own timeout, so a new answer is one `ipset restore` and an address that left
// the answer ages out in the kernel. Every command goes through the one command queue.
import { type CommandQueue, failureMessage, succeeded } from './command-queue.js';
import { CommandError } from './command-error.js';
import type { EgressSet, Family } from '../model/types.js';
import { SET_NAME, renderSetCreates } from '../egress/sets.js';

/**
 * An ipset command failed. `missing`: no ipset on this host, so egress names cannot work, and
 * there is no set of dockgate's to remove.
 */
export class IpsetError extends CommandError {
  override readonly name = 'IpsetError';
}

/** What a set holds now, as `ipset save` says. */
export interface SetState {
  family: Family;
  members: Map<string, number>;
}

export class Ipsets {
  constructor(
    readonly queue: CommandQueue,
    readonly command = 'ipset',
  ) {}

  async #run(args: string[], input?: string): Promise<string> {
    const r = await this.queue.run(this.command, args, { input, timeoutMs: 30_000 });
    if (!succeeded(r)) throw new IpsetError(failureMessage(`${this.command} ${args.join(' ')}`, r), r);
    return r.stdout;
  }

  /** dockgate's sets in the kernel and their members with the seconds left. */
  async read(): Promise<Map<string, SetState>> {
    const out = await this.#run(['save']);
    const sets = new Map<string, SetState>();
    for (const line of out.split('\n')) {
      const create = /^create (\S+) hash:ip family (inet6?) /.exec(line);
      if (create && SET_NAME.test(create[1]!)) sets.set(create[1]!, { family: create[2] === 'inet6' ? 6 : 4, members: new Map() });
      const add = /^add (\S+) (\S+) timeout (\d+)/.exec(line);
      if (add) sets.get(add[1]!)?.members.set(add[2]!, Number(add[3]));
    }
    return sets;
  }

  /** Creates the sets that are missing (one restore); existing ones are kept with their members. */
  async ensure(sets: readonly EgressSet[]): Promise<void> {
    if (sets.length === 0) return;
    await this.#run(['-exist', 'restore'], `${renderSetCreates(sets).join('\n')}\n`);
  }

  /** Adds (or refreshes the timeout of) each address: one small write. */
  async add(set: string, members: ReadonlyArray<{ address: string; keepS: number }>): Promise<void> {
    await this.addMany(members.map((m) => ({ set, ...m })));
  }

  /** The same for addresses of several sets, in one `ipset restore`. */
  async addMany(members: ReadonlyArray<{ set: string; address: string; keepS: number }>): Promise<void> {
    if (members.length === 0) return;
    const lines = members.map((m) => `add ${m.set} ${m.address} timeout ${Math.max(1, Math.min(2_147_483, Math.round(m.keepS)))}`);
    await this.#run(['-exist', 'restore'], `${lines.join('\n')}\n`);
  }

  /** Destroys dockgate's sets that `keep` does not name (of `have`, a read in the same sync, or a fresh one); call after no rule matches on them. */
  async removeOthers(keep: ReadonlySet<string>, have?: ReadonlyMap<string, SetState>): Promise<string[]> {
    have ??= await this.read();
    const gone = [...have.keys()].filter((n) => !keep.has(n));
    for (const n of gone) await this.#run(['destroy', n]);
    return gone;
  }
}
