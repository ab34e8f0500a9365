// A strict grammar for the iptables-restore text dockgate writes, checked line by line before
// any of it reaches iptables-restore (dataplane/iptables.ts), and by the fuzz tests.
//
// It is deliberately narrower than what iptables-restore accepts: exactly the lines and options
// dockgate's planner produces, in the order iptables-save prints them, into chains dockgate owns
// by exact name (chains.ts). Text that reaches the kernel from somewhere it should not (a label,
// a Docker name, a bug) is refused as a whole, naming the line and the container it came from,
// rather than written as a valid-looking rule. Pure: no I/O.
import type { Family } from '../model/types.js';
import { IFNAME } from '../net/ifname.js';
import { parseCidr } from '../net/address.js';
import { JUMP_COMMENT, MARK_TABLE, USER, isMarkChain, managedChainTable } from './chains.js';
import { DROP_REASONS, NO_CONTAINER, PREFIX_HEAD } from './drop-log.js';
import { MAX_COMMENT } from './syntax.js';

/** Every table dockgate writes: its own three, and mangle for the footprint marks (marks.ts). */
export type GrammarTable = 'raw' | 'nat' | 'filter' | typeof MARK_TABLE;

export interface GrammarOptions {
  /** ip6tables-restore text: IPv6 addresses, DNAT to [ADDRESS]:PORT (default 4). */
  family?: Family;
  /**
   * Text written against an existing kernel (renderDiff, renderFull, renderFlush, renderMarks):
   * also allows `-D CHAIN RULE`, `-F` and `-X CHAIN`, and `-A` into chains and jumps to chains
   * this text does not declare. Production always writes in this mode; `dockgate plan` and the
   * golden files are whole documents without it.
   */
  diff?: boolean;
  /**
   * false: every rule through the full parser, none through the one-regex fast path. The verdict
   * is the same either way (test/fuzz/restore-grammar.fuzz.test.ts holds them to it); only the
   * cost differs.
   */
  fastPath?: boolean;
}

export interface Violation {
  /** 1-based line number in the text. */
  line: number;
  text: string;
  reason: string;
  /** `name/shortid` from the rule's comment, when the line is a container's. */
  container?: string;
}

const TABLE_LINE = /^\*(raw|nat|filter|mangle)$/;
const DECLARATION = /^:(\S+) - \[0:0\]$/;
const NOT_PRINTABLE = /[^\x20-\x7e]/;

/** Built-in chains each table has (iptables-restore refuses others). */
const BUILTINS: Record<GrammarTable, ReadonlySet<string>> = {
  raw: new Set(['PREROUTING', 'OUTPUT']),
  nat: new Set(['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING']),
  filter: new Set(['INPUT', 'FORWARD', 'OUTPUT']),
  mangle: new Set(['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING']),
};

/** The built-ins dockgate inserts its jumps into (chains.ts JUMPS; marks.ts for mangle). */
const JUMP_BUILTINS: Record<GrammarTable, ReadonlySet<string>> = {
  raw: new Set(['PREROUTING']),
  nat: new Set(['PREROUTING', 'OUTPUT', 'POSTROUTING']),
  filter: new Set(['INPUT', 'FORWARD']),
  mangle: new Set(['INPUT', 'FORWARD']),
};

/** Targets allowed per table besides jumps into dockgate's own chains. */
const TARGETS: Record<GrammarTable, ReadonlySet<string>> = {
  raw: new Set(['DROP', 'NFLOG']),
  nat: new Set(['DNAT', 'MASQUERADE', 'RETURN']),
  filter: new Set(['ACCEPT', 'DROP', 'RETURN', 'NFLOG']),
  mangle: new Set(['MARK', 'RETURN']),
};

