// `nft -j list ruleset` (or `list table`) parsed into tables, chains, rules and sets. Pure: the
// dataplane runs nft, this module only reads its JSON. Unknown objects are kept as they are, so
// that the analysis can say "cannot evaluate" instead of guessing.
import { errorMessage } from '../util/errors.js';

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

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? Number.NaN));

const key = (family: string, table: string, name: string): string => `${family}\n${table}\n${name}`;

/**
 * Parses nft's JSON. Accepts the outputs of several `nft -j list table` calls concatenated
 * through `mergeRulesets`; throws NftJsonError when the text is not nft's JSON at all.
 */
export function parseNftJson(text: string): NftRuleset {
  let doc: unknown;
  try {
    doc = JSON.parse(text === '' ? '{"nftables":[]}' : text);
  } catch (err) {
    throw new NftJsonError(`nft printed something that is not JSON: ${errorMessage(err)}`);
  }
  const items = (doc as { nftables?: unknown }).nftables;
  if (!Array.isArray(items)) throw new NftJsonError('nft JSON without an "nftables" array');
  const out: NftRuleset = { tables: [], chains: [], sets: [] };
  const chains = new Map<string, NftChain>();
  const pending: NftRule[] = [];
  for (const item of items as Array<Record<string, Record<string, unknown>>>) {
    if (item.table) {
      out.tables.push({ family: str(item.table.family), name: str(item.table.name) });
    } else if (item.chain) {
      const c = item.chain;
      const chain: NftChain = { family: str(c.family), table: str(c.table), name: str(c.name), handle: num(c.handle), rules: [] };
      if (typeof c.hook === 'string') {
        chain.base = {
          type: str(c.type),
          hook: c.hook,
          prio: num(c.prio),
          // nft prints no policy for chains whose type has none; the kernel's default is accept.
          policy: c.policy === 'drop' ? 'drop' : 'accept',
          ...(typeof c.dev === 'string' ? { dev: c.dev } : {}),
        };
      }
      chains.set(key(chain.family, chain.table, chain.name), chain);
      out.chains.push(chain);
    } else if (item.rule) {
      const r = item.rule;
      pending.push({
        family: str(r.family),
        table: str(r.table),
        chain: str(r.chain),
        handle: num(r.handle),
        ...(typeof r.comment === 'string' ? { comment: r.comment } : {}),
        expr: Array.isArray(r.expr) ? (r.expr as NftExpr[]) : [],
      });
    } else if (item.set || item.map) {
      const s = (item.set ?? item.map)!;
      out.sets.push({
        family: str(s.family),
        table: str(s.table),
        name: str(s.name),
        flags: Array.isArray(s.flags) ? (s.flags as unknown[]).map(str) : typeof s.flags === 'string' ? [s.flags] : [],
        elem: Array.isArray(s.elem) ? (s.elem as unknown[]) : undefined,
        isMap: item.map !== undefined || s.map !== undefined,
      });
    }
  }
  // nft lists rules after their chain, in chain order; kept as listed.
  for (const r of pending) chains.get(key(r.family, r.table, r.chain))?.rules.push(r);
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
