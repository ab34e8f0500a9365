// RuleSet → iptables-restore text. Three shapes: the full state (start-up, drift repair), the
// difference between two plans (one container's change touches only its own lines, and a jump
// line when its shard appears or empties), and the flush. Every text is for
// `iptables-restore --noflush`, where declaring an existing user chain empties it, and each
// table is committed atomically.
import type { ChainPlan, JumpRule, RuleSet, Table } from '../model/types.js';
import { TABLES } from './chains.js';
import { jumpLine, linesOf, renderRule } from './render.js';
import type { Rule } from '../model/rule.js';
import { type KernelState, assertReadable, isManagedChain, jumpCount, ownedChains, pinnedChains, strayJumps } from './kernel-state.js';

class TableText {
  readonly declare: string[] = [];
  readonly remove: string[] = [];
  readonly add: string[] = [];
  readonly destroy: string[] = [];
  constructor(readonly table: Table) {}
  get empty(): boolean {
    return this.declare.length + this.remove.length + this.add.length + this.destroy.length === 0;
  }
  text(): string {
    return [`*${this.table}`, ...this.declare, ...this.remove, ...this.add, ...this.destroy, 'COMMIT', ''].join('\n');
  }
}

function texts(tables: readonly Table[]): Map<Table, TableText> {
  return new Map(tables.map((t) => [t, new TableText(t)]));
}

function finish(map: Map<Table, TableText>): Map<Table, string> {
  const out = new Map<Table, string>();
  for (const [table, t] of map) if (!t.empty) out.set(table, t.text());
  return out;
}

function writeChain(t: TableText, chain: ChainPlan): void {
  t.declare.push(`:${chain.name} - [0:0]`);
  for (const r of linesOf(chain)) t.add.push(`-A ${chain.name} ${r}`);
}

function fixJumps(t: TableText, jumps: readonly JumpRule[], state: KernelState): void {
  for (const j of jumps) {
    if (j.table !== t.table) continue;
    const count = jumpCount(state, j);
    // Inserted at the top so the admin's own DROP rules cannot shadow what labels allow; if the
    // admin later puts rules above it, that is their choice and we leave it.
    if (count === 0) t.add.push(`-I ${j.builtin} 1 ${jumpLine(j)}`);
    for (let i = 1; i < count; i++) t.remove.push(`-D ${j.builtin} ${jumpLine(j)}`);
  }
}

/**
 * A chain that is no longer planned: emptied, and deleted unless a rule dockgate did not write
 * jumps to it (the kernel refuses to delete a chain in use, which would fail the whole table).
 */
function retire(t: TableText, name: string, pinned: ReadonlySet<string>): void {
  t.declare.push(`:${name} - [0:0]`);
  if (!pinned.has(`${t.table}/${name}`)) t.destroy.push(`-X ${name}`);
}

/**
 * Everything, for the given tables: every planned chain declared (so emptied) and refilled,
 * jumps made exactly one each, our stray jumps and chains that are no longer planned removed.
 * The admin's rules, even those jumping into our chains, and the admin's chain stay as they are.
 */
export function renderFull(plan: RuleSet, state: KernelState, tables: readonly Table[] = TABLES): Map<Table, string> {
  assertReadable(state, tables);
  const map = texts(tables);
  const pinned = pinnedChains(state, tables);
  for (const table of tables) {
    const t = map.get(table)!;
    const planned = plan.chains.filter((c) => c.table === table);
    for (const c of planned) {
      if (isManagedChain(c.name)) writeChain(t, c);
      // Declaring an existing chain empties it: the admin's chain is only ever created.
      else if (!state.get(table)?.chains.has(c.name)) t.declare.push(`:${c.name} - [0:0]`);
    }
    const plannedNames = new Set(planned.map((c) => c.name));
    for (const name of ownedChains(state, table)) {
      if (!plannedNames.has(name)) retire(t, name, pinned);
    }
    for (const s of strayJumps(state, plan.jumps, tables)) {
      if (s.table === table) t.remove.push(`-D ${s.builtin} ${s.line}`);
    }
    fixJumps(t, plan.jumps, state);
  }
  return finish(map);
}

const key = (c: ChainPlan): string => `${c.table}/${c.name}`;

/** Equal when they render the same lines in the same order; the same rule objects skip the rendering. */
function sameRules(a: readonly Rule[], b: readonly Rule[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && renderRule(a[i]!) !== renderRule(b[i]!)) return false;
  return true;
}

/**
 * The smallest edit that turns the kernel from `before` into `after` (both plans we wrote).
 * `pinned` ('table/chain'): chains an admin rule was last seen jumping to, emptied instead of deleted.
 */
export function renderDiff(before: RuleSet, after: RuleSet, pinned: ReadonlySet<string> = new Set()): Map<Table, string> {
  const map = texts([...new Set([...TABLES, ...after.chains.map((c) => c.table), ...before.chains.map((c) => c.table)])]);
  const old = new Map(before.chains.map((c) => [key(c), c]));
  const next = new Map(after.chains.map((c) => [key(c), c]));
  for (const c of after.chains) {
    const t = map.get(c.table)!;
    const prev = old.get(key(c));
    if (prev === c) continue; // the same object from the plan cache: unchanged by construction
    if (!isManagedChain(c.name)) continue; // the admin's chain: created by a full write, never edited
    if (!prev) {
      writeChain(t, c);
    } else if (sameRules(prev.rules, c.rules)) {
      continue; // the common case for all but one shard: the plan cache hands back the same rules
    } else if (c.kind === 'set' && prev.kind === 'set') {
      const was = linesOf(prev);
      const is = linesOf(c);
      const had = new Set(was);
      const has = new Set(is);
      for (const r of was) if (!has.has(r)) t.remove.push(`-D ${c.name} ${r}`);
      for (const r of is) if (!had.has(r)) t.add.push(`-A ${c.name} ${r}`);
    } else {
      writeChain(t, c);
    }
  }
  for (const c of before.chains) {
    if (next.has(key(c)) || !isManagedChain(c.name)) continue;
    retire(map.get(c.table)!, c.name, pinned);
  }
  return finish(map);
}

/**
 * Removes what dockgate wrote: every managed chain and every jump carrying dockgate's comment, in
 * the tables it manages. A chain an admin rule jumps to is emptied and kept (see `pinnedChains`).
 */
export function renderFlush(state: KernelState, tables: readonly Table[] = TABLES): Map<Table, string> {
  assertReadable(state, tables);
  const map = texts(tables);
  const pinned = pinnedChains(state, tables);
  for (const s of strayJumps(state, [], tables)) map.get(s.table)?.remove.push(`-D ${s.builtin} ${s.line}`);
  for (const table of tables) {
    const t = map.get(table)!;
    for (const name of ownedChains(state, table)) retire(t, name, pinned);
  }
  return finish(map);
}

/** The plan as one iptables-restore document (what `dockgate plan` prints). */
export function renderPlan(plan: RuleSet): string {
  return [...renderFull(plan, new Map()).values()].join('');
}
