// dockgate's footprint in other firewalls: the mangle marks (iptables-restore) and one mark
// accept directly before the final drop of each foreign nft base chain that would drop what dockgate opens (nft
// insert/delete). Reads the kernel every time it is asked, so a firewall that rewrote its table
// (firewalld's reload, `nft -f /etc/nftables.conf`) gets the footprint back at the next check.
import { type FlowVerdict, analyse } from '../hostfw/analysis.js';
import { type FootprintSpot, describeSpot, footprintRules, footprintSpots, holds } from '../hostfw/footprint-spots.js';
import { type NftChain, type NftRuleset, chainLabel } from '../hostfw/nft-ruleset.js';
import type { Family, RuleSet, Table } from '../model/types.js';
import { type TableState, emptyTables } from '../plan/kernel-state.js';
import { MARK_TABLE, MARK_TABLES, markPlan, marksDrift, renderMarks } from '../plan/marks.js';
import { familyRuleSet } from '../plan/ruleset.js';
import type { Config } from '../config/schema.js';
import { DEFAULT_MARK_BIT, type MarkBit } from '../model/mark-bit.js';
import type { CommandQueue } from './command-queue.js';
import { probedIptables } from './families.js';
import type { Iptables } from './iptables.js';
import { Dataplane } from './dataplane.js';
import { Nft, NftError } from './nft.js';

export type ForeignChainsMode = 'allow' | 'leave';

export interface FootprintPlacement {
  /** The base chain it serves ('family table chain'). */
  chain: string;
  /** Where in it, for the log: `inet admin input (at its end, before the policy drop)`. */
  where: string;
}

export interface FootprintResult {
  /** Base chains that got the footprint, and where; chains that lost one ('family table chain'). */
  inserted: FootprintPlacement[];
  removed: string[];
  /** The mangle table was rewritten (marks added, changed or removed). */
  marksWritten: boolean;
  /** Foreign base chains that would drop dockgate's openings without the footprint (whatever the mode). */
  needed: string[];
  /**
   * A chain went away between the read and the insert (firewalld's reload swaps tables): the
   * caller should look again soon rather than wait for the next change.
   */
  retry: boolean;
  /** One family's marks could not be written (the other's were): why. */
  marksFailed?: string;
}

export interface FootprintPreview {
  /** Foreign base chains that would drop dockgate's openings without the footprint (whatever the mode). */
  needed: string[];
  /** The mangle marks per family, as iptables-restore text; none when nothing needs them or the mode is leave. */
  marks: Array<{ family: Family; text: string }>;
  /** Each mark accept: the base chain it serves and where in it. */
  footprints: FootprintPlacement[];
}

export interface FootprintState {
  ruleset: NftRuleset;
  /** The mangle marks equal what the plan needs (none when no chain needs them). */
  marksInPlace: boolean;
  /** The same for IPv6 (ip6tables' mangle); false without an IPv6 dataplane. */
  marksInPlace6: boolean;
  /** Chains holding the footprint. */
  footprints: string[];
  needed: string[];
  verdicts: FlowVerdict[];
}

const MANGLE: Table = MARK_TABLE;

/** The footprint for a config, on a queue: IPv6 marks too where the host has IPv6 (as the daemon's dataplane). */
export async function footprintFor(config: Config, queue: CommandQueue): Promise<Footprint> {
  const { v4, v6 } = await probedIptables(queue, config.iptables);
  return new Footprint(v4, new Nft(queue), v6);
}

