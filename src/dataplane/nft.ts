// nft through the command queue: reads the ruleset as JSON, and places or deletes dockgate's
// footprint rule in other firewalls' chains. Knows nft's arguments and exit codes;
// what to insert where is decided in src/hostfw/.
import { isFootprintRule } from '../hostfw/footprint-rule.js';
import { FOOTPRINT_FAMILIES, type NftRuleset, isForeignTable, mergeRulesets, parseChainTables, parseNftJson } from '../hostfw/nft-ruleset.js';
import { type MarkBit, hexMark } from '../model/mark-bit.js';
import { type CommandQueue, type CommandResult, exitedWith, failureMessage, succeeded } from './command-queue.js';
import { CommandError } from './command-error.js';

/** An nft command failed. `missing`: no nft on this host (a legacy host without the nftables package). */
export class NftError extends CommandError {
  override readonly name = 'NftError';
  /** nft ran and refused (exit 1): for a read or a delete, the object is not there (any more). */
  get refused(): boolean {
    return exitedWith(this.ended, 1);
  }
}

/** The footprint as nft arguments: `meta mark & BIT == BIT accept comment "dockgate"`. */
export const footprintArgs = (bit: MarkBit): readonly string[] => ['meta', 'mark', 'and', hexMark(bit), '==', hexMark(bit), 'accept', 'comment', '"dockgate"'];

/** The footprint as nft JSON statements (what `footprintArgs` says on a command line). */
const footprintExpr = (bit: MarkBit): object[] => [{ match: { op: '==', left: { '&': [{ meta: { key: 'mark' } }, bit] }, right: bit } }, { accept: null }];

/** Where a rule is: family, table and chain, as nft's JSON names them. */
export interface ChainRef {
  family: string;
  table: string;
  name: string;
}

// Every call goes through nft's JSON input (`nft -j '{"nftables": ...}'`): names are JSON strings there, so a
// foreign table or chain called `2nd` or `my chain`, which nft's command-line grammar would
// have to quote, works like any other.
export class Nft {
  constructor(readonly queue: CommandQueue, readonly command = 'nft') {}

  /** Runs nft; throws when there is no nft to run. */
  async #run(commands: object[]): Promise<CommandResult> {
    // As one argument, not on stdin: Node's pipes are sockets, which nft cannot open as a file.
    const r = await this.queue.run(this.command, ['-j', JSON.stringify({ nftables: commands })], { timeoutMs: 30_000 });
    if (r.kind === 'not-found') throw new NftError(`${this.command} not found: install the nftables package`, r);
    return r;
  }

  async #list(what: string, command: object): Promise<NftRuleset> {
    const r = await this.#run([{ list: command }]);
    if (!succeeded(r)) throw new NftError(failureMessage(`${this.command} list ${what}`, r), r);
    return parseNftJson(r.stdout.trim(), `${this.command} -j list ${what}`);
  }

  /** Everything: what doctor and status show. */
  listRuleset(): Promise<NftRuleset> {
    return this.#list('ruleset', { ruleset: null });
  }

  /**
   * Only the ip, ip6 and inet tables iptables does not manage, one `list table` each: what the
   * footprint is judged on at every sync. dockgate's own tables can hold thousands of rules, the
   * admin's a few dozen. Other families are left out: the footprint can work in none of them
   * (hostfw/flows.ts), and one of them is dockgate's own `bridge dockgate`, with an element per
   * container, which the anti-spoofing read lists anyway. Tables are found through `list
   * chains`, not `list tables`: nft 1.0.x fetches every rule of every table for `list tables`
   * (150 ms of CPU beside 1,000 containers' rules, more than iptables-save), and only the chains
   * for `list chains` (15 ms). A table without chains drops nothing.
   */
  async listForeign(): Promise<NftRuleset> {
    const r = await this.#run([{ list: { chains: null } }]);
    if (!succeeded(r)) throw new NftError(failureMessage(`${this.command} list chains`, r), r);
    const tables = parseChainTables(r.stdout.trim(), `${this.command} -j list chains`)
      .filter((t) => FOOTPRINT_FAMILIES.has(t.family) && isForeignTable(t.family, t.table))
      .map((t) => ({ family: t.family, name: t.table }));
    const parts: NftRuleset[] = [];
    for (const t of tables) {
      try {
        parts.push(await this.#list(`table ${t.family} ${t.name}`, { table: { family: t.family, name: t.name } }));
      } catch (err) {
        // Deleted between the two reads (firewalld reloading): it has nothing to judge now.
        if (err instanceof NftError && err.refused) continue;
        throw err;
      }
    }
    return mergeRulesets(parts);
  }

  /**
   * Puts the footprint for `bit` directly before the rule with handle `before`, or at the end of
   * the chain when there is none (before its policy).
   */
  async placeFootprint(chain: ChainRef, before: number | undefined, bit: MarkBit): Promise<void> {
    const rule = { family: chain.family, table: chain.table, chain: chain.name, ...(before !== undefined ? { handle: before } : {}), expr: footprintExpr(bit), comment: 'dockgate' };
    const verb = before === undefined ? 'add' : 'insert';
    const r = await this.#run([{ [verb]: { rule } }]);
    if (!succeeded(r)) {
      const where = `${chain.family} ${chain.table} ${chain.name}${before !== undefined ? ` before handle ${before}` : ''}`;
      throw new NftError(failureMessage(`nft ${verb} rule ${where}`, r), r);
    }
  }

  /**
   * Deletes dockgate's footprint rule at this handle, whatever its bit; false when it is gone already, or when the
   * rule at that handle is no longer dockgate's: a firewall that rebuilt its table since the read
   * may have given the handle to a rule of its own, which must never be deleted. The chain is
   * read again right before the delete, on the same queue, so only a rebuild in between those two
   * commands could still slip through.
   */
  async deleteFootprint(chain: ChainRef, handle: number): Promise<boolean> {
    let now: NftRuleset;
    try {
      now = await this.#list(`chain ${chain.family} ${chain.table} ${chain.name}`, { chain: { family: chain.family, table: chain.table, name: chain.name } });
    } catch (err) {
      if (err instanceof NftError && err.refused) return false;
      throw err;
    }
    const rule = now.chains[0]?.rules.find((r) => r.handle === handle);
    if (!rule || !isFootprintRule(rule)) return false;
    const r = await this.#run([{ delete: { rule: { family: chain.family, table: chain.table, chain: chain.name, handle } } }]);
    return succeeded(r);
  }

  /** Deletes an iptables table nft-side (an empty mangle table dockgate created). */
  async deleteTable(family: string, table: string): Promise<boolean> {
    const r = await this.#run([{ delete: { table: { family, name: table } } }]);
    return succeeded(r);
  }
}
