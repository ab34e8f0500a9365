// `-m set --match-set NAME src|dst`, decided from the members of the kernel's ipsets (the DNS
// names of egress allow-lists, egress/sets.ts), which the caller read with `ipset save` and hands
// over as data: the tracer stays pure. A set whose members it was not given is uncertain, never
// taken as empty: the kernel refuses a rule naming a missing set, so one not read is one not known.
import type { Family } from '../model/types.js';
import { type Net, parseNet, relation } from '../net/address.js';
import { parseRule } from './rule.js';

/** The kernel's sets by name: each member address with the seconds it has left (undefined: no timeout). */
export type SetMembers = ReadonlyMap<string, { family: Family; members: ReadonlyMap<string, number | undefined> }>;

export interface SetCond {
  kind: 'set';
  set: string;
  /** Which address of the packet is looked up (one dimension: hash:ip). */
  dir: 'src' | 'dst';
  neg: boolean;
  text: string;
}

/** `--match-set NAME FLAGS` → a condition, or undefined for flags the tracer does not model. */
export function setCond(v: readonly string[], neg: boolean, text: string): SetCond | undefined {
  const [set, flags] = v;
  if (set === undefined || (flags !== 'src' && flags !== 'dst')) return undefined;
  return { kind: 'set', set, dir: flags, neg, text };
}

type Tri = 'yes' | 'no' | 'maybe';

/** The member that holds every address of `addr`, or whether some might. */
function lookup(members: ReadonlyMap<string, number | undefined>, addr: Net): { tri: Tri; member?: { address: string; secondsLeft: number | undefined } } {
  let partly = false;
  for (const [text, secondsLeft] of members) {
    const m = parseNet(text);
    if (!m) continue;
    const r = relation(m, addr);
    if (r === 'yes') return { tri: 'yes', member: { address: m.text, secondsLeft } };
    if (r === 'maybe') partly = true;
  }
  return { tri: partly ? 'maybe' : 'no' };
}

/** Whether the set holds the packet's address: yes, no, or maybe with why (before negation). */
export function judgeSet(c: SetCond, src: Net, dst: Net, sets: SetMembers | undefined): { tri: Tri; why?: string } {
  if (sets === undefined) return { tri: 'maybe', why: `the members of ipset ${c.set} are not known (${c.text})` };
  const s = sets.get(c.set);
  if (s === undefined) return { tri: 'maybe', why: `ipset ${c.set} was not among the sets read (${c.text})` };
  const addr = c.dir === 'src' ? src : dst;
  if (addr.family !== s.family) return { tri: 'no' };
  const r = lookup(s.members, addr);
  if (r.tri === 'maybe') return { tri: 'maybe', why: `${addr.text} is partly among the members of ipset ${c.set} (${c.text})` };
  return { tri: r.tri };
}

/** The set and member through which `line` (a rule that matched) let the packet pass, if it matched on one. */
export function setMatchOf(line: string, dst: string, src: string, sets: SetMembers): { set: string; address: string; secondsLeft: number | undefined } | undefined {
  const d = parseNet(dst);
  const s = parseNet(src);
  if (!d || !s) return undefined;
  for (const c of parseRule(line).conds) {
    if (c.kind !== 'set' || c.neg) continue;
    const members = sets.get(c.set)?.members;
    const r = members ? lookup(members, c.dir === 'src' ? s : d) : undefined;
    if (r?.member) return { set: c.set, ...r.member };
  }
  return undefined;
}
