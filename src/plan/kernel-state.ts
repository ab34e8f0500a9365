// What `iptables-save` says is in the kernel, parsed into chains and rule lines, and compared
// with a RuleSet. Pure: the dataplane reads the text, this module only interprets it.
import type { ChainPlan, JumpRule, RuleSet, Table } from '../model/types.js';
import { JUMP_COMMENT, TABLES, isManagedChain, managedChainTable } from './chains.js';
import { jumpLine, linesOf } from './render.js';
import type { ForeignRule } from './foreign-rule.js';

export type { ForeignRule } from './foreign-rule.js';

export { isManagedChain };

export interface TableState {
  /** Every chain in the table (built-in and user), with its rule lines in kernel order. */
  chains: Map<string, string[]>;
  /** Built-in chains' policies ('ACCEPT', 'DROP'); user chains show '-'. */
  policies: Map<string, string>;
  /**
   * Set when iptables-save printed this line instead of the table (iptables-nft meeting native
   * nft rules it cannot represent). `chains` is then empty because it is unknown, not because
   * the table is empty.
   */
  incompatible?: string;
}

export type KernelState = Map<Table, TableState>;

const TABLE_NAMES = new Set<string>(['filter', 'nat', 'raw', 'mangle', 'security']);

/** iptables-nft's words (xtables-save.c) for a table it cannot print. */
const INCOMPATIBLE = /^# Table `([^']+)' is incompatible/;

export function parseSave(text: string): KernelState {
  const state: KernelState = new Map();
  let current: TableState | undefined;
  for (const line of text.split('\n')) {
    const incompatible = INCOMPATIBLE.exec(line)?.[1];
    if (incompatible !== undefined) {
      current = undefined;
      if (TABLE_NAMES.has(incompatible)) state.set(incompatible as Table, { chains: new Map(), policies: new Map(), incompatible: line.slice(2) });
    } else if (line.startsWith('*')) {
      const name = line.slice(1).trim();
      current = { chains: new Map(), policies: new Map() };
      if (TABLE_NAMES.has(name)) state.set(name as Table, current);
    } else if (!current || line === '' || line.startsWith('#') || line === 'COMMIT') {
      continue;
    } else if (line.startsWith(':')) {
      const [name = '', policy = '-'] = line.slice(1).split(' ');
      if (!current.chains.has(name)) current.chains.set(name, []);
      current.policies.set(name, policy);
    } else if (line.startsWith('-A ')) {
      const rest = line.slice(3);
      const space = rest.indexOf(' ');
      const chain = space < 0 ? rest : rest.slice(0, space);
      const body = space < 0 ? '' : rest.slice(space + 1);
      const rules = current.chains.get(chain) ?? [];
      rules.push(body);
      current.chains.set(chain, rules);
    }
  }
  return state;
}


export class IncompatibleTableError extends Error {
  override readonly name = 'IncompatibleTableError';
  constructor(readonly tables: string[]) {
    const t = tables.join(', ');
    const first = tables[0] ?? 'filter';
    super(
      `iptables-save cannot show the ${t} table${tables.length === 1 ? '' : 's'} ("Table \`${first}' is incompatible, use 'nft' tool."): ` +
        `native nft rules in "table ip ${first}" use expressions iptables cannot represent, so dockgate cannot read back what it writes there ` +
        `and will not write to any table until it can. Show them with \`nft -a list table ip ${first}\` and move them to an nft table of another name ` +
        `(or rewrite them as iptables rules); dockgate then carries on by itself.`,
    );
  }
}

/** Tables (of `among`) that iptables-save could not show. */
export function incompatibleTables(state: KernelState, among: readonly string[] = TABLES): string[] {
  return among.filter((t) => state.get(t as Table)?.incompatible !== undefined);
}

/** Refuses to judge, or write from, a state in which a table dockgate writes to (of `among`) is unknown. */
export function assertReadable(state: KernelState, among: readonly string[] = TABLES): void {
  const bad = incompatibleTables(state, among);
  if (bad.length > 0) throw new IncompatibleTableError(bad);
}

/** dockgate's chains in `table`, by exact name and table: an admin's look-alike elsewhere is not one. */
export function ownedChains(state: KernelState, table: Table): string[] {
  return [...(state.get(table)?.chains.keys() ?? [])].filter((name) => managedChainTable(name) === table);
}

