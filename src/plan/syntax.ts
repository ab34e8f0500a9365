// Renders rule fragments exactly as `iptables-save` prints them, so that what we write and what
// we read back compare as plain strings (kube-proxy style drift detection without a parser).

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
  return ip.includes(':') ? `${ip}/128` : `${ip}/32`;
}

/** Renders rule parts in iptables-save's fixed order: -s -d -i -o -p, then matches, then -j. */
export interface RuleParts {
  src?: string;
  dst?: string;
  in?: string;
  notIn?: string;
  out?: string;
  notOut?: string;
  proto?: 'tcp' | 'udp';
  /** One port, or an inclusive range (iptables-save prints it START:END). */
  dport?: number | { start: number; end: number };
  /** `-m set --match-set NAME dst`: the destination is in this ipset (an egress list's DNS name). */
  dstSet?: string;
  /** `-m addrtype --dst-type`: LOCAL keeps an accept to the host's own addresses (no broadcast, no multicast). */
  dstType?: 'LOCAL';
  ctstate?: string;
  notCtstate?: string;
  /** Match modules rendered after conntrack and before the comment (the drop log's `-m hashlimit …`). */
  limit?: string;
  comment: string;
  jump: string;
}

export function rule(p: RuleParts): string {
  const out: string[] = [];
  if (p.src) out.push(`-s ${host(p.src)}`);
  if (p.dst) out.push(`-d ${host(p.dst)}`);
  if (p.in) out.push(`-i ${p.in}`);
  if (p.notIn) out.push(`! -i ${p.notIn}`);
  if (p.out) out.push(`-o ${p.out}`);
  if (p.notOut) out.push(`! -o ${p.notOut}`);
  if (p.proto) out.push(`-p ${p.proto}`);
  if (p.proto && p.dport !== undefined) {
    const d = typeof p.dport === 'number' ? { start: p.dport, end: p.dport } : p.dport;
    out.push(`-m ${p.proto} --dport ${d.start === d.end ? d.start : `${d.start}:${d.end}`}`);
  }
  if (p.dstSet) out.push(`-m set --match-set ${p.dstSet} dst`);
  if (p.dstType) out.push(`-m addrtype --dst-type ${p.dstType}`);
  if (p.ctstate) out.push(`-m conntrack --ctstate ${p.ctstate}`);
  if (p.notCtstate) out.push(`-m conntrack ! --ctstate ${p.notCtstate}`);
  if (p.limit) out.push(p.limit);
  out.push(comment(p.comment));
  out.push(`-j ${p.jump}`);
  return out.join(' ');
}
