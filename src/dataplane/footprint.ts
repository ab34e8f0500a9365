// dockgate's footprint in other firewalls: the mangle marks (iptables-restore) and one mark
// accept at the top of each foreign nft base chain that would drop what dockgate opens (nft
// insert/delete). Reads the kernel every time it is asked, so a firewall that rewrote its table
// (firewalld's reload, `nft -f /etc/nftables.conf`) gets the footprint back at the next check.
import { type FlowVerdict, analyse, chainsNeedingFootprint, footprintRules } from '../hostfw/analysis.js';
import { type NftChain, type NftRuleset, chainLabel } from '../hostfw/nft-ruleset.js';
import type { RuleSet, Table } from '../model/types.js';
import { type TableState, emptyTables } from '../plan/kernel-state.js';
import { MARK_TABLE, markDrift, markPlan, renderMarks } from '../plan/marks.js';
import type { Iptables } from './iptables.js';
import { type Nft, NftError } from './nft.js';

export type ForeignChainsMode = 'allow' | 'leave';

export interface FootprintResult {
  /** Chains that got the footprint / lost it ('family table chain'). */
  inserted: string[];
  removed: string[];
  /** The mangle table was rewritten (marks added, changed or removed). */
  marksWritten: boolean;
  /** Foreign base chains that would drop dockgate's openings without the footprint (whatever the mode). */
  needed: string[];
}

export interface FootprintState {
  ruleset: NftRuleset;
  /** The mangle marks equal what the plan needs (none when no chain needs them). */
  marksInPlace: boolean;
  /** Chains holding the footprint. */
  footprints: string[];
  needed: string[];
  verdicts: FlowVerdict[];
}

/** iptables' Table type knows the tables dockgate's plan writes; mangle is written only here. */
const MANGLE = MARK_TABLE as Table;

export class Footprint {
  /** Marks may be in the kernel (unknown at start: a previous run may have left some). */
  #marksMayExist = true;

  constructor(readonly iptables: Iptables, readonly nft: Nft) {}

  async #mangle(): Promise<TableState | undefined> {
    return (await this.iptables.save(MANGLE)).get(MANGLE);
  }

  /** Makes the footprint what the plan and mode need; returns what changed. */
  async sync(plan: RuleSet, mode: ForeignChainsMode): Promise<FootprintResult> {
    const rs = await this.nft.listForeign();
    const blocking = chainsNeedingFootprint(plan, rs);
    const neededChains = mode === 'allow' ? blocking : [];
    const needed = blocking.map(chainLabel);
    const want = neededChains.length > 0 ? markPlan(plan) : undefined;
    let marksWritten = false;
    if (want !== undefined || this.#marksMayExist) {
      const text = renderMarks(want, await this.#mangle());
      if (text !== '') {
        await this.iptables.restore(new Map([[MANGLE, text]]));
        marksWritten = true;
      }
      this.#marksMayExist = want !== undefined;
    }
    const inserted: string[] = [];
    const removed: string[] = [];
    const present = footprintRules(rs);
    const isNeeded = (c: NftChain): boolean => neededChains.some((n) => n.family === c.family && n.table === c.table && n.name === c.name);
    for (const chain of neededChains) {
      const mine = present.filter((f) => f.chain === chain);
      if (mine.length === 0) {
        await this.nft.insertFootprint(chain.family, chain.table, chain.name);
        inserted.push(chainLabel(chain));
      }
      // One is enough; a copy (a tool that saved and restored the ruleset twice) goes.
      for (const extra of mine.slice(1)) {
        if (await this.nft.deleteRule(chain.family, chain.table, chain.name, extra.handle)) removed.push(chainLabel(chain));
      }
    }
    for (const f of present) {
      if (isNeeded(f.chain)) continue;
      if (await this.nft.deleteRule(f.chain.family, f.chain.table, f.chain.name, f.handle)) removed.push(chainLabel(f.chain));
    }
    return { inserted, removed, marksWritten, needed };
  }

  /** Reads everything and judges every flow of the plan: what status and doctor show. */
  async inspect(plan: RuleSet, mode: ForeignChainsMode): Promise<FootprintState> {
    const rs = await this.nft.listRuleset();
    const neededChains = mode === 'allow' ? chainsNeedingFootprint(plan, rs) : [];
    const want = neededChains.length > 0 ? markPlan(plan) : undefined;
    // Marks count only when they are all there: a half-written mirror could mark too little.
    const marksInPlace = want !== undefined && markDrift(want, await this.#mangle()).clean;
    const footprints = [...new Set(footprintRules(rs).map((f) => chainLabel(f.chain)))];
    return { ruleset: rs, marksInPlace, footprints, needed: neededChains.map(chainLabel), verdicts: analyse(plan, rs, { marksInPlace }) };
  }

  /**
   * Removes every footprint rule and mark (flush). Returns what it touched. Without nft (a legacy
   * host with no nftables package) there can be no footprint rule to remove; the marks still go.
   */
  async remove(): Promise<string[]> {
    const done: string[] = [];
    let rs: NftRuleset | undefined;
    try {
      rs = await this.nft.listForeign();
    } catch (err) {
      if (!(err instanceof NftError && err.exitCode === 127)) throw err;
    }
    for (const f of rs ? footprintRules(rs) : []) {
      if (await this.nft.deleteRule(f.chain.family, f.chain.table, f.chain.name, f.handle)) done.push(chainLabel(f.chain));
    }
    const text = renderMarks(undefined, await this.#mangle());
    if (text !== '') {
      await this.iptables.restore(new Map([[MANGLE, text]]));
      done.push(`ip ${MARK_TABLE}`);
      // As with the other tables: an nft table left empty only because dockgate wrote to it goes.
      if (rs && (await this.iptables.backend()) === 'nf_tables' && emptyTables(await this.iptables.save(MANGLE)).includes(MANGLE)) {
        await this.nft.deleteTable('ip', MARK_TABLE);
      }
    }
    this.#marksMayExist = false;
    return done;
  }
}
