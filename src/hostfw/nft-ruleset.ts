// `nft -j list ruleset` (or `list table`) parsed into tables, chains, rules and sets. Pure: the
// dataplane runs nft, this module only reads its JSON. Unknown objects are kept as they are, so
// that the analysis can say "cannot evaluate" instead of guessing.
import { z } from 'zod';
import { readJsonOutput } from '../util/json-output.js';

/** One JSON expression or statement as nft prints it (shape checked where it is used). */
export type NftExpr = Record<string, unknown>;

export interface NftRule {
  family: string;
  table: string;
  chain: string;
  handle: number;
  comment?: string;
  expr: NftExpr[];
}

export interface NftChain {
  family: string;
  table: string;
  name: string;
  handle: number;
  /** Set only for base chains. */
  base?: { type: string; hook: string; prio: number; policy: 'accept' | 'drop'; dev?: string };
  rules: NftRule[];
}

export interface NftSet {
  family: string;
  table: string;
  name: string;
  flags: string[];
  /** Elements as nft prints them; undefined for a set with no element listed. */
  elem: unknown[] | undefined;
  /** A map (has `map` in its JSON): its lookups are not simple membership. */
  isMap: boolean;
}

export interface NftRuleset {
  tables: Array<{ family: string; name: string }>;
  chains: NftChain[];
  sets: NftSet[];
}

export class NftJsonError extends Error {
  override readonly name = 'NftJsonError';
}

const nftName = z.string();

// Only what is read below is checked, and strictly: a chain without a handle or a rule that names
// no chain is not nft's JSON. Objects of other kinds (metainfo, elements, counters) pass unread.
const tableSchema = z.object({ family: nftName, name: nftName });
const chainSchema = z.object({
  family: nftName,
  table: nftName,
  name: nftName,
  handle: z.number(),
  type: z.string().optional(),
  hook: z.string().optional(),
  prio: z.number().optional(),
  policy: z.string().optional(),
  dev: z.unknown().optional(),
});
const ruleSchema = z.object({
  family: nftName,
  table: nftName,
  chain: nftName,
  handle: z.number(),
  comment: z.string().optional(),
  expr: z.array(z.record(z.string(), z.unknown())).optional(),
});
const setSchema = z.object({
  family: nftName,
  table: nftName,
  name: nftName,
  flags: z.union([z.array(z.string()), z.string()]).optional(),
  elem: z.array(z.unknown()).optional(),
  map: z.unknown().optional(),
});
const nftDocument = z.object({
  nftables: z.array(
    z.object({ table: tableSchema.optional(), chain: chainSchema.optional(), rule: ruleSchema.optional(), set: setSchema.optional(), map: setSchema.optional() }),
  ),
});

const key = (family: string, table: string, name: string): string => `${family}\n${table}\n${name}`;

function toChain(c: z.output<typeof chainSchema>): NftChain {
  const chain: NftChain = { family: c.family, table: c.table, name: c.name, handle: c.handle, rules: [] };
  if (c.hook !== undefined) {
    chain.base = {
      type: c.type ?? '',
      hook: c.hook,
      prio: c.prio ?? Number.NaN,
      // nft prints no policy for chains whose type has none; the kernel's default is accept.
      policy: c.policy === 'drop' ? 'drop' : 'accept',
      ...(typeof c.dev === 'string' ? { dev: c.dev } : {}),
    };
  }
  return chain;
}

/**
 * Parses nft's JSON, as `command` printed it. Accepts the outputs of several `nft -j list table`
 * calls concatenated through `mergeRulesets`; throws NftJsonError, naming the command and the
 * place, when the text is not nft's JSON.
 */