export function jumpCount(state: KernelState, jump: JumpRule): number {
  const rules = state.get(jump.table)?.chains.get(jump.builtin) ?? [];
  const want = jumpLine(jump);
  return rules.filter((r) => r === want).length;
}

/** The chain of ours (by `ours`) a rule jumps or goes to, if any (a target with options is never ours). */
function managedTarget(line: string, ours: (chain: string) => boolean): string | undefined {
  const target = /(?:^| )-[jg] (\S+)$/.exec(line)?.[1];
  return target !== undefined && ours(target) ? target : undefined;
}

/** Our jump rules carry exactly this comment; the admin's hand-made jumps do not. */
const OUR_COMMENT = new RegExp(`(?:^| )-m comment --comment ${JUMP_COMMENT}(?: |$)`);

/** Rules outside dockgate's chains, in the given tables, that jump into them. */
function references(state: KernelState, tables: readonly Table[]): Array<{ table: Table; chain: string; line: string; target: string }> {
  const out: Array<{ table: Table; chain: string; line: string; target: string }> = [];
  for (const table of tables) {
    const ours = (chain: string): boolean => managedChainTable(chain) === table;
    for (const [chain, rules] of state.get(table)?.chains ?? []) {
      if (ours(chain)) continue;
      for (const line of rules) {
        const target = managedTarget(line, ours);
        if (target) out.push({ table, chain, line, target });
      }
    }
  }
  return out;
}

/**
 * Jump rules dockgate wrote (they carry its comment) that the plan does not hold where they are:
 * an older version's jumps, a jump into the wrong built-in chain. Repair and flush delete these.
 */
export function strayJumps(state: KernelState, jumps: readonly JumpRule[], tables: readonly Table[] = TABLES): Array<{ table: Table; builtin: string; line: string }> {
  const out: Array<{ table: Table; builtin: string; line: string }> = [];
  for (const { table, chain, line } of references(state, tables)) {
    if (!OUR_COMMENT.test(line)) continue;
    const known = jumps.some((j) => j.table === table && j.builtin === chain && jumpLine(j) === line);
    if (!known) out.push({ table, builtin: chain, line });
  }
  return out;
}

/** What dockgate leaves alone in and around `tables` (the tables one dataplane writes). */
export function foreignRules(state: KernelState, tables: readonly Table[] = TABLES): ForeignRule[] {
  const out: ForeignRule[] = [];
  for (const { table, chain, line, target } of references(state, tables)) {
    if (!OUR_COMMENT.test(line)) out.push({ kind: 'rule', table, chain, line, target, why: 'admin-jump' });
  }
  for (const [table, t] of state) {
    if (tables.includes(table)) continue;
    // Chains dockgate's other dataplane writes in this table (the marks' in mangle, seen from the
    // plan's): kept by their own code, with dockgate's own jumps to them.
    const own = (name: string): boolean => managedChainTable(name) === table;
    const chains: ForeignRule[] = [];
    for (const [chain, rules] of t.chains) {
      if (own(chain)) continue;
      if (isManagedChain(chain)) {
        chains.push({ kind: 'chain', table, chain, target: chain, why: 'unmanaged-table' });
        continue;
      }
      for (const line of rules) {
        const target = managedTarget(line, isManagedChain);
        if (target && !(own(target) && OUR_COMMENT.test(line))) out.push({ kind: 'rule', table, chain, line, target, why: 'unmanaged-table' });
      }
    }
    out.push(...chains);
  }
  return out;
}

/** Managed chains (per table) that a foreign rule jumps to: they cannot be deleted, only emptied. */
export function pinnedChains(state: KernelState, tables: readonly Table[] = TABLES): Set<string> {
  return new Set(foreignRules(state, tables).filter((f) => f.why === 'admin-jump').map((f) => `${f.table}/${f.target}`));
}

export interface ChainDrift {
  table: Table;
  chain: string;
  problem: 'missing' | 'extra' | 'changed';
  /** Lines the plan has that the kernel lacks. */
  missing: string[];
  /** Lines the kernel has that the plan lacks. */
  unexpected: string[];
}

