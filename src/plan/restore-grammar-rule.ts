// One rule of dockgate's restore text, the part after `-A CHAIN `: a one-regex fast path for the
// common case, and the full parser that decides every other line and says why it refuses it. Pure.
import type { Family } from '../model/types.js';
import { IFNAME } from '../net/ifname.js';
import { JUMP_COMMENT } from './chains.js';
import { MAX_COMMENT } from './syntax.js';
import { type ChainCache, type ChainFacts, type GrammarTable, TABLE_SHAPES, jumpable } from './restore-grammar-tables.js';
import {
  BARE_COMMENT, CTSTATES, CTSTATE_VALUES, EGRESS_SET, HASHLIMIT, MATCH_ORDER, NFLOG, NOT_PRINTABLE, QUOTED_COMMENT_BODY,
  isCanonicalCidr, isDport, isNflogGroup, setXmarkError, toDestinationError, tokenize,
} from './restore-grammar-values.js';

/** What the rest of the check needs of a rule the full parser accepted. */
export interface ParsedRule {
  comment: string;
  target: string;
}

/**
 * The whole rule grammar as one regular expression, groups: 1 -s, 2 -d, 3 `!` of -i, 4 -i,
 * 5 `!` of -o, 6 -o, 7 -p, 8 -m tcp/udp, 9 --dport, 10 --ctstate, 11 hashlimit options,
 * 12 quoted comment body, 13 bare comment, 14 target, 15 what follows the target.
 */
const RULE =
  /^(?:-s (\S+) )?(?:-d (\S+) )?(?:(!) )?(?:-i (\S+) )?(?:(!) )?(?:-o (\S+) )?(?:-p (tcp|udp) )?(?:-m (tcp|udp) --dport ([1-9][0-9]{0,4}) )?(?:-m addrtype --dst-type LOCAL )?(?:-m conntrack (?:! )?--ctstate ([A-Z,]+) )?(?:-m hashlimit (--hashlimit-upto \S+ --hashlimit-burst \S+ --hashlimit-name \S+) )?-m comment --comment (?:"([A-Za-z0-9_./: -]+)"|([A-Za-z0-9_-]+)) -j (\S+)(?: (.+))?$/;

/**
 * Whether a rule is certainly in the grammar, in one match: the common case of every write. A
 * rule it does not accept goes through parseRule, which decides and says why. The two agree on
 * every line (test/fuzz/restore-grammar.fuzz.test.ts).
 */
export function fastAccept(rule: string, table: GrammarTable, iface: ChainFacts['iface'], family: Family, chains: ChainCache): boolean {
  const m = RULE.exec(rule);
  if (!m) return false;
  // Indexed, not destructured: this runs for every line of a write.
  const src = m[1], dst = m[2], notIn = m[3], inIf = m[4], notOut = m[5], outIf = m[6], proto = m[7], module = m[8], dport = m[9];
  const ctstate = m[10], hashlimit = m[11], quoted = m[12], bare = m[13], target = m[14]!, tail = m[15];
  if (src !== undefined && !isCanonicalCidr(src, family)) return false;
  if (dst !== undefined && !isCanonicalCidr(dst, family)) return false;
  if (inIf !== undefined ? !iface.in || !IFNAME.test(inIf) : notIn !== undefined) return false;
  if (outIf !== undefined ? !iface.out || !IFNAME.test(outIf) : notOut !== undefined) return false;
  if (proto !== module || (dport !== undefined && Number(dport) > 65535)) return false;
  if (ctstate !== undefined && !CTSTATE_VALUES.has(ctstate)) return false;
  if (hashlimit !== undefined && !HASHLIMIT.test(hashlimit)) return false;
  const comment = quoted ?? bare!;
  if (comment.length > MAX_COMMENT || (quoted !== undefined && BARE_COMMENT.test(quoted))) return false;
  // No built-in target is a chain name, so the cheap test first.
  if (!TABLE_SHAPES[table].targets.has(target)) return chains.get(target, table).jumpable && tail === undefined;
  if (target === 'DNAT') return proto !== undefined && tail !== undefined && tail.startsWith('--to-destination ') && toDestinationError(tail.slice(17), family) === undefined;
  if (target === 'MARK') return tail !== undefined && tail.startsWith('--set-xmark ') && setXmarkError(tail.slice(12)) === undefined;
  if (target === 'NFLOG') return tail !== undefined && NFLOG.test(tail) && isNflogGroup(tail);
  return tail === undefined;
}

/** A walk over one rule's tokens: where it stands, and what it has met so far. */
interface Walk {
  readonly tokens: readonly string[];
  i: number;
  proto: string | undefined;
  dport: boolean;
  comment: string | undefined;
}