export class Footprint {
  /** Marks may be in the kernel, per family (unknown at start: a previous run may have left some). */
  readonly #marksMayExist = new Map<Family, boolean>([
    [4, true],
    [6, true],
  ]);

  /** The marks of each family, written like the plan's tables (read, compare, diff or rewrite, forget on failure). */
  readonly #marks = new Map<Family, Dataplane>();

  /** `iptables6`: ip6tables, on hosts with IPv6; its marks make IPv6 openings pass too. */
  constructor(readonly iptables: Iptables, readonly nft: Nft, readonly iptables6?: Iptables) {
    for (const { family, iptables: ipt } of this.#families()) this.#marks.set(family, new Dataplane(ipt, MARK_TABLES));
  }

  #families(): Array<{ family: Family; iptables: Iptables }> {
    return [{ family: 4, iptables: this.iptables }, ...(this.iptables6 ? [{ family: 6 as const, iptables: this.iptables6 }] : [])];
  }

  async #mangle(iptables: Iptables): Promise<TableState | undefined> {
    return (await iptables.save(MANGLE)).get(MANGLE);
  }

  /** The marks one family needs for this plan (undefined: that family plans nothing). */
  static #wanted(plan: RuleSet, family: Family, mark: MarkBit): RuleSet | undefined {
    const rules = familyRuleSet(plan, family);
    return rules ? markPlan(rules, mark) : undefined;
  }

  /**
   * Each family's marks made what `want` says for it; one family's failure (an ip6tables that
   * cannot write) does not keep the other's from being written. Returns whether anything was
   * written, and the first failure.
   */
  async #writeMarks(want: (family: Family) => RuleSet | undefined): Promise<{ written: boolean; failure?: Error }> {
    let written = false;
    let failure: Error | undefined;
    for (const { family } of this.#families()) {
      const w = want(family);
      if (w === undefined && !this.#marksMayExist.get(family)) continue;
      const marks = this.#marks.get(family)!;
      try {
        // Read every time (repair, not sync): a firewall tool that rewrote mangle gets the marks
        // back at the next sync; with nothing drifted, only what the plan changed is written.
        if (w !== undefined) written = (await marks.repair(w)).kind !== 'none' || written;
        else written = (await marks.flushReport()).tables.length > 0 || written;
        this.#marksMayExist.set(family, w !== undefined);
      } catch (err) {
        failure ??= err as Error;
      }
    }
    return failure ? { written, failure } : { written };
  }

  /**
   * Before the filter chains are written: where marks are in use, make them the new plan's, so a
   * mark never outlives the accept it mirrors (a removed opening must not stay open through
   * another firewall's footprint for the time between the two writes). Whether marks are in use
   * is the last sync's judgement; `sync` after the write settles the rest. A new `mark` (a reload)
   * moves the marks here too: the footprint with the old bit then passes nothing until `sync`
   * puts the new one in, which fails closed.
   */
  async marksFirst(plan: RuleSet, mark: MarkBit = DEFAULT_MARK_BIT): Promise<boolean> {
    // A drift check with the same plan: the sync after the write looks at the kernel anyway.
    if (!this.#marksInUse || (plan === this.#lastPlan && mark === this.#lastMark)) return false;
    const r = await this.#writeMarks((family) => Footprint.#wanted(plan, family, mark));
    if (r.failure) throw r.failure;
    return r.written;
  }

  /** The last sync wrote marks for a plan (foreign_chains allow, and some chain needs them). */
  #marksInUse = false;
  #lastPlan: RuleSet | undefined;
  #lastMark: MarkBit | undefined;

  /**
   * Makes the footprint what the plan and mode need, with `mark` (`foreign_chains_mark`) as the
   * bit of marks and accepts; returns what changed. A footprint with another bit (from before a
   * reload) is replaced like one out of place.
   */
  async sync(plan: RuleSet, mode: ForeignChainsMode, mark: MarkBit = DEFAULT_MARK_BIT): Promise<FootprintResult> {
    const rs = await this.nft.listForeign();
    const spots = footprintSpots(plan, rs, this.iptables6 !== undefined);
    const wanted = mode === 'allow' ? spots : [];
    const needed = [...new Set(spots.map((s) => chainLabel(s.base)))];
    const marks = await this.#writeMarks((family) => (wanted.length > 0 ? Footprint.#wanted(plan, family, mark) : undefined));
    this.#marksInUse = wanted.length > 0;
    this.#lastPlan = plan;
    this.#lastMark = mark;
    const marksWritten = marks.written;
    const inserted: FootprintPlacement[] = [];
    const removed: string[] = [];
    const present = footprintRules(rs);
    const kept = new Set<(typeof present)[number]>();
    let retry = false;
    for (const spot of wanted) {
      // One in place is enough; a copy (a tool that saved and restored the ruleset twice) goes.
      const mine = present.find((f) => f.bit === mark && holds(spot, f.chain, f.index));
      if (mine) {
        kept.add(mine);
        continue;
      }
      try {
        await this.nft.placeFootprint(spot.chain, spot.before?.handle, mark);
        inserted.push({ chain: chainLabel(spot.base), where: describeSpot(spot) });
      } catch (err) {
        // Gone since the read (exit 1, "No such file or directory"): the others still get theirs.
        if (!(err instanceof NftError && err.refused)) throw err;
        retry = true;
      }
    }
    // Out of place (above a ban that came later, or where an older dockgate put it), with an old
    // bit, or not needed: it goes, after its replacement is in.
    for (const f of present) {
      if (kept.has(f)) continue;
      if (await this.nft.deleteFootprint(f.chain, f.handle)) removed.push(chainLabel(f.chain));
    }
    // The footprint went in whatever one family's marks did; the failure is the caller's to report.
    return { inserted, removed, marksWritten, needed, retry, ...(marks.failure ? { marksFailed: marks.failure.message } : {}) };
  }

  /**
   * What `sync` would write for this plan, without writing: each family's mangle marks as
   * iptables-restore text (the whole of dockgate's part, as on an empty table) and where the mark
   * accept would go in other firewalls' chains. For `dockgate plan`.
   */
  async preview(plan: RuleSet, mode: ForeignChainsMode, mark: MarkBit = DEFAULT_MARK_BIT): Promise<FootprintPreview> {
    const rs = await this.nft.listForeign();
    const spots = footprintSpots(plan, rs, this.iptables6 !== undefined);
    const needed = [...new Set(spots.map((s) => chainLabel(s.base)))];
    if (mode === 'leave' || spots.length === 0) return { needed, marks: [], footprints: [] };
    const marks: FootprintPreview['marks'] = [];
    for (const { family } of this.#families()) {
      const want = Footprint.#wanted(plan, family, mark);
      if (want) marks.push({ family, text: renderMarks(want, undefined) });
    }
    return { needed, marks, footprints: spots.map((s) => ({ chain: chainLabel(s.base), where: describeSpot(s) })) };
  }

  /** Reads everything and judges every flow of the plan: what status and doctor show. */
  async inspect(plan: RuleSet, mode: ForeignChainsMode, mark: MarkBit = DEFAULT_MARK_BIT): Promise<FootprintState> {
    const rs = await this.nft.listRuleset();
    const ipv6Marks = this.iptables6 !== undefined;
    const spots: FootprintSpot[] = mode === 'allow' ? footprintSpots(plan, rs, ipv6Marks) : [];
    // Marks count only when they are all there: a half-written mirror could mark too little.
    const inPlace = new Map<Family, boolean>();
    for (const { family, iptables } of this.#families()) {
      const want = spots.length > 0 ? Footprint.#wanted(plan, family, mark) : undefined;
      const mangle = await this.#mangle(iptables);
      // A table iptables-save cannot show may hold anything: never "in place".
      inPlace.set(family, want !== undefined && mangle?.incompatible === undefined && marksDrift(want, mangle).clean);
    }
    const marksInPlace = inPlace.get(4) ?? false;
    const marksInPlace6 = inPlace.get(6) ?? false;
    // Named by the base chain they serve, as `needed` is; one out of place, by where it is.
    const present = footprintRules(rs);
    const serves = (s: FootprintSpot, f: (typeof present)[number]): boolean => f.bit === mark && holds(s, f.chain, f.index);
    const footprints = [
      ...new Set([
        ...spots.filter((s) => present.some((f) => serves(s, f))).map((s) => chainLabel(s.base)),
        ...present.filter((f) => !spots.some((s) => serves(s, f))).map((f) => chainLabel(f.chain)),
      ]),
    ];
    const neededChains = [...new Set(spots.map((s) => s.base))];
    return {
      ruleset: rs,
      marksInPlace,
      marksInPlace6,
      footprints,
      needed: neededChains.map(chainLabel),
      verdicts: analyse(plan, rs, { marksInPlace, marksInPlace6, mark }),
    };
  }

  /**
   * Removes every footprint rule and mark (flush), whatever their bit. Returns what it touched. Without nft (a legacy
   * host with no nftables package) there can be no footprint rule to remove; the marks still go.
   */
  async remove(): Promise<string[]> {
    const done: string[] = [];
    let rs: NftRuleset | undefined;
    try {
      rs = await this.nft.listForeign();
    } catch (err) {
      if (!(err instanceof NftError && err.missing)) throw err;
    }
    for (const f of rs ? footprintRules(rs) : []) {
      if (await this.nft.deleteFootprint(f.chain, f.handle)) done.push(chainLabel(f.chain));
    }
    for (const { family, iptables } of this.#families()) {
      const text = renderMarks(undefined, await this.#mangle(iptables));
      if (text === '') continue;
      await iptables.restore(new Map([[MANGLE, text]]));
      done.push(`${family === 6 ? 'ip6' : 'ip'} ${MARK_TABLE}`);
      // As with the other tables: an nft table left empty only because dockgate wrote to it goes.
      if (rs && (await iptables.backend()) === 'nf_tables' && emptyTables(await iptables.save(MANGLE)).includes(MANGLE)) {
        await this.nft.deleteTable(family === 6 ? 'ip6' : 'ip', MARK_TABLE);
      }
    }
    for (const f of [4, 6] as const) this.#marksMayExist.set(f, false);
    return done;
  }
}
