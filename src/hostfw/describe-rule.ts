// nft-like text of rules and expressions, for messages (status, doctor, the logs).
import type { NftExpr, NftMatch, NftRule } from './nft-ruleset.js';

/** nft-like text of a rule, for messages: `handle 13: iifname "eth0" ... reject`. */
export function describeRule(rule: NftRule): string {
  const parts = rule.expr.map(describeExpr).filter((s) => s !== '');
  return `handle ${rule.handle}: ${parts.join(' ')}${rule.comment !== undefined ? ` comment "${rule.comment}"` : ''}`;
}

function describeValue(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v.startsWith('@') ? v : JSON.stringify(v);
  if (typeof v === 'number') return String(v);
  if (Array.isArray(v)) return v.map(describeValue).join(',');
  const o = v as Record<string, unknown>;
  if (o.prefix) {
    const pf = o.prefix as { addr?: unknown; len?: unknown };
    return `${String(pf.addr)}/${String(pf.len)}`;
  }
  if (Array.isArray(o.range)) return `${String(o.range[0])}-${String(o.range[1])}`;
  if (o.set !== undefined) return `{ ${(Array.isArray(o.set) ? o.set : [o.set]).map(describeValue).join(', ')} }`;
  if (o.payload) {
    const pl = o.payload as { protocol?: string; field?: string };
    return `${pl.protocol} ${pl.field}`;
  }
  if (o.meta) return `meta ${(o.meta as { key?: string }).key}`;
  if (o.ct) return `ct ${(o.ct as { key?: string }).key}`;
  if (Array.isArray(o['&'])) return `${describeValue(o['&'][0])} & ${describeValue(o['&'][1])}`;
  return Object.keys(o)[0] ?? '?';
}

function describeExpr(e: NftExpr): string {
  const k = Object.keys(e)[0] ?? '';
  if (k === 'match') {
    const m = e.match as NftMatch;
    const op = m.op === '==' || m.op === 'in' || m.op === undefined ? '' : ` ${m.op}`;
    return `${describeValue(m.left)}${op} ${describeValue(m.right)}`;
  }
  if (k === 'counter') return '';
  if (k === 'jump' || k === 'goto') return `${k} ${String((e[k] as { target?: unknown })?.target)}`;
  if (k === 'vmap') return `vmap ${describeValue((e.vmap as { key?: unknown }).key)} { ... }`;
  return k;
}