export function parseNftJson(text: string, command = 'nft -j'): NftRuleset {
  const doc = readJsonOutput(text, nftDocument, command, { nftables: [] });
  if (!doc.ok) throw new NftJsonError(doc.error);
  const out: NftRuleset = { tables: [], chains: [], sets: [] };
  const chains = new Map<string, NftChain>();
  const pending: NftRule[] = [];
  for (const item of doc.value.nftables) {
    if (item.table) {
      out.tables.push({ family: item.table.family, name: item.table.name });
    } else if (item.chain) {
      const chain = toChain(item.chain);
      chains.set(key(chain.family, chain.table, chain.name), chain);
      out.chains.push(chain);
    } else if (item.rule) {
      const r = item.rule;
      pending.push({ family: r.family, table: r.table, chain: r.chain, handle: r.handle, ...(r.comment !== undefined ? { comment: r.comment } : {}), expr: r.expr ?? [] });
    } else if (item.set || item.map) {
      const s = (item.set ?? item.map)!;
      out.sets.push({
        family: s.family,
        table: s.table,
        name: s.name,
        flags: typeof s.flags === 'string' ? [s.flags] : (s.flags ?? []),
        elem: s.elem,
        isMap: item.map !== undefined || s.map !== undefined,
      });
    }
  }
  // nft lists rules after their chain, in chain order; kept as listed.
  for (const r of pending) chains.get(key(r.family, r.table, r.chain))?.rules.push(r);
  return out;
}

const nftItems = z.object({ nftables: z.array(z.record(z.string(), z.unknown())) });
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The family and table of every chain in `nft -j list chains`, each table once, in the order
 * listed. Only those two fields are read: beside 1,000 containers the listing holds ~700 of
 * iptables-nft's chains, which the full schema of parseNftJson would check and copy (object by
 * object, at every sync) only for their tables' names. Throws NftJsonError as parseNftJson does.
 */
export function parseChainTables(text: string, command = 'nft -j list chains'): Array<{ family: string; table: string }> {
  const doc = readJsonOutput(text, nftItems, command, { nftables: [] });
  if (!doc.ok) throw new NftJsonError(doc.error);
  const seen = new Set<string>();
  const out: Array<{ family: string; table: string }> = [];
  for (const item of doc.value.nftables) {
    const c = item.chain;
    if (!isObj(c)) continue;
    if (typeof c.family !== 'string' || typeof c.table !== 'string') throw new NftJsonError(`${command}: a chain without a family or table: ${JSON.stringify(c).slice(0, 200)}`);
    const k = `${c.family} ${c.table}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push({ family: c.family, table: c.table });
  }
  return out;
}

/** Several partial listings (one `nft -j list table` each) as one ruleset. */
export function mergeRulesets(parts: readonly NftRuleset[]): NftRuleset {
  return {
    tables: parts.flatMap((p) => p.tables),
    chains: parts.flatMap((p) => p.chains),
    sets: parts.flatMap((p) => p.sets),
  };
}

/**
 * The tables iptables-nft and ip6tables-nft themselves manage (families ip and ip6, their table
 * names), dockgate's included. Everything else is a foreign table: a native nft firewall,
 * firewalld's... (ufw writes through iptables, so its rules live in these tables and are not
 * foreign in this sense).
 */
const IPTABLES_TABLES = new Set(['filter', 'nat', 'raw', 'mangle', 'security']);

export function isIptablesTable(family: string, name: string): boolean {
  return (family === 'ip' || family === 'ip6') && IPTABLES_TABLES.has(name);
}

/**
 * The nft families whose base chains see the packets dockgate's marks are on: the only ones its
 * footprint can work in (flows.ts footprintWorksIn), and so the only ones read for it.
 */
export const FOOTPRINT_FAMILIES: ReadonlySet<string> = new Set(['ip', 'ip6', 'inet']);

export function isForeignTable(family: string, name: string): boolean {
  return !isIptablesTable(family, name);
}

/** Families whose base chains see IPv4 packets routed by this host. */
export function seesIpv4(family: string): boolean {
  return family === 'ip' || family === 'inet';
}

export function findChain(rs: NftRuleset, family: string, table: string, name: string): NftChain | undefined {
  return rs.chains.find((c) => c.family === family && c.table === table && c.name === name);
}

export function findSet(rs: NftRuleset, family: string, table: string, name: string): NftSet | undefined {
  return rs.sets.find((s) => s.family === family && s.table === table && s.name === name);
}

/** Base chains of foreign tables, in listing order. */
export function foreignBaseChains(rs: NftRuleset): NftChain[] {
  return rs.chains.filter((c) => c.base !== undefined && isForeignTable(c.family, c.table));
}

export const chainLabel = (c: Pick<NftChain, 'family' | 'table' | 'name'>): string => `${c.family} ${c.table} ${c.name}`;

/** A `match` statement: `left op right` (op absent: `==`); shapes checked where they are read. */
export interface NftMatch {
  op?: string;
  left?: unknown;
  right?: unknown;
}
