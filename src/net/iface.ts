// The interface a packet comes in or goes out by, as the packet evaluators know it (the tracer
// over iptables rules, the nft evaluator over other firewalls' chains), and whether an
// interface-name match holds for it.
import type { Tri } from '../model/tri.js';

/** Known; some interface other than these (`not: []`: not known at all); or none (no such side at this hook). */
export type Iface = { kind: 'known'; name: string } | { kind: 'other'; not: readonly string[] } | { kind: 'none' };

export const UNKNOWN_IFACE: Iface = Object.freeze({ kind: 'other', not: Object.freeze([]) });
export const NO_IFACE: Iface = Object.freeze({ kind: 'none' });
export const knownIface = (name: string): Iface => ({ kind: 'known', name });

/** A trailing `+` (iptables) or `*` (nft, unless escaped) matches every name with that prefix. */
function globMatch(pattern: string, name: string, wildcard: '+' | '*'): boolean {
  if (pattern.endsWith(wildcard) && !pattern.endsWith(`\\${wildcard}`)) return name.startsWith(pattern.slice(0, -1));
  return pattern === name;
}

/**
 * Is the interface one of these names or patterns? No interface has the empty name, as both the
 * kernel's nft meta and iptables compare it (only a bare wildcard matches it); an interface other
 * than some names surely fails only names it is known not to be.
 */
export function ifaceMatches(i: Iface, patterns: readonly string[], wildcard: '+' | '*'): Tri {
  if (i.kind === 'none') return patterns.some((p) => globMatch(p, '', wildcard)) ? 'yes' : 'no';
  if (i.kind === 'known') return patterns.some((p) => globMatch(p, i.name, wildcard)) ? 'yes' : 'no';
  return patterns.every((p) => !p.includes(wildcard) && i.not.includes(p)) ? 'no' : 'maybe';
}