/**
 * Parses one rule (the part after `-A CHAIN ` / `-I CHAIN 1 ` / `-D CHAIN `) of a chain (`iface`:
 * which interfaces its packets can have) in `table`. Returns the fields, or the reason it is not
 * in the grammar. An index walk without closures: it runs once per line of every write.
 */
export function parseRule(rule: string, table: GrammarTable, chain: string, iface: ChainFacts['iface'], family: Family, chains: ChainCache): ParsedRule | string {
  const tokens = tokenize(rule);
  if (typeof tokens === 'string') return tokens;
  const w: Walk = { tokens, i: 0, proto: undefined, dport: false, comment: undefined };
  const why = parseHead(w, chain, iface, family) ?? parseMatches(w);
  if (why !== undefined) return why;
  if (tokens[w.i] === '--dport' || tokens[w.i] === '--ctstate') return `${tokens[w.i]} outside its match module`;
  if (w.comment === undefined) return 'rule has no comment';
  if (w.proto !== undefined && !w.dport) return `-p ${w.proto} without -m ${w.proto} --dport`;
  return parseTarget(w, w.comment, table, family, chains);
}

/** 1. addresses, interfaces, protocol — in iptables-save's fixed order, each at most once. */
function parseHead(w: Walk, chain: string, iface: ChainFacts['iface'], family: Family): string | undefined {
  const tokens = w.tokens;
  if (tokens[w.i] === '-s') {
    const v = tokens[w.i + 1] ?? '';
    w.i += 2;
    if (!isCanonicalCidr(v, family)) return `-s ${JSON.stringify(v)} is not a canonical IPv${family} CIDR`;
  }
  if (tokens[w.i] === '-d') {
    const v = tokens[w.i + 1] ?? '';
    w.i += 2;
    if (!isCanonicalCidr(v, family)) return `-d ${JSON.stringify(v)} is not a canonical IPv${family} CIDR`;
  }
  for (const flag of ['-i', '-o'] as const) {
    const negated = tokens[w.i] === '!' && tokens[w.i + 1] === flag;
    if (!negated && tokens[w.i] !== flag) continue;
    if (!(flag === '-i' ? iface.in : iface.out)) return `${flag} is not allowed in ${chain}`;
    if (negated) w.i++;
    const v = tokens[w.i + 1] ?? '';
    w.i += 2;
    if (!IFNAME.test(v)) return `${flag} ${JSON.stringify(v)} is not an interface name`;
  }
  if (tokens[w.i] === '-p') {
    const v = tokens[w.i + 1];
    w.i += 2;
    if (v !== 'tcp' && v !== 'udp') return `-p ${JSON.stringify(v ?? '')} is not tcp or udp`;
    w.proto = v;
  }
  return undefined;
}

/** 2. matches, in the order the planner writes them, each at most once. */
function parseMatches(w: Walk): string | undefined {
  const tokens = w.tokens;
  let last = -1;
  while (tokens[w.i] === '-m') {
    const module = tokens[w.i + 1] ?? '';
    w.i += 2;
    const rank = MATCH_ORDER.indexOf(module === 'udp' ? 'tcp' : module);
    if (rank < 0) return `match module ${JSON.stringify(module)} is not allowed`;
    if (rank <= last) return `match module ${module} out of order or repeated`;
    last = rank;
    const why = module === 'comment' ? parseComment(w) : parseMatch(w, module);
    if (why !== undefined) return why;
  }
  return undefined;
}

/** The options of one match module other than comment. */
function parseMatch(w: Walk, module: string): string | undefined {
  const tokens = w.tokens;
  if (module === 'tcp' || module === 'udp') {
    if (w.proto !== module) return `-m ${module} without -p ${module}`;
    if (tokens[w.i] !== '--dport') return `-m ${module} must be followed by --dport`;
    const v = tokens[w.i + 1] ?? '';
    w.i += 2;
    if (!isDport(v)) return `--dport ${JSON.stringify(v)} is not a port 1-65535 or a range START:END`;
    w.dport = true;
  } else if (module === 'set') {
    // An egress allow-list's DNS name: only dockgate's own sets (egress/sets.ts), by destination.
    const name = tokens[w.i + 1] ?? '';
    if (tokens[w.i] !== '--match-set' || !EGRESS_SET.test(name) || tokens[w.i + 2] !== 'dst') return '-m set must be --match-set dockgate-eN-HASH dst';
    w.i += 3;
  } else if (module === 'addrtype') {
    if (tokens[w.i] !== '--dst-type' || tokens[w.i + 1] !== 'LOCAL') return '-m addrtype must be --dst-type LOCAL';
    w.i += 2;
  } else if (module === 'hashlimit') {
    const options = tokens.slice(w.i, w.i + 6).join(' ');
    w.i += 6;
    if (!HASHLIMIT.test(options)) return `-m hashlimit ${JSON.stringify(options)} is not the drop log's --hashlimit-upto N/sec --hashlimit-burst N --hashlimit-name dg-REASON`;
  } else {
    const negated = tokens[w.i] === '!';
    if (negated) w.i++;
    if (tokens[w.i] !== '--ctstate') return '-m conntrack must be followed by [!] --ctstate';
    const v = tokens[w.i + 1] ?? '';
    w.i += 2;
    if (!CTSTATE_VALUES.has(v)) return `--ctstate ${JSON.stringify(v)} is not states of ${CTSTATES.join(',')} in that order`;
  }
  return undefined;
}

