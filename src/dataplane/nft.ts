// nft through the command queue: reads the ruleset as JSON, and inserts or deletes dockgate's
// one footprint rule in other firewalls' base chains. Knows nft's arguments and exit codes;
// what to insert where is decided in src/hostfw/.
import { type NftRuleset, isForeignTable, mergeRulesets, parseNftJson } from '../hostfw/nft-ruleset.js';
import { FOOTPRINT_MARK } from '../plan/marks.js';
import type { CommandQueue } from './command-queue.js';

export class NftError extends Error {
  override readonly name = 'NftError';
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

const NOT_FOUND = 127;
const HEX_MARK = `0x${FOOTPRINT_MARK.toString(16).padStart(8, '0')}`;

/** The footprint as nft arguments: `meta mark & BIT == BIT accept comment "dockgate"`. */
export const FOOTPRINT_ARGS: readonly string[] = ['meta', 'mark', 'and', HEX_MARK, '==', HEX_MARK, 'accept', 'comment', '"dockgate"'];

export class Nft {
  constructor(readonly queue: CommandQueue, readonly command = 'nft') {}

  async #json(args: string[]): Promise<NftRuleset> {
    const r = await this.queue.run(this.command, ['-j', ...args], { timeoutMs: 30_000 });
    if (r.exitCode === NOT_FOUND) throw new NftError(`${this.command} not found: install the nftables package`, r.exitCode);
    if (r.exitCode !== 0) throw new NftError(`${this.command} -j ${args.join(' ')} failed (exit ${r.exitCode}): ${r.stderr.trim().split('\n')[0] ?? ''}`, r.exitCode);
    return parseNftJson(r.stdout.trim());
  }

  /** Everything: what doctor and status show. */
  listRuleset(): Promise<NftRuleset> {
    return this.#json(['list', 'ruleset']);
  }

  /**
   * Only the tables iptables does not manage, one `list table` each. What the drift check reads:
   * dockgate's own tables can hold thousands of rules, the admin's a few dozen.
   */
  async listForeign(): Promise<NftRuleset> {
    const tables = (await this.#json(['list', 'tables'])).tables.filter((t) => isForeignTable(t.family, t.name));
    const parts: NftRuleset[] = [];
    for (const t of tables) {
      try {
        parts.push(await this.#json(['list', 'table', t.family, t.name]));
      } catch (err) {
        // Deleted between the two reads (firewalld reloading): it has nothing to judge now.
        if (err instanceof NftError && err.exitCode === 1) continue;
        throw err;
      }
    }
    return mergeRulesets(parts);
  }

  /**
   * Puts the footprint directly before the rule with handle `before`, or at the end of the chain
   * when there is none (before its policy).
   */
  async placeFootprint(family: string, table: string, chain: string, before: number | undefined): Promise<void> {
    const args = before === undefined ? ['add', 'rule', family, table, chain] : ['insert', 'rule', family, table, chain, 'position', String(before)];
    const r = await this.queue.run(this.command, [...args, ...FOOTPRINT_ARGS], { timeoutMs: 30_000 });
    if (r.exitCode !== 0) throw new NftError(`nft ${args.join(' ')} failed (exit ${r.exitCode}): ${r.stderr.trim().split('\n')[0] ?? ''}`, r.exitCode);
  }

  /** Deletes one rule by handle; false when it is gone already. */
  async deleteRule(family: string, table: string, chain: string, handle: number): Promise<boolean> {
    const r = await this.queue.run(this.command, ['delete', 'rule', family, table, chain, 'handle', String(handle)], { timeoutMs: 30_000 });
    return r.exitCode === 0;
  }

  /** Deletes an iptables table nft-side (an empty mangle table dockgate created). */
  async deleteTable(family: string, table: string): Promise<boolean> {
    const r = await this.queue.run(this.command, ['delete', 'table', family, table], { timeoutMs: 30_000 });
    return r.exitCode === 0;
  }
}