const PORT = /^[1-9][0-9]{0,4}$/;
const BARE_COMMENT = /^[A-Za-z0-9_-]+$/;
/** What syntax.comment() leaves of any text, inside the quotes iptables-save then prints. */
const QUOTED_COMMENT_BODY = /^[A-Za-z0-9_./: -]+$/;
/** `MARK --set-xmark BIT/BIT` as iptables-save prints `--or-mark BIT`: the same short hex twice. */
const SET_XMARK = /^0x([1-9a-f][0-9a-f]{0,7})\/0x\1$/;
/** conntrack states in the order iptables-save prints them. */
const CTSTATES = ['INVALID', 'NEW', 'RELATED', 'ESTABLISHED', 'UNTRACKED', 'SNAT', 'DNAT'];
/** Every `--ctstate` value iptables-save can print: each non-empty subset of CTSTATES, in order. */
const CTSTATE_VALUES: ReadonlySet<string> = new Set(
  Array.from({ length: (1 << CTSTATES.length) - 1 }, (_, m) => CTSTATES.filter((_, k) => ((m + 1) >> k) & 1).join(',')),
);
/** The ipset names egress/sets.ts gives a DNS name's addresses. */
const EGRESS_SET = /^dockgate-e[46]-[0-9a-f]{12}$/;
const MATCH_ORDER = ['tcp', 'set', 'addrtype', 'conntrack', 'hashlimit', 'comment'];
/** The drop log's rate limit (drop-log.ts): per second, one bucket per reason, at most 31 characters of name. */
const HASHLIMIT = new RegExp(`^--hashlimit-upto [1-9][0-9]{0,5}/sec --hashlimit-burst [1-9][0-9]{0,5} --hashlimit-name dg-(?:${DROP_REASONS.join('|')})$`);
/** The drop log's target (drop-log.ts dropPrefix): why, and whose, for the reader; a group 0-65535. */
const NFLOG_PREFIX = `${PREFIX_HEAD}:(?:${DROP_REASONS.join('|')}):(?:[0-9a-f]{12}|${NO_CONTAINER})`;
const NFLOG = new RegExp(`^--nflog-prefix (?:"${NFLOG_PREFIX}"|${NFLOG_PREFIX}) --nflog-group (?:0|[1-9][0-9]{0,4})$`);
const isNflogGroup = (tail: string): boolean => Number(tail.slice(tail.lastIndexOf(' ') + 1)) <= 65535;
const CONTAINER_COMMENT = /^(.+\/[0-9a-f]{12})$/;
const COMMENT_IN_LINE = /(?:^| )-m comment --comment ("[^"]*"|\S+)/;

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
function jumpable(name: string, table: GrammarTable): boolean {
  return ownsIn(name, table) || (table === 'filter' && name === USER);
}

/** What the grammar needs to know of one chain name in one table (the same few hundred names recur on every line). */
interface ChainFacts {
  owns: boolean;
  mayRetire: boolean;
  jumpable: boolean;
  builtin: boolean;
  iface: { in: boolean; out: boolean };
}

