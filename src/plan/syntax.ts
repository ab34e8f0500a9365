// iptables-save's spellings of the pieces of a rule, so that what we write and what we read back
// compare as plain strings (kube-proxy style drift detection without a parser). Whole rules are
// rendered in render.ts.
import { familyOf } from '../net/address.js';

/** The kernel keeps at most 255 bytes of a comment; a longer one would never read back equal. */
export const MAX_COMMENT = 255;

/**
 * xtables' own quoting rule for --comment: bare when only [A-Za-z0-9_-], else double quotes.
 * docker/ already holds names to Docker's grammar; this is the last line of defence, so that no
 * quote, newline or other control character can ever end a rule or start another.
 */
export function comment(text: string): string {
  const safe = text.replace(/[^A-Za-z0-9_./: -]/g, '_').slice(0, MAX_COMMENT);
  const body = /^[A-Za-z0-9_-]+$/.test(safe) ? safe : `"${safe}"`;
  return `-m comment --comment ${body}`;
}

/** A host address as iptables-save / ip6tables-save prints it. */
export function host(ip: string): string {
  if (ip.includes('/')) return ip;
  return familyOf(ip) === 6 ? `${ip}/128` : `${ip}/32`;
}
