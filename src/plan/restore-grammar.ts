// A strict grammar for the iptables-restore text dockgate writes, checked line by line before
// any of it reaches iptables-restore (dataplane/iptables.ts), and by the fuzz tests.
//
// It is deliberately narrower than what iptables-restore accepts: exactly the lines and options
// dockgate's planner produces, in the order iptables-save prints them, into chains dockgate owns
// by exact name (chains.ts). Text that reaches the kernel from somewhere it should not (a label,
// a Docker name, a bug) is refused as a whole, naming the line and the container it came from,
// rather than written as a valid-looking rule. Pure: no I/O.
//
// The parts: restore-grammar-tables.ts (what each table allows, what a chain name is there),
// restore-grammar-values.ts (the values a line may hold), restore-grammar-rule.ts (one rule).
import type { Family } from '../model/types.js';
import { JUMP_COMMENT, USER } from './chains.js';
import { ChainCache, type GrammarTable, TABLE_SHAPES } from './restore-grammar-tables.js';
import { fastAccept, parseRule, strayJump } from './restore-grammar-rule.js';
import { NOT_PRINTABLE } from './restore-grammar-values.js';

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
const CONTAINER_COMMENT = /^(.+\/[0-9a-f]{12})$/;
const COMMENT_IN_LINE = /(?:^| )-m comment --comment ("[^"]*"|\S+)/;

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
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  else violations.push({ line: lines.length, text: lines[lines.length - 1] ?? '', reason: 'text does not end with a newline' });
  const check = new LineCheck(options);
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!;
    const reason = check.line(line);
    // Every accepted token is held to a pattern of printable ASCII (or an exact name), so a
    // control character can only be in a refused line: named as the reason there.
    if (reason !== undefined) violations.push(violation(index, line, NOT_PRINTABLE.test(line) ? 'non-printable or non-ASCII character' : reason));
  }
  if (check.table !== undefined) violations.push({ line: lines.length, text: '', reason: `table ${check.table} has no COMMIT` });
  return violations;
}

/** The text line by line, keeping track of where it stands: which table block, which phase of it. */
class LineCheck {
  readonly #family: Family;
  readonly #diff: boolean;
  readonly #fastPath: boolean;
  readonly #chains = new ChainCache();
  /** The table block the lines are in; undefined between blocks. */
  table: GrammarTable | undefined;
  #declared = new Set<string>();
  #phase = 0; // 0 declarations, 1 rule edits, 2 chain removals
  #bodyLines = 0;
  readonly #seenTables = new Set<string>();

  constructor(options: GrammarOptions) {
    this.#family = options.family ?? 4;
    this.#diff = options.diff ?? false;
    this.#fastPath = options.fastPath ?? true;
  }

  /** Why one line is outside the grammar (undefined: it is in). */
  line(line: string): string | undefined {
    if (this.table === undefined) return this.#tableLine(line);
    if (line === 'COMMIT') {
      this.table = undefined;
      return this.#bodyLines === 0 ? 'empty table block' : undefined;
    }
    this.#bodyLines++;
    if (line.startsWith(':')) return this.#declaration(line, this.table);
    return this.#edit(line, this.table);
  }

  #tableLine(line: string): string | undefined {
    const m = TABLE_LINE.exec(line);
    if (!m) return 'expected *raw, *nat, *filter or *mangle';
    const table = m[1] as GrammarTable;
    this.table = table;
    this.#declared = new Set();
    this.#phase = 0;
    this.#bodyLines = 0;
    if (this.#seenTables.has(table)) return `table ${table} appears twice`;
    this.#seenTables.add(table);
    return undefined;
  }

  #declaration(line: string, t: GrammarTable): string | undefined {
    const m = DECLARATION.exec(line);
    // DOCKGATE-USER is declared only where it is missing (restore.ts): that creates it.
    if (!m || !(this.#chains.get(m[1]!, t).mayRetire || (t === 'filter' && m[1] === USER))) return `declaration is not ":CHAIN - [0:0]" of a chain dockgate owns in ${t}`;
    const name = m[1]!;
    if (this.#phase > 0) return 'declaration after rule lines (it would flush the chain again)';
    if (this.#declared.has(name)) return `chain ${name} declared twice`;
    this.#declared.add(name);
    return undefined;
  }

  /** `-A`, `-I`, `-D`, `-F` or `-X` line. */
  #edit(line: string, t: GrammarTable): string | undefined {
    const chains = this.#chains;
    const diff = this.#diff;
    const declared = this.#declared;
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
      this.#phase = 2;
      return declared.has(chain) ? undefined : `-X ${chain} without declaring (emptying) it first`;
    }
    if (this.#phase === 2) return 'rule line after -X lines';
    this.#phase = 1;
    let rule: string;
    if (op === '-A') {
      if (!facts.owns) return `-A into ${JSON.stringify(chain)}, not a chain dockgate writes in ${t}`;
      if (!diff && !declared.has(chain)) return `-A into ${chain}, which this table block does not declare`;
      rule = rest;
    } else if (op === '-I') {
      if (!TABLE_SHAPES[t].jumpFrom.has(chain)) return `-I into ${JSON.stringify(chain)}, not a built-in chain dockgate jumps from in ${t}`;
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
    if (this.#fastPath && op !== '-I' && (diff || !chains.get(rule.slice(rule.lastIndexOf(' ') + 1), t).jumpable) && fastAccept(rule, t, facts.iface, this.#family, chains)) return undefined;
    const parsed = parseRule(rule, t, chain, facts.iface, this.#family, chains);
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
