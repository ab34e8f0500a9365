// doctor's `mark-bit` check: who else on this host tests or sets the packet-mark bit dockgate's
// footprint relies on (`foreign_chains_mark`). A packet another tool marks with that bit passes
// the other firewalls' chains as if dockgate had accepted it; a tool that clears or copies it
// can undo dockgate's marks. Pure: the facts are collected by src/dataplane/host-probe.ts.
import { FULL_MASK, type MarkBit, concernsBit, hexMark, shortHex } from '../model/mark-bit.js';
import { footprintBit } from '../hostfw/footprint-rule.js';
import { type NftRuleset, chainLabel, isIptablesTable } from '../hostfw/nft-ruleset.js';
import type { KernelState } from '../plan/kernel-state.js';
import { MARK_TABLE, isMarkChain } from '../plan/chains.js';
import type { IpRuleFacts, MarkBitFacts } from '../dataplane/host-facts.js';
import type { CheckResult } from './check-result.js';
import type { DoctorFacts } from './facts.js';

/** One use of the bit by someone else: where, and the rule as its tool prints it. */
export interface MarkUse {
  where: string;
  what: string;
}

const num = (v: unknown): number | undefined => {
  if (typeof v === 'number') return v >>> 0;
  if (typeof v === 'string' && /^(0x[0-9a-f]+|[0-9]+)$/i.test(v)) return Number(v) >>> 0;
  return undefined;
};

// ---- nft ---------------------------------------------------------------------------------------

type Expr = Record<string, unknown>;
const isMarkKey = (e: unknown): 'meta mark' | 'ct mark' | undefined => {
  const x = e as { meta?: { key?: unknown }; ct?: { key?: unknown } } | undefined;
  if (x?.meta?.key === 'mark') return 'meta mark';
  if (x?.ct?.key === 'mark') return 'ct mark';
  return undefined;
};

/** `left` of a match: a mark, or a mark & MASK. */
function markOperand(left: unknown): { key: string; mask: number } | undefined {
  const key = isMarkKey(left);
  if (key) return { key, mask: FULL_MASK };
  const and = (left as { '&'?: unknown[] } | undefined)?.['&'];
  if (Array.isArray(and) && and.length === 2) {
    const k = isMarkKey(and[0]);
    const m = num(and[1]);
    if (k && m !== undefined) return { key: k, mask: m };
  }
  return undefined;
}

/** The (mask, value) pairs a match's right side compares with; undefined when nft wrote something else (a set). */
function compared(right: unknown, mask: number): Array<{ mask: number; value: number }> | undefined {
  const n = num(right);
  if (n !== undefined) return [{ mask, value: n }];
  // nft prints `meta mark and 0xff000000 != 0` as a prefix of the mark: the top `len` bits.
  const prefix = (right as { prefix?: { addr?: unknown; len?: unknown } } | undefined)?.prefix;
  if (prefix && typeof prefix.len === 'number') {
    const top = prefix.len === 0 ? 0 : (FULL_MASK << (32 - prefix.len)) >>> 0;
    return [{ mask: (mask & top) >>> 0, value: num(prefix.addr) ?? 0 }];
  }
  const range = (right as { range?: unknown[] } | undefined)?.range;
  if (Array.isArray(range) && range.length === 2) {
    const lo = num(range[0]);
    const hi = num(range[1]);
    // Every bit below the top bit of the span may differ between its values.
    const span = hi !== undefined && lo !== undefined && hi > lo ? 2 ** (32 - Math.clz32(hi - lo)) - 1 : 0;
    if (lo !== undefined && hi !== undefined) return [{ mask, value: (lo | hi | span) >>> 0 }];
  }
  return undefined;
}

/**
 * The bits a write of the mark changes: `mark | N` and `mark ^ N` change N, `mark & N` clears ~N,
 * `(mark & A) | B` both; a constant or a copy of the other mark replaces all 32 (its value, when
 * known, says which bits it sets).
 */
function written(value: unknown, key: string): { mask: number; value: number } {
  const n = num(value);
  if (n !== undefined) return { mask: FULL_MASK, value: n };
  const v = value as Record<string, unknown[]> | undefined;
  for (const op of ['|', '^', '&'] as const) {
    const args = v?.[op];
    if (!Array.isArray(args) || args.length !== 2) continue;
    const k = num(args[1]);
    if (k === undefined) break;
    const inner = isMarkKey(args[0]) === key ? { mask: 0, value: 0 } : written(args[0], key);
    const bits = op === '&' ? ~k >>> 0 : k;
    // Partial: which bits change matters, not their value.
    return { mask: (inner.mask | bits) >>> 0, value: 0 };
  }
  return { mask: FULL_MASK, value: 0 };
}

