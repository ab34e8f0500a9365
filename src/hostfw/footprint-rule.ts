// dockgate's footprint rule in another firewall's chain, `meta mark & BIT == BIT accept comment
// "dockgate"`, recognised by its shape whatever the bit.
import { type MarkBit, parseMarkBit } from '../model/mark-bit.js';
import type { NftMatch, NftRule } from './nft-ruleset.js';

/**
 * The bit of dockgate's footprint, whatever the bit: one written before `foreign_chains_mark`
 * changed is still dockgate's to move or remove. Undefined: not dockgate's.
 */
export function footprintBit(rule: Pick<NftRule, 'comment' | 'expr'>): MarkBit | undefined {
  if (rule.comment !== 'dockgate') return undefined;
  const matches = rule.expr.filter((e) => 'match' in e);
  const verdicts = rule.expr.filter((e) => !('match' in e) && !('counter' in e));
  if (matches.length !== 1 || verdicts.length !== 1 || !('accept' in verdicts[0]!)) return undefined;
  return markTestBit(matches[0]!.match as NftMatch);
}

export const isFootprintRule = (rule: Pick<NftRule, 'comment' | 'expr'>): boolean => footprintBit(rule) !== undefined;

/** The bit a `meta mark & BIT == BIT` test asks for: the one shape dockgate's footprint has. */
export function markTestBit(m: NftMatch): MarkBit | undefined {
  const left = m.left as { '&'?: unknown[] } | undefined;
  const and2 = left?.['&'];
  if (!(m.op === '==' || m.op === undefined) || !Array.isArray(and2)) return undefined;
  if ((and2[0] as { meta?: { key?: string } })?.meta?.key !== 'mark' || and2[1] !== m.right || typeof m.right !== 'number') return undefined;
  const bit = parseMarkBit(m.right);
  return bit.ok ? bit.value : undefined;
}
