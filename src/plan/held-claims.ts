// What a one-shot command (status, explain) can know of the running daemon's memory of granted
// claims: it has none of its own, but the kernel holds the DNATs of every claim the daemon keeps.
// A claim that a host process listens on now was granted before that process bound the port
// exactly when the lines granting it would add are all in the kernel. Lines are compared as
// rendered, as kernel-state.ts compares them; nothing is parsed back. Pure.
import type { Family, GrantedClaim, RuleSet, Table } from '../model/types.js';
import type { KernelState } from './kernel-state.js';
import { type PlanInput, buildRuleSet, familyRuleSet } from './ruleset.js';
import { linesOf } from './render.js';

const keyOf = (g: GrantedClaim): string => JSON.stringify([g.containerId, g.started, g.protocol, g.hostIp ?? '', g.hostPort]);

/** Claims a daemon would grant but for a host listener: held only if the daemon granted them before. Empty without listeners. */
export function contestedClaims(input: PlanInput): GrantedClaim[] {
  if (input.listeners === undefined) return [];
  const fresh = new Set((buildRuleSet({ ...input, granted: [] }).granted ?? []).map(keyOf));
  return (buildRuleSet({ ...input, listeners: undefined, granted: [] }).granted ?? []).filter((g) => !fresh.has(keyOf(g)));
}

/** Lines (per family, table, chain) that `with` has and `without` lacks. */
function added(without: RuleSet, withClaim: RuleSet): Array<{ family: Family; table: Table; chain: string; line: string }> {
  const out: Array<{ family: Family; table: Table; chain: string; line: string }> = [];
  for (const family of [4, 6] as const) {
    const a = familyRuleSet(without, family);
    const b = familyRuleSet(withClaim, family);
    if (!b) continue;
    const before = new Set((a?.chains ?? []).flatMap((c) => linesOf(c).map((l) => `${c.table} ${c.name} ${l}`)));
    for (const c of b.chains) {
      for (const line of linesOf(c)) if (!before.has(`${c.table} ${c.name} ${line}`)) out.push({ family, table: c.table, chain: c.name, line });
    }
  }
  return out;
}

/** Of the `contested` claims, those whose every line is in the kernel: the running daemon keeps them. */
export function heldInKernel(input: PlanInput, contested: readonly GrantedClaim[], states: ReadonlyMap<Family, KernelState>): GrantedClaim[] {
  if (contested.length === 0) return [];
  const fresh = buildRuleSet({ ...input, granted: [] });
  return contested.filter((g) => {
    const lines = added(fresh, buildRuleSet({ ...input, granted: [g] }));
    return lines.length > 0 && lines.every((l) => states.get(l.family)?.get(l.table)?.chains.get(l.chain)?.includes(l.line) === true);
  });
}