class ChainCache {
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
      const builtin = BUILTINS[table].has(name);
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

const isPort = (text: string): boolean => PORT.test(text) && Number(text) <= 65535;
/** `--dport` is one port, or an egress allow-list's range START:END (START below END), as iptables-save prints it. */
const isDport = (text: string): boolean => {
  const [start = '', end, more] = text.split(':');
  return more === undefined && isPort(start) && (end === undefined || (isPort(end) && Number(start) < Number(end)));
};

/** A canonical IPv4 CIDR, never /0; groups: the four octets and the prefix length. */
const V4_CIDR =
  /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\/([1-9]|[12][0-9]|3[0-2])$/;

const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const V4_ADDRESS = `${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}`;
const V4_HOST = new RegExp(`^${V4_ADDRESS}/32$`);
const V4_BARE = new RegExp(`^${V4_ADDRESS}$`);

/**
 * Canonical CIDR of `family` as iptables-save / ip6tables-save print it: prefix always given,
 * never /0 (save omits it). IPv4 in one match, without re-rendering: every rule of a large plan
 * has one or two.
 */
function isCanonicalCidr(text: string, family: Family): boolean {
  if (family === 4) {
    // Most are one container's address: no host bits to look at.
    if (text.endsWith('/32')) return V4_HOST.test(text);
    const m = V4_CIDR.exec(text);
    if (!m) return false;
    const n = ((Number(m[1]) * 256 + Number(m[2])) * 256 + Number(m[3])) * 256 + Number(m[4]);
    const bits = 32 - Number(m[5]);
    return bits === 0 || n % 2 ** bits === 0;
  }
  if (!text.includes('/') || text.endsWith('/0')) return false;
  const r = parseCidr(text);
  return r.ok && r.value.family === 6 && r.value.text === text;
}

function isCanonicalAddress(text: string, family: Family): boolean {
  if (text.includes('/')) return false;
  if (family === 4) return V4_BARE.test(text);
  const r = parseCidr(text);
  return r.ok && r.value.family === 6 && r.value.text === `${text}/128`;
}

/**
 * Splits a rule into tokens on single spaces. A token that starts with '"' runs to the next '"'
 * (no escapes are allowed in dockgate's comments, so none are handled). Returns a reason string
 * when the line cannot be tokenized.
 */
function tokenize(rule: string): string[] | string {
  if (!rule.includes('"')) {
    // The common case: no quoted comment, so single spaces are the whole grammar of the line.
    if (rule === '') return 'empty rule';
    const tokens = rule.split(' ');
    if (tokens.includes('')) return rule.endsWith(' ') ? 'trailing space' : rule.startsWith(' ') ? 'leading space' : 'two spaces in a row';
    return tokens;
  }
  const tokens: string[] = [];
  let i = 0;
  while (i < rule.length) {
    if (rule[i] === '"') {
      const end = rule.indexOf('"', i + 1);
      if (end < 0) return 'unterminated quote';
      tokens.push(rule.slice(i, end + 1));
      i = end + 1;
    } else {
      let end = rule.indexOf(' ', i);
      if (end < 0) end = rule.length;
      const token = rule.slice(i, end);
      if (token.includes('"')) return `quote inside token ${JSON.stringify(token)}`;
      tokens.push(token);
      i = end;
    }
    if (i < rule.length) {
      if (rule[i] !== ' ') return `no space after token ${JSON.stringify(tokens[tokens.length - 1])}`;
      i++;
      if (i === rule.length) return 'trailing space';
      if (rule[i] === ' ') return 'two spaces in a row';
    }
  }
  if (tokens.length === 0) return 'empty rule';
  return tokens;
}

/** What the rest of the check needs of a rule the full parser accepted. */
interface ParsedRule {
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
function fastAccept(rule: string, table: GrammarTable, iface: ChainFacts['iface'], family: Family, chains: ChainCache): boolean {
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
  if (!TARGETS[table].has(target)) return chains.get(target, table).jumpable && tail === undefined;
  if (target === 'DNAT') return proto !== undefined && tail !== undefined && tail.startsWith('--to-destination ') && toDestinationError(tail.slice(17), family) === undefined;
  if (target === 'MARK') return tail !== undefined && tail.startsWith('--set-xmark ') && setXmarkError(tail.slice(12)) === undefined;
  if (target === 'NFLOG') return tail !== undefined && NFLOG.test(tail) && isNflogGroup(tail);
  return tail === undefined;
}

/** Why `--to-destination v` is not what dockgate writes: IPv4:PORT, or [IPv6]:PORT as ip6tables prints it. */
function toDestinationError(v: string, family: Family): string | undefined {
  const colon = v.lastIndexOf(':');
  const port = v.slice(colon + 1);
  const ip = v.slice(0, colon);
  if (family === 6) {
    if (!ip.startsWith('[') || !ip.endsWith(']') || !isCanonicalAddress(ip.slice(1, -1), 6) || !isPort(port)) return `--to-destination ${JSON.stringify(v)} is not [IPv6]:PORT`;
  } else if (colon < 0 || !isCanonicalAddress(ip, 4) || !isPort(port)) return `--to-destination ${JSON.stringify(v)} is not IPv4:PORT`;
  return undefined;
}

/** Why `--set-xmark v` is not one bit set and not toggled: what `--or-mark BIT` reads back as. */
function setXmarkError(v: string): string | undefined {
  const hex = SET_XMARK.exec(v)?.[1];
  const bit = hex === undefined ? 0 : Number.parseInt(hex, 16);
  if (hex === undefined || (bit & (bit - 1)) !== 0) return `--set-xmark ${JSON.stringify(v)} is not BIT/BIT for one bit`;
  return undefined;
}

/**
 * Parses one rule (the part after `-A CHAIN ` / `-I CHAIN 1 ` / `-D CHAIN `) of a chain (`iface`:
 * which interfaces its packets can have) in `table`. Returns the fields, or the reason it is not
 * in the grammar. An index walk without closures: it runs once per line of every write.
 */
function parseRule(rule: string, table: GrammarTable, chain: string, iface: ChainFacts['iface'], family: Family, chains: ChainCache): ParsedRule | string {
  const tokens = tokenize(rule);
  if (typeof tokens === 'string') return tokens;
  const n = tokens.length;
  let i = 0;
  let proto: string | undefined;
  let dport = false;
  let comment: string | undefined;

  // 1. addresses, interfaces, protocol — in iptables-save's fixed order, each at most once.
  if (tokens[i] === '-s') {
    const v = tokens[i + 1] ?? '';
    i += 2;
    if (!isCanonicalCidr(v, family)) return `-s ${JSON.stringify(v)} is not a canonical IPv${family} CIDR`;
  }
  if (tokens[i] === '-d') {
    const v = tokens[i + 1] ?? '';
    i += 2;
    if (!isCanonicalCidr(v, family)) return `-d ${JSON.stringify(v)} is not a canonical IPv${family} CIDR`;
  }
  for (const flag of ['-i', '-o'] as const) {
    const negated = tokens[i] === '!' && tokens[i + 1] === flag;
    if (!negated && tokens[i] !== flag) continue;
    if (!(flag === '-i' ? iface.in : iface.out)) return `${flag} is not allowed in ${chain}`;
    if (negated) i++;
    const v = tokens[i + 1] ?? '';
    i += 2;
    if (!IFNAME.test(v)) return `${flag} ${JSON.stringify(v)} is not an interface name`;
  }
  if (tokens[i] === '-p') {
    const v = tokens[i + 1];
    i += 2;
    if (v !== 'tcp' && v !== 'udp') return `-p ${JSON.stringify(v ?? '')} is not tcp or udp`;
    proto = v;
  }

  // 2. matches, in the order the planner writes them, each at most once.
  let last = -1;
  while (tokens[i] === '-m') {
    const module = tokens[i + 1] ?? '';
    i += 2;
    const rank = MATCH_ORDER.indexOf(module === 'udp' ? 'tcp' : module);
    if (rank < 0) return `match module ${JSON.stringify(module)} is not allowed`;
    if (rank <= last) return `match module ${module} out of order or repeated`;
    last = rank;
    if (module === 'tcp' || module === 'udp') {
      if (proto !== module) return `-m ${module} without -p ${module}`;
      if (tokens[i] !== '--dport') return `-m ${module} must be followed by --dport`;
      const v = tokens[i + 1] ?? '';
      i += 2;
      if (!isDport(v)) return `--dport ${JSON.stringify(v)} is not a port 1-65535 or a range START:END`;
      dport = true;
    } else if (module === 'set') {
      // An egress allow-list's DNS name: only dockgate's own sets (egress/sets.ts), by destination.
      const name = tokens[i + 1] ?? '';
      if (tokens[i] !== '--match-set' || !EGRESS_SET.test(name) || tokens[i + 2] !== 'dst') return '-m set must be --match-set dockgate-eN-HASH dst';
      i += 3;
    } else if (module === 'addrtype') {
      if (tokens[i] !== '--dst-type' || tokens[i + 1] !== 'LOCAL') return '-m addrtype must be --dst-type LOCAL';
      i += 2;
    } else if (module === 'hashlimit') {
      const options = tokens.slice(i, i + 6).join(' ');
      i += 6;
      if (!HASHLIMIT.test(options)) return `-m hashlimit ${JSON.stringify(options)} is not the drop log's --hashlimit-upto N/sec --hashlimit-burst N --hashlimit-name dg-REASON`;
    } else if (module === 'conntrack') {
      const negated = tokens[i] === '!';
      if (negated) i++;
      if (tokens[i] !== '--ctstate') return '-m conntrack must be followed by [!] --ctstate';
      const v = tokens[i + 1] ?? '';
      i += 2;
      if (!CTSTATE_VALUES.has(v)) return `--ctstate ${JSON.stringify(v)} is not states of ${CTSTATES.join(',')} in that order`;
    } else {
      if (tokens[i] !== '--comment') return '-m comment must be followed by --comment';
      const v = tokens[i + 1] ?? '';
      i += 2;
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
      comment = text;
    }
  }
  if (tokens[i] === '--dport' || tokens[i] === '--ctstate') return `${tokens[i]} outside its match module`;
  if (comment === undefined) return 'rule has no comment';
  if (proto !== undefined && !dport) return `-p ${proto} without -m ${proto} --dport`;

  // 3. the target, last.
  if (tokens[i] !== '-j') return `expected -j, got ${JSON.stringify(tokens[i] ?? '')}`;
  const target = tokens[i + 1] ?? '';
  i += 2;
  if (target === '') return '-j without a target';
  if (chains.get(target, table).jumpable) {
    // a jump into one of ours, or to the admin's chain
  } else if (!TARGETS[table].has(target)) {
    return `-j ${JSON.stringify(target)} is not allowed in the ${table} table`;
  } else if (target === 'DNAT') {
    if (tokens[i] !== '--to-destination') return '-j DNAT must be followed by --to-destination';
    const v = tokens[i + 1] ?? '';
    i += 2;
    const why = toDestinationError(v, family);
    if (why !== undefined) return why;
    if (proto === undefined) return '-j DNAT to a port needs -p';
  } else if (target === 'NFLOG') {
    const options = tokens.slice(i, i + 4).join(' ');
    i += 4;
    if (!NFLOG.test(options) || !isNflogGroup(options)) return `-j NFLOG ${JSON.stringify(options)} is not the drop log's --nflog-prefix "dockgate:REASON:ID" --nflog-group N`;
  } else if (target === 'MARK') {
    if (tokens[i] !== '--set-xmark') return '-j MARK must be followed by --set-xmark';
    const v = tokens[i + 1] ?? '';
    i += 2;
    const why = setXmarkError(v);
    if (why !== undefined) return why;
  }
  if (i < n) return `unexpected ${JSON.stringify(tokens.slice(i).join(' '))} after the target`;
  if (i > n) return `${JSON.stringify(tokens[n - 1])} without its value`;
  return { comment, target };
}

/**
 * A jump dockgate once wrote into a built-in chain, as iptables-save shows it, to be deleted
 * (kernel-state.ts strayJumps, marks.ts): the text is the kernel's own and `-D` removes only the
 * identical rule, so it need only be one of dockgate's jumps, whatever else an older version matched.
 */
function strayJump(rule: string, table: GrammarTable): string | undefined {
  if (NOT_PRINTABLE.test(rule)) return 'non-printable or non-ASCII character';
  const tokens = tokenize(rule);
  if (typeof tokens === 'string') return tokens;
  const n = tokens.length;
  if (n < 2 || tokens[n - 2] !== '-j' || !jumpable(tokens[n - 1]!, table)) return 'a rule deleted from a built-in chain must be a jump into a dockgate chain';
  if (!tokens.some((t, k) => t === '--comment' && tokens[k - 1] === 'comment' && tokens[k + 1] === JUMP_COMMENT)) return `a rule deleted from a built-in chain must carry the comment ${JUMP_COMMENT}`;
  return undefined;
}

/** The container a line belongs to, from its `name/shortid` comment. */
function containerOf(line: string): string | undefined {
  const raw = COMMENT_IN_LINE.exec(line)?.[1];
  if (raw === undefined) return undefined;
  const text = raw.startsWith('"') ? raw.slice(1, -1) : raw;
  return CONTAINER_COMMENT.exec(text)?.[1];
}

function violation(index: number, line: string, reason: string): Violation {
  const container = containerOf(line);
  return { line: index + 1, text: line, reason, ...(container !== undefined ? { container } : {}) };
}

/** Every violation of the grammar in `text` (an empty array when it is all valid). */
export function checkRestore(text: string, options: GrammarOptions = {}): Violation[] {
  const violations: Violation[] = [];
  if (text === '') return violations;
  const family = options.family ?? 4;
  const diff = options.diff ?? false;
  const fastPath = options.fastPath ?? true;
  const chains = new ChainCache();
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  else violations.push({ line: lines.length, text: lines[lines.length - 1] ?? '', reason: 'text does not end with a newline' });

  let table: GrammarTable | undefined;
  let declared = new Set<string>();
  let phase = 0; // 0 declarations, 1 rule edits, 2 chain removals
  let bodyLines = 0;
  const seenTables = new Set<string>();

  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!;
    const reason = checkLine(line);
    // Every accepted token is held to a pattern of printable ASCII (or an exact name), so a
    // control character can only be in a refused line: named as the reason there.
    if (reason !== undefined) violations.push(violation(index, line, NOT_PRINTABLE.test(line) ? 'non-printable or non-ASCII character' : reason));
  }
  if (table !== undefined) violations.push({ line: lines.length, text: '', reason: `table ${table} has no COMMIT` });
  return violations;

