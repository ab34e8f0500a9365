// A small model of the kernel, to check what a restore text *does*, not only how it looks (the
// grammar, src/plan/restore-grammar.ts, checks how it looks). Used by the fuzz tests.
import type { Table } from '../../src/model/types.js';

const TABLES: readonly Table[] = ['raw', 'nat', 'filter'];

/** Built-in chains each table has (iptables-restore refuses others). */
const BUILTINS: Record<Table, readonly string[]> = {
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  raw: ['PREROUTING', 'OUTPUT'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
};


/** table → chain → rule lines (without `-A CHAIN `), in order. Built-in chains are created on use. */
export type KernelModel = Map<Table, Map<string, string[]>>;

export function emptyKernel(): KernelModel {
  return new Map(TABLES.map((t) => [t, new Map(BUILTINS[t].map((c) => [c, [] as string[]]))]));
}

export function cloneKernel(k: KernelModel): KernelModel {
  return new Map([...k].map(([t, chains]) => [t, new Map([...chains].map(([c, r]) => [c, [...r]]))]));
}

function targetOf(rule: string): string | undefined {
  return / -j (\S+)/.exec(` ${rule}`)?.[1];
}

/**
 * Applies a restore text the way `iptables-restore --noflush` would: each table block is atomic
 * (all or nothing); `:CHAIN` creates or empties a user chain; -A appends; -I N inserts; -D removes
 * the first identical rule (an error if there is none); -X removes an empty, unreferenced user
 * chain (an error otherwise). A jump to a chain that does not exist is an error. Throws on the
 * first error; the kernel is changed only for the blocks before it.
 */
export function applyRestore(kernel: KernelModel, text: string): void {
  let work: Map<string, string[]> | undefined;
  let table: Table | undefined;
  const fail = (line: string, why: string): never => {
    throw new Error(`iptables-restore model: ${why}: ${JSON.stringify(line)}`);
  };
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (table === undefined) {
      const m = /^\*(raw|nat|filter)$/.exec(line);
      if (!m) fail(line, 'expected a table');
      table = m![1] as Table;
      work = new Map([...kernel.get(table)!].map(([c, r]) => [c, [...r]]));
      continue;
    }
    const chains = work!;
    if (line === 'COMMIT') {
      for (const [name, rules] of chains) {
        for (const r of rules) {
          const target = targetOf(r);
          if (target?.startsWith('DOCKGATE-') && !chains.has(target)) fail(`${name}: ${r}`, 'jump to a missing chain at COMMIT');
        }
      }
      kernel.set(table, chains);
      table = undefined;
      work = undefined;
      continue;
    }
    if (line.startsWith(':')) {
      const name = line.slice(1).split(' ')[0]!;
      if (BUILTINS[table].includes(name)) fail(line, 'declaring a built-in chain with "-" policy');
      chains.set(name, []);
      continue;
    }
    const [op, name = ''] = line.split(' ');
    const rest = line.split(' ').slice(2).join(' ');
    const rules = chains.get(name);
    if (op === '-X') {
      if (!rules) fail(line, 'no such chain');
      if (rules!.length > 0) fail(line, 'chain not empty');
      for (const [other, rs] of chains) if (rs.some((r) => targetOf(r) === name)) fail(line, `chain still referenced from ${other}`);
      chains.delete(name);
      continue;
    }
    if (!rules) fail(line, 'no such chain');
    if (op === '-A' || op === '-I') {
      const rule = op === '-I' ? line.split(' ').slice(3).join(' ') : rest;
      const target = targetOf(rule);
      if (target?.startsWith('DOCKGATE-') && !chains.has(target)) fail(line, 'jump to a chain that does not exist');
      if (op === '-A') rules!.push(rule);
      else rules!.unshift(rule);
    } else if (op === '-D') {
      const at = rules!.indexOf(rest);
      if (at < 0) fail(line, 'rule to delete does not exist');
      rules!.splice(at, 1);
    } else {
      fail(line, 'unknown command');
    }
  }
  if (table !== undefined) fail('', 'missing COMMIT');
}

/**
 * A plain, order-stable view for deep equality: only non-empty built-ins, every user chain.
 * Chains named in `unordered` ('table/NAME': dockgate's "set" chains, whose jump rules may be in
 * any order) have their rules sorted.
 */
export function kernelView(k: KernelModel, unordered: ReadonlySet<string> = new Set()): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const t of TABLES) {
    for (const [name, rules] of [...(k.get(t) ?? new Map<string, string[]>())].sort(([a], [b]) => a.localeCompare(b))) {
      if (BUILTINS[t].includes(name) && rules.length === 0) continue;
      const key = `${t}/${name}`;
      out[key] = unordered.has(key) ? [...rules].sort() : [...rules];
    }
  }
  return out;
}