/** nft rules of every table but iptables' own (those are read through iptables-save) that use the bit. */
export function nftUses(rs: NftRuleset, bit: MarkBit): MarkUse[] {
  const out: MarkUse[] = [];
  for (const c of rs.chains) {
    if (isIptablesTable(c.family, c.table)) continue;
    for (const r of c.rules) {
      // dockgate's own accept, whatever its bit: an old one is removed by dockgate itself.
      if (footprintBit(r) !== undefined) continue;
      for (const e of r.expr as Expr[]) {
        const where = `nft ${chainLabel(c)} handle ${r.handle}`;
        const m = e.match as { op?: string; left?: unknown; right?: unknown } | undefined;
        if (m) {
          const operand = markOperand(m.left);
          if (!operand) continue;
          const pairs = compared(m.right, operand.mask);
          // A set or map of marks: which values it holds is not read here; a partial mask says enough.
          const hits = pairs ? pairs.filter((p) => concernsBit(p.mask, p.value, bit)) : concernsBit(operand.mask, 0, bit) ? [{ mask: operand.mask, value: 0 }] : [];
          if (hits.length > 0) out.push({ where, what: `tests ${operand.key}${operand.mask === FULL_MASK ? '' : ` & ${shortHex(operand.mask)}`}` });
          continue;
        }
        const set = e.mangle as { key?: unknown; value?: unknown } | undefined;
        const key = set && isMarkKey(set.key);
        if (set && key) {
          const w = written(set.value, key);
          if (concernsBit(w.mask, w.value, bit)) out.push({ where, what: `${w.mask === FULL_MASK ? `sets ${key} to ${shortHex(w.value)}` : `changes ${key} bits ${shortHex(w.mask)}`}` });
        }
      }
    }
  }
  return out;
}

// ---- ip rule -----------------------------------------------------------------------------------

export function ipRuleUses(facts: IpRuleFacts, bit: MarkBit): MarkUse[] {
  if (!facts.ok) return [];
  const out: MarkUse[] = [];
  for (const r of facts.rules) {
    const mark = num(r.fwmark);
    if (mark === undefined) continue;
    const mask = num(r.fwmask) ?? FULL_MASK;
    if (!concernsBit(mask, mark, bit)) continue;
    const ip = facts.family === 6 ? 'ip -6 rule' : 'ip rule';
    const not = 'not' in r ? 'not ' : '';
    const fw = mask === FULL_MASK ? shortHex(mark) : `${shortHex(mark)}/${shortHex(mask)}`;
    out.push({ where: `${ip} priority ${String(r.priority ?? '?')}`, what: `${not}fwmark ${fw} lookup ${String(r.table ?? '?')}` });
  }
  return out;
}

// ---- iptables ----------------------------------------------------------------------------------

const HEX = '(0x[0-9a-f]+|[0-9]+)';
/** iptables-save's spellings of mark tests and writes (xt_mark, xt_connmark, xt_MARK, xt_CONNMARK). */
const PATTERNS: Array<{ re: RegExp; pairs: (m: RegExpExecArray) => Array<{ mask: number; value: number }> }> = [
  // -m mark --mark V[/M], -m connmark --mark V[/M] (possibly negated: it still tests the bits)
  { re: new RegExp(`-m (?:conn)?mark (?:! )?--mark ${HEX}(?:/${HEX})?`, 'gi'), pairs: (m) => [{ mask: num(m[2]) ?? FULL_MASK, value: num(m[1])! }] },
  // -j MARK --set-xmark V/M, -j CONNMARK --set-xmark V/M
  { re: new RegExp(`--set-xmark ${HEX}/${HEX}`, 'gi'), pairs: (m) => [{ mask: num(m[2])!, value: num(m[1])! }] },
  // CONNMARK --save-mark / --restore-mark --nfmask N --ctmask C: copies the bits of both masks
  { re: new RegExp(`--(?:save|restore)-mark --nfmask ${HEX} --ctmask ${HEX}`, 'gi'), pairs: (m) => [{ mask: (num(m[1])! & num(m[2])!) >>> 0, value: 0 }] },
];

