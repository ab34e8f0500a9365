// What each table dockgate writes lets its restore text hold, one entry per table: the built-in
// chains, those dockgate jumps from, the targets besides its own chains. And what a chain name is
// in a table: dockgate's to write, to retire or to jump to, and which interfaces its packets can
// have. Pure.
import { MARK_TABLE, USER, isMarkChain, managedChainTable } from './chains.js';

/** Every table dockgate writes: its own three, and mangle for the footprint marks (marks.ts). */
export type GrammarTable = 'raw' | 'nat' | 'filter' | typeof MARK_TABLE;

/** The line shapes one table allows. */
export interface TableShape {
  /** Built-in chains the table has (iptables-restore refuses others). */
  readonly builtins: ReadonlySet<string>;
  /** The built-ins dockgate inserts its jumps into (chains.ts JUMPS; marks.ts for mangle). */
  readonly jumpFrom: ReadonlySet<string>;
  /** Targets allowed besides jumps into dockgate's own chains. */
  readonly targets: ReadonlySet<string>;
}

export const TABLE_SHAPES: Readonly<Record<GrammarTable, TableShape>> = {
  raw: {
    builtins: new Set(['PREROUTING', 'OUTPUT']),
    jumpFrom: new Set(['PREROUTING']),
    targets: new Set(['DROP', 'NFLOG']),
  },
  nat: {
    builtins: new Set(['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING']),
    jumpFrom: new Set(['PREROUTING', 'OUTPUT', 'POSTROUTING']),
    targets: new Set(['DNAT', 'MASQUERADE', 'RETURN']),
  },
  filter: {
    builtins: new Set(['INPUT', 'FORWARD', 'OUTPUT']),
    jumpFrom: new Set(['INPUT', 'FORWARD']),
    targets: new Set(['ACCEPT', 'DROP', 'RETURN', 'NFLOG']),
  },
  mangle: {
    builtins: new Set(['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING']),
    jumpFrom: new Set(['INPUT', 'FORWARD']),
    targets: new Set(['MARK', 'RETURN']),
  },
};

/**
 * Whether `name` is a chain dockgate writes into in `table`, by exact name: its own chains there,
 * or in mangle the mirrors of its filter chains. DOCKGATE-USER is the admin's: created, jumped to,
 * never written into.
 */
function ownsIn(name: string, table: GrammarTable): boolean {
  return table === MARK_TABLE ? isMarkChain(name) : managedChainTable(name) === table;
}

/** A chain dockgate may empty and delete in `table` (one of its own found in the wrong table too). */
function mayRetire(name: string, table: GrammarTable): boolean {
  return table === MARK_TABLE ? isMarkChain(name) : managedChainTable(name) !== undefined;
}

/** A chain a rule of `table` may jump to. */
export function jumpable(name: string, table: GrammarTable): boolean {
  return ownsIn(name, table) || (table === 'filter' && name === USER);
}

/** What the grammar needs to know of one chain name in one table (the same few hundred names recur on every line). */
export interface ChainFacts {
  owns: boolean;
  mayRetire: boolean;
  jumpable: boolean;
  builtin: boolean;
  iface: { in: boolean; out: boolean };
}

/** Each chain name's facts, worked out once per table. */
export class ChainCache {
  readonly #byTable = new Map<GrammarTable, Map<string, ChainFacts>>();
  /** A table block's lines come chain by chain: most lookups repeat the one before. */
  #last: { name: string; table: GrammarTable; facts: ChainFacts } | undefined;
  get(name: string, table: GrammarTable): ChainFacts {
    const last = this.#last;
    if (last !== undefined && last.name === name && last.table === table) return last.facts;
    const f = this.#lookup(name, table);
    this.#last = { name, table, facts: f };
    return f;
  }
  #lookup(name: string, table: GrammarTable): ChainFacts {
    let facts = this.#byTable.get(table);
    if (facts === undefined) this.#byTable.set(table, (facts = new Map()));
    let f = facts.get(name);
    if (f === undefined) {
      const builtin = TABLE_SHAPES[table].builtins.has(name);
      f = { owns: ownsIn(name, table), mayRetire: mayRetire(name, table), jumpable: jumpable(name, table), builtin, iface: interfaceRules(builtin ? `builtin:${name}` : name, table) };
      facts.set(name, f);
    }
    return f;
  }
}

/** The filter or nat chain a chain's lines mirror or are: its shards and mangle mirrors decide as it does. */
function baseChain(name: string, table: GrammarTable): string {
  const own = table === MARK_TABLE ? `DOCKGATE-${name.slice('DOCKGATE-M'.length)}` : name;
  return own.replace(/-[0-9a-f]{2}$/, '');
}

/**
 * Which interface options a chain's packets can be matched on: a chain reached only from
 * PREROUTING/INPUT has no output interface yet, one reached from POSTROUTING no input interface,
 * and DOCKGATE-DNAT and its shards are reached from both PREROUTING and OUTPUT.
 */
function interfaceRules(chain: string, table: GrammarTable): { in: boolean; out: boolean } {
  const base = baseChain(chain, table);
  if (base === 'DOCKGATE-POSTROUTING') return { in: false, out: true };
  if (base === 'DOCKGATE-RAW' || base === 'DOCKGATE-INPUT' || base === 'DOCKGATE-OPENINGS' || base === 'DOCKGATE-DROPS') return { in: true, out: false };
  // The guards of PREROUTING (containers without egress, internal networks) match the input interface.
  if (base === 'DOCKGATE-PREROUTING') return { in: true, out: false };
  if (table === 'nat') return { in: false, out: false }; // PREROUTING + OUTPUT reach these
  return { in: true, out: true };
}
