// A strict grammar for the iptables-restore text dockgate writes, checked token by token.
//
// It is deliberately narrower than what iptables-restore accepts: it allows exactly the lines and
// options dockgate's planner is meant to produce, in the order iptables-save prints them, so that
// any text that reaches the kernel from somewhere it should not (a label, a Docker name) shows up
// as a violation rather than as a valid-looking rule. Used by the fuzz tests in this folder.
import { parseCidr } from '../../src/net/cidr.js';

export type TableName = 'raw' | 'nat' | 'filter';

export interface GrammarOptions {
  /**
   * Text from renderDiff / renderFull against an existing kernel: also allows `-D CHAIN RULE` and
   * `-X CHAIN`, and `-A` into chains that already exist (not declared in this text).
   */
  diff?: boolean;
  /** ip6tables-restore text: IPv6 addresses, DNAT to [ADDRESS]:PORT (default 4). */
  family?: 4 | 6;
}

export interface Violation {
  /** 1-based line number in the text. */
  line: number;
  text: string;
  reason: string;
}

const TABLES: readonly TableName[] = ['raw', 'nat', 'filter'];

/** Built-in chains each table has (iptables-restore refuses others). */
const BUILTINS: Record<TableName, readonly string[]> = {
  raw: ['PREROUTING', 'OUTPUT'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
};

/** The five built-ins the brief allows dockgate to insert a jump into. */
const JUMP_BUILTINS = new Set(['INPUT', 'FORWARD', 'PREROUTING', 'OUTPUT', 'POSTROUTING']);

/** Targets allowed per table (besides jumps into DOCKGATE-* chains). */
const TARGETS: Record<TableName, readonly string[]> = {
  raw: ['ACCEPT', 'DROP'],
  nat: ['DNAT', 'MASQUERADE', 'RETURN'],
  filter: ['ACCEPT', 'DROP', 'RETURN'],
};

/** xtables chain names are at most 28 characters (XT_EXTENSION_MAXNAMELEN - 1). */
const MAX_CHAIN = 28;
/** xt_comment keeps at most 255 characters (XT_MAX_COMMENT_LEN - 1) and silently cuts the rest. */
export const MAX_COMMENT = 255;

/**
 * DOCKGATE-<UPPER-CASE WORDS> for the shared chains, the same with -<2 hex> for their shards (the
 * first two hex digits of the container ids whose lines they hold), and the per-container chains
 * of older versions, DOCKGATE-C{I,F,N}-<12 hex>, which an upgrade empties and deletes.
 */
const OWN_CHAIN = /^DOCKGATE-(?:[A-Z]+(?:-[A-Z]+)*(?:-[0-9a-f]{2})?|C[IFN]-[0-9a-f]{12})$/;
const IFNAME = /^[A-Za-z0-9_.:@-]{1,15}$/;
const PORT = /^[1-9][0-9]{0,4}$/;
const BARE_COMMENT = /^[A-Za-z0-9_-]+$/;
const QUOTED_COMMENT_BODY = /^[A-Za-z0-9_./ -]+$/;
/** conntrack states in the order iptables-save prints them. */
const CTSTATES = ['INVALID', 'NEW', 'RELATED', 'ESTABLISHED', 'UNTRACKED', 'SNAT', 'DNAT'];

/**
 * Which interface options a chain's packets can be matched on: a chain reached only from
 * PREROUTING/INPUT has no output interface yet, one reached from POSTROUTING no input interface,
 * and DOCKGATE-DNAT and its shards are reached from both PREROUTING and OUTPUT.
 */
function interfaceRules(name: string, table: TableName): { in: boolean; out: boolean } {
  const chain = name.replace(/-[0-9a-f]{2}$/, '');
  if (chain === 'DOCKGATE-POSTROUTING') return { in: false, out: true };
  if (chain === 'DOCKGATE-RAW' || chain === 'DOCKGATE-INPUT' || chain === 'DOCKGATE-OPENINGS') return { in: true, out: false };
  // The guards of PREROUTING (containers without egress, internal networks) match the input interface.
  if (chain === 'DOCKGATE-PREROUTING') return { in: true, out: false };
  if (table === 'nat') return { in: false, out: false }; // PREROUTING + OUTPUT reach these
  return { in: true, out: true };
}

export function isOwnChain(name: string): boolean {
  return OWN_CHAIN.test(name) && name.length <= MAX_CHAIN;
}

export function isInterface(name: string): boolean {
  return IFNAME.test(name) && name !== '.' && name !== '..';
}

export function isPort(text: string): boolean {
  return PORT.test(text) && Number(text) <= 65535;
}

/** Canonical IPv4 CIDR as iptables-save prints it: prefix always given, never /0 (save omits it). */
export function isCanonicalV4Cidr(text: string): boolean {
  const r = parseCidr(text);
  return r.ok && r.value.family === 4 && r.value.text === text && text.includes('/') && !text.endsWith('/0');
}

/** Canonical CIDR of `family` as iptables-save / ip6tables-save print it. */
export function isCanonicalCidr(text: string, family: 4 | 6): boolean {
  if (family === 4) return isCanonicalV4Cidr(text);
  const r = parseCidr(text);
  return r.ok && r.value.family === 6 && r.value.text === text && text.includes('/') && !text.endsWith('/0');
}

export function isCanonicalV4(text: string): boolean {
  const r = parseCidr(text);
  return r.ok && r.value.family === 4 && !text.includes('/') && r.value.text === `${text}/32`;
}

/**
 * Splits a rule into tokens on single spaces. A token that starts with '"' runs to the next '"'
 * (no escapes are allowed in dockgate's comments, so none are handled). Returns a reason string
 * when the line cannot be tokenized.
 */
export function tokenize(rule: string): string[] | string {
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

/** What a parsed rule says, for callers that want to look at the fields. */
export interface ParsedRule {
  src?: string;
  dst?: string;
  in?: string;
  notIn?: string;
  out?: string;
  notOut?: string;
  proto?: 'tcp' | 'udp';
  dport?: number;
  addrtypeLocal?: boolean;
  ctstate?: string;
  notCtstate?: string;
  comment: string;
  target: string;
  toDestination?: { ip: string; port: number };
}

/**
 * Parses one rule (the part after `-A CHAIN ` / `-I CHAIN 1 ` / `-D CHAIN `) for `table` and
 * `chain`. Returns the fields, or the reason it is not in the grammar.
 */
export function parseRule(rule: string, table: TableName, chain: string, family: 4 | 6 = 4): ParsedRule | string {
  const tokens = tokenize(rule);
  if (typeof tokens === 'string') return tokens;
  let i = 0;
  const peek = (n = 0): string | undefined => tokens[i + n];
  const take = (): string => tokens[i++] ?? '';
  const out: Partial<ParsedRule> = {};
  const iface = interfaceRules(chain, table);

  // 1. addresses, interfaces, protocol — in iptables-save's fixed order, each at most once.
  if (peek() === '-s') {
    take();
    const v = take();
    if (!isCanonicalCidr(v, family)) return `-s ${JSON.stringify(v)} is not a canonical IPv${family} CIDR`;
    out.src = v;
  }
  if (peek() === '-d') {
    take();
    const v = take();
    if (!isCanonicalCidr(v, family)) return `-d ${JSON.stringify(v)} is not a canonical IPv${family} CIDR`;
    out.dst = v;
  }
  for (const [flag, key, allowed] of [
    ['-i', 'in', iface.in],
    ['-o', 'out', iface.out],
  ] as const) {
    const negated = peek() === '!' && peek(1) === flag;
    if (negated || peek() === flag) {
      if (!allowed) return `${flag} is not allowed in ${chain}`;
      if (negated) take();
      take();
      const v = take();
      if (!isInterface(v)) return `${flag} ${JSON.stringify(v)} is not an interface name`;
      if (negated) out[key === 'in' ? 'notIn' : 'notOut'] = v;
      else out[key] = v;
    }
  }
  if (peek() === '-p') {
    take();
    const v = take();
    if (v !== 'tcp' && v !== 'udp') return `-p ${JSON.stringify(v)} is not tcp or udp`;
    out.proto = v;
  }

  // 2. matches, in the order the planner writes them, each at most once.
  const order = ['tcp', 'udp', 'addrtype', 'conntrack', 'comment'];
  let last = -1;
  while (peek() === '-m') {
    take();
    const module = take();
    const rank = order.indexOf(module === 'udp' ? 'tcp' : module);
    if (rank < 0) return `match module ${JSON.stringify(module)} is not allowed`;
    if (rank <= last) return `match module ${module} out of order or repeated`;
    last = rank;
    switch (module) {
      case 'tcp':
      case 'udp': {
        if (out.proto !== module) return `-m ${module} without -p ${module}`;
        if (take() !== '--dport') return `-m ${module} must be followed by --dport`;
        const v = take();
        if (!isPort(v)) return `--dport ${JSON.stringify(v)} is not a port 1-65535`;
        out.dport = Number(v);
        break;
      }
      case 'addrtype': {
        if (take() !== '--dst-type' || take() !== 'LOCAL') return '-m addrtype must be --dst-type LOCAL';
        out.addrtypeLocal = true;
        break;
      }
      case 'conntrack': {
        const negated = peek() === '!';
        if (negated) take();
        if (take() !== '--ctstate') return '-m conntrack must be followed by [!] --ctstate';
        const v = take();
        const states = v.split(',');
        const ranks = states.map((s) => CTSTATES.indexOf(s));
        if (v === '' || ranks.some((r) => r < 0)) return `--ctstate ${JSON.stringify(v)} has an unknown state`;
        if (ranks.some((r, k) => k > 0 && r <= ranks[k - 1]!)) return `--ctstate ${v} is not in iptables-save order`;
        if (negated) out.notCtstate = v;
        else out.ctstate = v;
        break;
      }
      case 'comment': {
        if (take() !== '--comment') return '-m comment must be followed by --comment';
        const v = take();
        let text: string;
        if (v.startsWith('"')) {
          text = v.slice(1, -1);
          if (!QUOTED_COMMENT_BODY.test(text)) return `quoted comment ${v} holds a character outside [A-Za-z0-9_./ -]`;
          if (BARE_COMMENT.test(text)) return `comment ${v} is quoted but iptables-save prints it bare`;
        } else {
          if (!BARE_COMMENT.test(v)) return `bare comment ${JSON.stringify(v)} holds a character outside [A-Za-z0-9_-]`;
          text = v;
        }
        if (text.length > MAX_COMMENT) return `comment is ${text.length} characters; xt_comment keeps only ${MAX_COMMENT}`;
        out.comment = text;
        break;
      }
    }
  }
  if (peek() === '--dport' || peek() === '--ctstate') return `${peek()} outside its match module`;
  if (out.comment === undefined) return 'rule has no comment';
  if (out.proto && out.dport === undefined) return `-p ${out.proto} without -m ${out.proto} --dport`;

  // 3. the target, last.
  if (take() !== '-j') return `expected -j, got ${JSON.stringify(tokens[i - 1])}`;
  const target = take();
  if (target === '') return '-j without a target';
  out.target = target;
  if (isOwnChain(target)) {
    // a jump into one of ours
  } else if (!TARGETS[table].includes(target)) {
    return `-j ${JSON.stringify(target)} is not allowed in the ${table} table`;
  } else if (target === 'DNAT') {
    if (take() !== '--to-destination') return '-j DNAT must be followed by --to-destination';
    const v = take();
    const colon = v.lastIndexOf(':');
    const port = v.slice(colon + 1);
    let ip = v.slice(0, colon);
    if (family === 6) {
      // ip6tables writes the address in brackets: [fd00::2]:80.
      if (!/^\[.*\]$/.test(ip)) return `--to-destination ${JSON.stringify(v)} is not [IPv6]:PORT`;
      ip = ip.slice(1, -1);
      const r = parseCidr(ip);
      if (!r.ok || r.value.family !== 6 || r.value.text !== `${ip}/128` || !isPort(port)) return `--to-destination ${JSON.stringify(v)} is not [IPv6]:PORT`;
    } else if (colon < 0 || !isCanonicalV4(ip) || !isPort(port)) return `--to-destination ${JSON.stringify(v)} is not IPv4:PORT`;
    if (!out.proto) return '-j DNAT to a port needs -p';
    out.toDestination = { ip, port: Number(port) };
  }
  if (i !== tokens.length) return `unexpected ${JSON.stringify(tokens.slice(i).join(' '))} after the target`;
  return out as ParsedRule;
}

/** Every violation of the grammar in `text` (an empty array when it is all valid). */
export function checkRestore(text: string, options: GrammarOptions = {}): Violation[] {
  const violations: Violation[] = [];
  if (text === '') return violations;
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  else violations.push({ line: lines.length, text: lines[lines.length - 1] ?? '', reason: 'text does not end with a newline' });

  let table: TableName | undefined;
  let declared = new Set<string>();
  let phase = 0; // 0 declarations, 1 rule edits, 2 chain removals
  let bodyLines = 0;
  const seenTables = new Set<string>();

  lines.forEach((line, index) => {
    const bad = (reason: string): void => {
      violations.push({ line: index + 1, text: line, reason });
    };
    if (/[^\x20-\x7e]/.test(line)) {
      bad('non-printable or non-ASCII character');
      return;
    }
    if (table === undefined) {
      const m = /^\*(raw|nat|filter)$/.exec(line);
      if (!m) return bad('expected *raw, *nat or *filter');
      table = m[1] as TableName;
      if (seenTables.has(table)) bad(`table ${table} appears twice`);
      seenTables.add(table);
      declared = new Set();
      phase = 0;
      bodyLines = 0;
      return;
    }
    if (line === 'COMMIT') {
      if (bodyLines === 0) bad('empty table block');
      table = undefined;
      return;
    }
    bodyLines++;
    const t = table;

    if (line.startsWith(':')) {
      const m = /^:(\S+) - \[0:0\]$/.exec(line);
      if (!m || !isOwnChain(m[1]!)) return bad('declaration is not ":DOCKGATE-NAME - [0:0]"');
      if (phase > 0) bad('declaration after rule lines (it would flush the chain again)');
      if (declared.has(m[1]!)) bad(`chain ${m[1]} declared twice`);
      declared.add(m[1]!);
      return;
    }

    const words = line.split(' ');
    const op = words[0];
    const chain = words[1] ?? '';
    if (op === '-X') {
      if (!options.diff) return bad('-X outside a diff');
      if (words.length !== 2 || !isOwnChain(chain)) return bad('-X must name one DOCKGATE chain');
      if (!declared.has(chain)) bad(`-X ${chain} without declaring (emptying) it first`);
      phase = 2;
      return;
    }
    if (phase === 2) bad('rule line after -X lines');
    phase = 1;
    let rule: string;
    if (op === '-A') {
      if (!isOwnChain(chain)) return bad(`-A into ${JSON.stringify(chain)}, not a DOCKGATE chain`);
      if (!options.diff && !declared.has(chain)) bad(`-A into ${chain}, which this table block does not declare`);
      rule = words.slice(2).join(' ');
    } else if (op === '-I') {
      if (!JUMP_BUILTINS.has(chain) || !BUILTINS[t].includes(chain)) return bad(`-I into ${JSON.stringify(chain)}, not a built-in chain of ${t}`);
      if (words[2] !== '1') return bad('-I must insert at position 1');
      rule = words.slice(3).join(' ');
    } else if (op === '-D') {
      if (!options.diff) return bad('-D outside a diff');
      if (!isOwnChain(chain) && !BUILTINS[t].includes(chain)) return bad(`-D from ${JSON.stringify(chain)}`);
      rule = words.slice(2).join(' ');
    } else {
      return bad(`unexpected line start ${JSON.stringify(op)}`);
    }
    const parsed = parseRule(rule, t, isOwnChain(chain) ? chain : `builtin:${chain}`, options.family ?? 4);
    if (typeof parsed === 'string') return bad(parsed);
    if (op === '-I' && !isOwnChain(parsed.target)) bad('a jump from a built-in chain must target a DOCKGATE chain');
    if (isOwnChain(parsed.target) && !options.diff && !declared.has(parsed.target)) {
      bad(`jump to ${parsed.target}, which this table block does not declare`);
    }
  });
  if (table !== undefined) violations.push({ line: lines.length, text: '', reason: `table ${table} has no COMMIT` });
  return violations;
}

/** Violations as readable lines, for assertion messages. */
export function describeViolations(violations: readonly Violation[]): string {
  return violations.map((v) => `line ${v.line}: ${v.reason}\n    ${JSON.stringify(v.text)}`).join('\n');
}

// ---------------------------------------------------------------------------------------------
// A small model of the kernel, to check what a restore text *does*, not only how it looks.

/** table → chain → rule lines (without `-A CHAIN `), in order. Built-in chains are created on use. */
export type KernelModel = Map<TableName, Map<string, string[]>>;

export function emptyKernel(): KernelModel {
  return new Map(TABLES.map((t) => [t, new Map(BUILTINS[t].map((c) => [c, [] as string[]]))]));
}

export function cloneKernel(k: KernelModel): KernelModel {
  return new Map([...k].map(([t, chains]) => [t, new Map([...chains].map(([c, r]) => [c, [...r]]))]));
}

function targetOf(rule: string): string | undefined {
  return / -j (\S+)/.exec(` ${rule}`)?.[1];
}

/**
 * Applies a restore text the way `iptables-restore --noflush` would: each table block is atomic
 * (all or nothing); `:CHAIN` creates or empties a user chain; -A appends; -I N inserts; -D removes
 * the first identical rule (an error if there is none); -X removes an empty, unreferenced user
 * chain (an error otherwise). A jump to a chain that does not exist is an error. Throws on the
 * first error; the kernel is changed only for the blocks before it.
 */
export function applyRestore(kernel: KernelModel, text: string): void {
  let work: Map<string, string[]> | undefined;
  let table: TableName | undefined;
  const fail = (line: string, why: string): never => {
    throw new Error(`iptables-restore model: ${why}: ${JSON.stringify(line)}`);
  };
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (table === undefined) {
      const m = /^\*(raw|nat|filter)$/.exec(line);
      if (!m) fail(line, 'expected a table');
      table = m![1] as TableName;
      work = new Map([...kernel.get(table)!].map(([c, r]) => [c, [...r]]));
      continue;
    }
    const chains = work!;
    if (line === 'COMMIT') {
      for (const [name, rules] of chains) {
        for (const r of rules) {
          const target = targetOf(r);
          if (target?.startsWith('DOCKGATE-') && !chains.has(target)) fail(`${name}: ${r}`, 'jump to a missing chain at COMMIT');
        }
      }
      kernel.set(table, chains);
      table = undefined;
      work = undefined;
      continue;
    }
    if (line.startsWith(':')) {
      const name = line.slice(1).split(' ')[0]!;
      if (BUILTINS[table].includes(name)) fail(line, 'declaring a built-in chain with "-" policy');
      chains.set(name, []);
      continue;
    }
    const [op, name = ''] = line.split(' ');
    const rest = line.split(' ').slice(2).join(' ');
    const rules = chains.get(name);
    if (op === '-X') {
      if (!rules) fail(line, 'no such chain');
      if (rules!.length > 0) fail(line, 'chain not empty');
      for (const [other, rs] of chains) if (rs.some((r) => targetOf(r) === name)) fail(line, `chain still referenced from ${other}`);
      chains.delete(name);
      continue;
    }
    if (!rules) fail(line, 'no such chain');
    if (op === '-A' || op === '-I') {
      const rule = op === '-I' ? line.split(' ').slice(3).join(' ') : rest;
      const target = targetOf(rule);
      if (target?.startsWith('DOCKGATE-') && !chains.has(target)) fail(line, 'jump to a chain that does not exist');
      if (op === '-A') rules!.push(rule);
      else rules!.unshift(rule);
    } else if (op === '-D') {
      const at = rules!.indexOf(rest);
      if (at < 0) fail(line, 'rule to delete does not exist');
      rules!.splice(at, 1);
    } else {
      fail(line, 'unknown command');
    }
  }
  if (table !== undefined) fail('', 'missing COMMIT');
}

/**
 * A plain, order-stable view for deep equality: only non-empty built-ins, every user chain.
 * Chains named in `unordered` ('table/NAME': dockgate's "set" chains, whose jump rules may be in
 * any order) have their rules sorted.
 */
export function kernelView(k: KernelModel, unordered: ReadonlySet<string> = new Set()): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const t of TABLES) {
    for (const [name, rules] of [...(k.get(t) ?? new Map<string, string[]>())].sort(([a], [b]) => a.localeCompare(b))) {
      if (BUILTINS[t].includes(name) && rules.length === 0) continue;
      const key = `${t}/${name}`;
      out[key] = unordered.has(key) ? [...rules].sort() : [...rules];
    }
  }
  return out;
}