/** Rules in one family's tables (outside dockgate's own mark chains) that use the bit. */
export function iptablesUses(state: KernelState | undefined, command: string, bit: MarkBit): MarkUse[] {
  const out: MarkUse[] = [];
  for (const [table, t] of state ?? []) {
    for (const [chain, rules] of t.chains) {
      if ((table as string) === MARK_TABLE && isMarkChain(chain)) continue;
      for (const line of rules) {
        const pairs = PATTERNS.flatMap((p) => [...line.matchAll(p.re)].flatMap((m) => p.pairs(m)));
        const hit = pairs.find((p) => concernsBit(p.mask, p.value, bit));
        if (hit) out.push({ where: `${command} ${table}/${chain}`, what: `-A ${chain} ${line}` });
      }
    }
  }
  return out;
}

// ---- Docker ------------------------------------------------------------------------------------

/** Docker's `bridge-accept-fwmark` (`MARK[/MASK]`): bridge networks accept packets with that mark. */
export function dockerUse(value: unknown, where: string, bit: MarkBit): MarkUse[] {
  if (typeof value !== 'string' || value === '') return [];
  const [m, k] = value.split('/');
  const mark = num(m);
  if (mark === undefined) return [];
  const mask = k === undefined ? FULL_MASK : num(k);
  if (mask === undefined || !concernsBit(mask, mark, bit)) return [];
  return [{ where, what: `bridge-accept-fwmark ${value} (Docker accepts packets with it on its bridges)` }];
}

// ---- the check ---------------------------------------------------------------------------------

/** Bits in the order a free one is proposed: from bit 24 up, then down from bit 23. */
const CANDIDATES = [...Array.from({ length: 8 }, (_, i) => 24 + i), ...Array.from({ length: 24 }, (_, i) => 23 - i)].map((i) => 2 ** i as MarkBit);

/** No result when the facts were not collected (doctor's pure checks on hand-made facts). */
export function checkMarkBit(f: DoctorFacts): CheckResult[] {
  return f.markBit ? [judge(f, f.markBit)] : [];
}

/** Every use of `bit` the facts show, and what could not be read. */
function usesOf(f: DoctorFacts, m: MarkBitFacts, bit: MarkBit): { uses: MarkUse[]; unread: string[] } {
  const uses: MarkUse[] = [];
  const unread: string[] = [];
  const nft = f.hostFirewall?.nft;
  if (nft?.ok) uses.push(...nftUses(nft.ruleset, bit));
  else unread.push('nft');
  for (const r of m.ipRules) {
    if (r.ok) uses.push(...ipRuleUses(r, bit));
    else unread.push(`${r.family === 6 ? 'ip -6' : 'ip'} rule (${r.error})`);
  }
  for (const s of [f.iptables, ...(f.ip6tables?.found ? [f.ip6tables] : [])]) {
    if (s.state) uses.push(...iptablesUses(s.state, s.command.replace(/-save$/, ''), bit));
    else unread.push(s.command);
  }
  if (f.daemonJson.state === 'ok') uses.push(...dockerUse(f.daemonJson.settings['bridge-accept-fwmark'], f.daemonJson.path, bit));
  if (f.dockerd?.bridgeAcceptFwmark !== undefined) uses.push(...dockerUse(f.dockerd.bridgeAcceptFwmark, `dockerd --bridge-accept-fwmark (pid ${f.dockerd.pid})`, bit));
  return { uses, unread };
}

function judge(f: DoctorFacts, m: MarkBitFacts): CheckResult {
  const name = 'mark-bit';
  const bit = hexMark(m.bit);
  if (f.hostFirewall?.mode === 'leave') return { status: 'ok', name, detail: `foreign_chains is leave: dockgate sets no mark (foreign_chains_mark ${bit} unused)` };
  const { uses, unread } = usesOf(f, m, m.bit);
  const notRead = unread.length > 0 ? `; not read: ${unread.join(', ')}` : '';
  if (uses.length === 0) return { status: 'ok', name, detail: `no other rule tests or sets foreign_chains_mark ${bit}${notRead}` };
  // Asked the same questions for every other bit: one nobody here tests or sets.
  const free = CANDIDATES.find((b) => b !== m.bit && usesOf(f, m, b).uses.length === 0);
  const fix =
    free === undefined
      ? 'no bit is free of them: set foreign_chains_mark to the bit those tools can best spare'
      : `set foreign_chains_mark to a bit none of them uses, e.g. foreign_chains_mark: ${hexMark(free)}`;
  return {
    status: 'warn',
    name,
    detail:
      `foreign_chains_mark ${bit} is used by others too: ${uses.map((u) => `${u.where}: ${u.what}`).join('; ')}. ` +
      `A packet they mark with it passes other firewalls' chains as if dockgate had accepted it, and one they clear loses dockgate's accept: ${fix}${notRead}`,
  };
}