/** `-m comment --comment TEXT`, quoted exactly when iptables-save quotes it. */
function parseComment(w: Walk): string | undefined {
  if (w.tokens[w.i] !== '--comment') return '-m comment must be followed by --comment';
  const v = w.tokens[w.i + 1] ?? '';
  w.i += 2;
  let text: string;
  if (v.startsWith('"')) {
    text = v.slice(1, -1);
    if (!QUOTED_COMMENT_BODY.test(text)) return `quoted comment ${v} holds a character outside [A-Za-z0-9_./: -]`;
    if (BARE_COMMENT.test(text)) return `comment ${v} is quoted but iptables-save prints it bare`;
  } else {
    if (!BARE_COMMENT.test(v)) return `bare comment ${JSON.stringify(v)} holds a character outside [A-Za-z0-9_-]`;
    text = v;
  }
  if (text.length > MAX_COMMENT) return `comment is ${text.length} characters; xt_comment keeps only ${MAX_COMMENT}`;
  w.comment = text;
  return undefined;
}

/** 3. the target, last, and nothing after its options. */
function parseTarget(w: Walk, comment: string, table: GrammarTable, family: Family, chains: ChainCache): ParsedRule | string {
  const tokens = w.tokens;
  const n = tokens.length;
  if (tokens[w.i] !== '-j') return `expected -j, got ${JSON.stringify(tokens[w.i] ?? '')}`;
  const target = tokens[w.i + 1] ?? '';
  w.i += 2;
  if (target === '') return '-j without a target';
  if (chains.get(target, table).jumpable) {
    // a jump into one of ours, or to the admin's chain
  } else if (!TABLE_SHAPES[table].targets.has(target)) {
    return `-j ${JSON.stringify(target)} is not allowed in the ${table} table`;
  } else if (target === 'DNAT') {
    if (tokens[w.i] !== '--to-destination') return '-j DNAT must be followed by --to-destination';
    const v = tokens[w.i + 1] ?? '';
    w.i += 2;
    const why = toDestinationError(v, family);
    if (why !== undefined) return why;
    if (w.proto === undefined) return '-j DNAT to a port needs -p';
  } else if (target === 'NFLOG') {
    const options = tokens.slice(w.i, w.i + 4).join(' ');
    w.i += 4;
    if (!NFLOG.test(options) || !isNflogGroup(options)) return `-j NFLOG ${JSON.stringify(options)} is not the drop log's --nflog-prefix "dockgate:REASON:ID" --nflog-group N`;
  } else if (target === 'MARK') {
    if (tokens[w.i] !== '--set-xmark') return '-j MARK must be followed by --set-xmark';
    const v = tokens[w.i + 1] ?? '';
    w.i += 2;
    const why = setXmarkError(v);
    if (why !== undefined) return why;
  }
  if (w.i < n) return `unexpected ${JSON.stringify(tokens.slice(w.i).join(' '))} after the target`;
  if (w.i > n) return `${JSON.stringify(tokens[n - 1])} without its value`;
  return { comment, target };
}

/**
 * A jump dockgate once wrote into a built-in chain, as iptables-save shows it, to be deleted
 * (kernel-state.ts strayJumps, marks.ts): the text is the kernel's own and `-D` removes only the
 * identical rule, so it need only be one of dockgate's jumps, whatever else an older version matched.
 */
export function strayJump(rule: string, table: GrammarTable): string | undefined {
  if (NOT_PRINTABLE.test(rule)) return 'non-printable or non-ASCII character';
  const tokens = tokenize(rule);
  if (typeof tokens === 'string') return tokens;
  const n = tokens.length;
  if (n < 2 || tokens[n - 2] !== '-j' || !jumpable(tokens[n - 1]!, table)) return 'a rule deleted from a built-in chain must be a jump into a dockgate chain';
  if (!tokens.some((t, k) => t === '--comment' && tokens[k - 1] === 'comment' && tokens[k + 1] === JUMP_COMMENT)) return `a rule deleted from a built-in chain must carry the comment ${JUMP_COMMENT}`;
  return undefined;
}