  /** Why one line is outside the grammar (undefined: it is in), keeping track of where it stands. */
  function checkLine(line: string): string | undefined {
    if (table === undefined) {
      const m = TABLE_LINE.exec(line);
      if (!m) return 'expected *raw, *nat, *filter or *mangle';
      table = m[1] as GrammarTable;
      declared = new Set();
      phase = 0;
      bodyLines = 0;
      if (seenTables.has(table)) return `table ${table} appears twice`;
      seenTables.add(table);
      return undefined;
    }
    if (line === 'COMMIT') {
      table = undefined;
      return bodyLines === 0 ? 'empty table block' : undefined;
    }
    bodyLines++;
    const t = table;

    if (line.startsWith(':')) {
      const m = DECLARATION.exec(line);
      // DOCKGATE-USER is declared only where it is missing (restore.ts): that creates it.
      if (!m || !(chains.get(m[1]!, t).mayRetire || (t === 'filter' && m[1] === USER))) return `declaration is not ":CHAIN - [0:0]" of a chain dockgate owns in ${t}`;
      const name = m[1]!;
      if (phase > 0) return 'declaration after rule lines (it would flush the chain again)';
      if (declared.has(name)) return `chain ${name} declared twice`;
      declared.add(name);
      return undefined;
    }

    const space = line.indexOf(' ');
    const op = space < 0 ? line : line.slice(0, space);
    const afterOp = space < 0 ? '' : line.slice(space + 1);
    const space2 = afterOp.indexOf(' ');
    const chain = space2 < 0 ? afterOp : afterOp.slice(0, space2);
    const rest = space2 < 0 ? '' : afterOp.slice(space2 + 1);
    const facts = chains.get(chain, t);
    if (op === '-X' || op === '-F') {
      if (!diff) return `${op} outside a diff`;
      if (rest !== '' || !(facts.mayRetire || (t === 'filter' && chain === USER))) return `${op} must name one chain dockgate owns in ${t}`;
      if (op === '-F') {
        // Empties it as a declaration would: what flush --user-chain does to the admin's chain.
        declared.add(chain);
        return undefined;
      }
      phase = 2;
      return declared.has(chain) ? undefined : `-X ${chain} without declaring (emptying) it first`;
    }
    if (phase === 2) return 'rule line after -X lines';
    phase = 1;
    let rule: string;
    if (op === '-A') {
      if (!facts.owns) return `-A into ${JSON.stringify(chain)}, not a chain dockgate writes in ${t}`;
      if (!diff && !declared.has(chain)) return `-A into ${chain}, which this table block does not declare`;
      rule = rest;
    } else if (op === '-I') {
      if (!JUMP_BUILTINS[t].has(chain)) return `-I into ${JSON.stringify(chain)}, not a built-in chain dockgate jumps from in ${t}`;
      if (!rest.startsWith('1 ')) return '-I must insert at position 1';
      rule = rest.slice(2);
    } else if (op === '-D') {
      if (!diff) return '-D outside a diff';
      if (facts.builtin) return strayJump(rest, t);
      if (!facts.mayRetire) return `-D from ${JSON.stringify(chain)}, not a chain dockgate owns in ${t}`;
      rule = rest;
    } else {
      return `unexpected line start ${JSON.stringify(op)}`;
    }
    if (fastPath && op !== '-I' && (diff || !chains.get(rule.slice(rule.lastIndexOf(' ') + 1), t).jumpable) && fastAccept(rule, t, facts.iface, family, chains)) return undefined;
    const parsed = parseRule(rule, t, chain, facts.iface, family, chains);
    if (typeof parsed === 'string') return parsed;
    if (op === '-I') {
      if (!chains.get(parsed.target, t).owns) return 'a jump from a built-in chain must target a dockgate chain';
      if (parsed.comment !== JUMP_COMMENT) return `a jump from a built-in chain must carry the comment ${JUMP_COMMENT}`;
    }
    if (!diff && chains.get(parsed.target, t).jumpable && !declared.has(parsed.target)) return `jump to ${parsed.target}, which this table block does not declare`;
    return undefined;
  }
}

/** Violations as readable lines, for logs and assertion messages. */
export function describeViolations(violations: readonly Violation[]): string {
  return violations
    .map((v) => `line ${v.line}${v.container !== undefined ? ` (container ${v.container})` : ''}: ${v.reason}\n    ${JSON.stringify(v.text)}`)
    .join('\n');
}

/** Restore text dockgate refused to hand to iptables-restore: nothing of it was written. */
export class RestoreGrammarError extends Error {
  override readonly name = 'RestoreGrammarError';
  constructor(
    readonly program: string,
    readonly violations: readonly Violation[],
  ) {
    const first = violations[0]!;
    const more = violations.length > 1 ? ` (and ${violations.length - 1} more)` : '';
    super(
      `refused to run ${program}: line ${first.line}${first.container !== undefined ? ` of container ${first.container}` : ''} is outside dockgate's restore grammar (${first.reason}): ${JSON.stringify(first.text)}${more}; nothing was written`,
    );
  }
}

/** Throws RestoreGrammarError for text outside the grammar. */
export function assertRestoreGrammar(text: string, program: string, options: GrammarOptions = {}): void {
  const violations = checkRestore(text, options);
  if (violations.length > 0) throw new RestoreGrammarError(program, violations);
}
