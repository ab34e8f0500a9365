// What `iptables-save` says is in the kernel, parsed into chains and rule lines, and compared
// with a RuleSet. Pure: the dataplane reads the text, this module only interprets it.
import type { ChainPlan, JumpRule, RuleSet, Table } from '../model/types.js';
import { isOwnedChain, jumpLine } from './chains.js';

export interface TableState {
  /** Every chain in the table (built-in and user), with its rule lines in kernel order. */
  chains: Map<string, string[]>;
  /** Built-in chains' policies ('ACCEPT', 'DROP'); user chains show '-'. */
  policies: Map<string, string>;
}

export type KernelState = Map<Table, TableState>;

const TABLE_NAMES = new Set<string>(['filter', 'nat', 'raw', 'mangle', 'security']);

export function parseSave(text: string): KernelState {
  const state: KernelState = new Map();
  let current: TableState | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) {
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

export function ownedChains(state: KernelState, table: Table): string[] {
  return [...(state.get(table)?.chains.keys() ?? [])].filter(isOwnedChain);
}

export function jumpCount(state: KernelState, jump: JumpRule): number {
  const rules = state.get(jump.table)?.chains.get(jump.builtin) ?? [];
  const want = jumpLine(jump);
  return rules.filter((r) => r === want).length;
}

/** Rules in built-in chains that point into dockgate chains but are not one of our jumps. */
export function strayJumps(state: KernelState, jumps: readonly JumpRule[]): Array<{ table: Table; builtin: string; line: string }> {
  const out: Array<{ table: Table; builtin: string; line: string }> = [];
  for (const [table, t] of state) {
    for (const [chain, rules] of t.chains) {
      if (isOwnedChain(chain)) continue;
      for (const line of rules) {
        const target = /-j (DOCKGATE-\S+)$/.exec(line)?.[1];
        if (!target) continue;
        const known = jumps.some((j) => j.table === table && j.builtin === chain && jumpLine(j) === line);
        if (!known) out.push({ table, builtin: chain, line });
      }
    }
  }
  return out;
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
  /** Rules in built-in chains that jump into dockgate chains but are not ours (old versions, hand edits). */
  strays: Array<{ table: Table; builtin: string; line: string }>;
  clean: boolean;
}

function sameChain(plan: ChainPlan, actual: string[]): boolean {
  if (plan.kind === 'ordered') {
    return plan.rules.length === actual.length && plan.rules.every((r, i) => r === actual[i]);
  }
  if (plan.rules.length !== actual.length) return false;
  const a = [...plan.rules].sort();
  const b = [...actual].sort();
  return a.every((r, i) => r === b[i]);
}

function lineDiff(want: string[], have: string[]): { missing: string[]; unexpected: string[] } {
  const haveSet = new Set(have);
  const wantSet = new Set(want);
  return { missing: want.filter((l) => !haveSet.has(l)), unexpected: have.filter((l) => !wantSet.has(l)) };
}

/** Compares the kernel with the plan: every owned chain, every jump. */
export function compare(plan: RuleSet, state: KernelState): DriftReport {
  const chains: ChainDrift[] = [];
  const planned = new Set<string>();
  for (const c of plan.chains) {
    planned.add(`${c.table}/${c.name}`);
    const actual = state.get(c.table)?.chains.get(c.name);
    if (actual === undefined) {
      chains.push({ table: c.table, chain: c.name, problem: 'missing', missing: c.rules, unexpected: [] });
    } else if (!sameChain(c, actual)) {
      const d = lineDiff(c.rules, actual);
      // Same lines in another order still counts for ordered chains.
      if (d.missing.length === 0 && d.unexpected.length === 0) d.unexpected.push('(same rules, different order)');
      chains.push({ table: c.table, chain: c.name, problem: 'changed', ...d });
    }
  }
  for (const [table, t] of state) {
    for (const [name, rules] of t.chains) {
      if (isOwnedChain(name) && !planned.has(`${table}/${name}`)) {
        chains.push({ table, chain: name, problem: 'extra', missing: [], unexpected: rules });
      }
    }
  }
  const jumps: JumpDrift[] = [];
  for (const j of plan.jumps) {
    const count = jumpCount(state, j);
    if (count !== 1) jumps.push({ table: j.table, builtin: j.builtin, target: j.target, count });
  }
  const strays = strayJumps(state, plan.jumps);
  return { chains, jumps, strays, clean: chains.length === 0 && jumps.length === 0 && strays.length === 0 };
}

/**
 * Tables that hold nothing at all: only built-in chains, no rules, every policy ACCEPT. On the
 * nft backend such a table exists only because someone (dockgate) wrote to it, and removing it
 * changes no packet's fate.
 */
export function emptyTables(state: KernelState): Table[] {
  const out: Table[] = [];
  for (const [table, t] of state) {
    const onlyBuiltins = [...t.policies.values()].every((p) => p === 'ACCEPT');
    const noRules = [...t.chains.values()].every((r) => r.length === 0);
    if (onlyBuiltins && noRules) out.push(table);
  }
  return out;
}