export interface JumpDrift {
  table: Table;
  builtin: string;
  target: string;
  count: number;
}

export interface DriftReport {
  chains: ChainDrift[];
  jumps: JumpDrift[];
  /** Jump rules with dockgate's comment that the plan does not hold (old versions, misplaced): removed. */
  strays: Array<{ table: Table; builtin: string; line: string }>;
  /** What dockgate did not write and leaves alone, but reports. Not drift: never repaired. */
  foreign: ForeignRule[];
  /** Nothing to repair (foreign rules do not count). */
  clean: boolean;
}

/**
 * Whether a chain holds exactly these lines: in this order for an ordered chain, in any order for
 * a set chain. The one chain-equality test, for every table the plan or the marks write.
 */
export function sameChain(kind: ChainPlan['kind'], want: readonly string[], actual: readonly string[]): boolean {
  if (want.length !== actual.length) return false;
  if (kind === 'ordered') return want.every((r, i) => r === actual[i]);
  const a = [...want].sort();
  const b = [...actual].sort();
  return a.every((r, i) => r === b[i]);
}

function lineDiff(want: string[], have: string[]): { missing: string[]; unexpected: string[] } {
  const haveSet = new Set(have);
  const wantSet = new Set(want);
  return { missing: want.filter((l) => !haveSet.has(l)), unexpected: have.filter((l) => !wantSet.has(l)) };
}

/**
 * Compares the kernel with the plan: every managed chain, every jump, in the tables dockgate
 * writes. Throws IncompatibleTableError when one of them could not be read.
 */
export function compare(plan: RuleSet, state: KernelState, tables: readonly Table[] = TABLES): DriftReport {
  assertReadable(state, tables);
  const chains: ChainDrift[] = [];
  const planned = new Set<string>();
  for (const c of plan.chains) {
    planned.add(`${c.table}/${c.name}`);
    const actual = state.get(c.table)?.chains.get(c.name);
    if (actual === undefined) {
      chains.push({ table: c.table, chain: c.name, problem: 'missing', missing: linesOf(c), unexpected: [] });
    } else if (!isManagedChain(c.name)) {
      continue; // the admin's chain: that it exists is all dockgate asks of it
    } else if (!sameChain(c.kind, linesOf(c), actual)) {
      const d = lineDiff(linesOf(c), actual);
      // Same lines in another order still counts for ordered chains.
      if (d.missing.length === 0 && d.unexpected.length === 0) d.unexpected.push('(same rules, different order)');
      chains.push({ table: c.table, chain: c.name, problem: 'changed', ...d });
    }
  }
  const pinned = pinnedChains(state, tables);
  for (const table of tables) {
    for (const name of ownedChains(state, table)) {
      const rules = state.get(table)!.chains.get(name)!;
      if (planned.has(`${table}/${name}`)) continue;
      // Emptied but kept because an admin rule jumps to it: as far as dockgate can go.
      if (rules.length === 0 && pinned.has(`${table}/${name}`)) continue;
      chains.push({ table, chain: name, problem: 'extra', missing: [], unexpected: rules });
    }
  }
  const jumps: JumpDrift[] = [];
  for (const j of plan.jumps) {
    const count = jumpCount(state, j);
    if (count !== 1) jumps.push({ table: j.table, builtin: j.builtin, target: j.target, count });
  }
  const strays = strayJumps(state, plan.jumps, tables);
  const foreign = foreignRules(state, tables);
  return { chains, jumps, strays, foreign, clean: chains.length === 0 && jumps.length === 0 && strays.length === 0 };
}

/**
 * Tables that hold nothing at all: only built-in chains, no rules, every policy ACCEPT. On the
 * nft backend such a table exists only because someone (dockgate) wrote to it, and removing it
 * changes no packet's fate.
 */
export function emptyTables(state: KernelState): Table[] {
  const out: Table[] = [];
  for (const [table, t] of state) {
    // Unreadable is not empty: such a table holds the admin's native nft rules.
    if (t.incompatible !== undefined) continue;
    const onlyBuiltins = [...t.policies.values()].every((p) => p === 'ACCEPT');
    const noRules = [...t.chains.values()].every((r) => r.length === 0);
    if (onlyBuiltins && noRules) out.push(table);
  }
  return out;
}
