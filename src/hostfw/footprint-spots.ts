// Where dockgate's footprint goes in other firewalls' base chains: directly before the first drop
// that catches every packet dockgate's marks cover, below every rule that drops only some. Pure.
import type { RuleSet } from '../model/types.js';
import type { MarkBit } from '../model/mark-bit.js';
import { type Hook, chainsOnPath, flowsOf, footprintWorksIn, sees } from './flows.js';
import { type Packet, describeRule, evaluateBaseChain, footprintBit, isFootprintRule } from './evaluate.js';
import { type NftChain, type NftRule, type NftRuleset, chainLabel, findChain } from './nft-ruleset.js';

/**
 * Where dockgate's mark accept goes in one foreign firewall: directly before the drop that
 * takes every packet of some kind dockgate opens (the base chain's policy drop, or a final
 * drop/reject, possibly in a chain the base chain jumps to), and after every rule that may drop
 * only some of them. The admin's bans, anti-spoofing and rate limits sit above it and keep
 * working; a chain that drops only some packets gets no spot at all.
 */
export interface FootprintSpot {
  /** The base chain whose packets it lets through: what status and the logs name. */
  base: NftChain;
  /** The chain it lives in: the base chain, or one reached from it by jumps. */
  chain: NftChain;
  /** The catch-all drop it goes directly before; undefined: the end of the base chain (its policy drop). */
  before: NftRule | undefined;
  /**
   * A footprint rule at index i of `chain` is in place when after < i < index of `before` (or
   * the chain's length): after the last rule that may drop one of these packets, before the
   * catch-all drop.
   */
  after: number;
}

/** The index of the rule a spot must stay before. */
export const spotEnd = (s: FootprintSpot): number => (s.before ? s.chain.rules.indexOf(s.before) : s.chain.rules.length);

/** `inet admin input (at its end, before the policy drop)`, for logs. */
export function describeSpot(s: FootprintSpot): string {
  if (!s.before) return `${chainLabel(s.base)} (at its end, before the policy drop)`;
  const inChain = s.chain === s.base ? '' : ` in chain ${s.chain.name}`;
  return `${chainLabel(s.base)} (directly before rule ${describeRule(s.before)}${inChain})`;
}

/**
 * The spots dockgate's footprint needs for this plan: for each foreign base chain where a mark
 * can help, where the first catch-all drop of each packet its marks cover lies. Chains the
 * footprint cannot help (before the marks are set, or on other hooks) are not in it; `analyse`
 * still reports them.
 */
export function footprintSpots(plan: RuleSet, rs: NftRuleset, ipv6Marks = false): FootprintSpot[] {
  const candidates = chainsOnPath(rs).filter(footprintWorksIn);
  // No other firewall on the hooks (the common host): nothing to judge, so no flows to build.
  if (candidates.length === 0) return [];
  const flows = flowsOf(plan, ipv6Marks);
  const spots: FootprintSpot[] = [];
  for (const base of candidates) {
    const hook = base.base!.hook as Hook;
    // Rules that may drop some of these packets, by chain: nothing of them may sit between a
    // footprint and its catch-all drop.
    const mayDrop = new Map<NftChain, Set<NftRule>>();
    const found = new Map<string, { chain: NftChain; before: NftRule | undefined }>();
    // Flows differ mostly in ports: packets that look alike to the chain are judged once.
    const judged = new Set<string>();
    for (const f of flows) {
      if (!sees(base.family, f.family)) continue;
      for (const pk of f.packets) {
        if (!pk.markable.has(hook)) continue;
        const seen = pk.at(hook, base.base!.prio);
        if (!seen) continue;
        const p: Packet = { ...seen, family: f.family, marked: undefined };
        const key = JSON.stringify(p);
        if (judged.has(key)) continue;
        judged.add(key);
        const { drops } = evaluateBaseChain(base, p, rs, { ignoreFootprint: true });
        for (const d of drops) {
          for (const r of [...d.via, ...(d.rule ? [d.rule] : [])]) {
            const chain = findChain(rs, r.family, r.table, r.chain);
            if (!chain) continue;
            const set = mayDrop.get(chain) ?? new Set<NftRule>();
            set.add(r);
            mayDrop.set(chain, set);
          }
        }
        const target = drops.find((d) => d.catchAll);
        if (target) found.set(`${chainLabel(target.chain)}\n${target.rule?.handle ?? 'end'}`, { chain: target.chain, before: target.rule });
      }
    }
    for (const { chain, before } of found.values()) {
      const end = before ? chain.rules.indexOf(before) : chain.rules.length;
      const drops = mayDrop.get(chain) ?? new Set();
      let after = -1;
      chain.rules.forEach((r, i) => {
        if (i < end && r !== before && drops.has(r) && !isFootprintRule(r)) after = i;
      });
      spots.push({ base, chain, before, after });
    }
  }
  return spots;
}

/** The foreign base chains that drop some packet dockgate's marks cover, unless a footprint lets it through. */
export function chainsNeedingFootprint(plan: RuleSet, rs: NftRuleset, ipv6Marks = false): NftChain[] {
  return [...new Set(footprintSpots(plan, rs, ipv6Marks).map((s) => s.base))];
}

/** Is this footprint rule (index `index` in `chain`) where the spot wants it? */
export function holds(spot: FootprintSpot, chain: NftChain, index: number): boolean {
  return chain === spot.chain && index > spot.after && index < spotEnd(spot);
}

/** One of dockgate's footprint rules: where, and the bit it lets through. */
export interface PresentFootprint {
  chain: NftChain;
  handle: number;
  index: number;
  bit: MarkBit;
}

/** dockgate's footprint rules wherever they are (any foreign table, any chain), whatever their bit. */
export function footprintRules(rs: NftRuleset): PresentFootprint[] {
  const out: PresentFootprint[] = [];
  for (const c of rs.chains) {
    c.rules.forEach((r, index) => {
      const bit = footprintBit(r);
      if (bit !== undefined) out.push({ chain: c, handle: r.handle, index, bit });
    });
  }
  return out;
}

