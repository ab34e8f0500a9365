// One iptables-save rule line (the part after `-A CHAIN `) → the conditions it tests and its
// target. Only what the tracer can judge becomes a typed condition; every other option is kept
// as an `unknown` condition naming itself, so the tracer can say where it stopped understanding
// instead of guessing. iptables-save prints options in a fixed order (-s -d -i -o -p -f, then
// `-m MODULE options...` groups, then -j/-g with the target's options), which this relies on.
import { type Net, parseNet } from '../net/address.js';
import { type SetCond, setCond } from './sets.js';

export interface Token {
  text: string;
  quoted: boolean;
}

/** Splits on blanks; "double quoted" tokens (comments) keep their spaces, with \" and \\ escapes. */
export function tokenize(line: string): Token[] | undefined {
  const out: Token[] = [];
  let i = 0;
  while (i < line.length) {
    const c = line[i]!;
    if (c === ' ' || c === '\t') {
      i++;
      continue;
    }
    if (c === '"') {
      let text = '';
      i++;
      for (;;) {
        if (i >= line.length) return undefined;
        const d = line[i]!;
        if (d === '\\' && i + 1 < line.length) {
          text += line[i + 1];
          i += 2;
        } else if (d === '"') {
          i++;
          break;
        } else {
          text += d;
          i++;
        }
      }
      out.push({ text, quoted: true });
      continue;
    }
    let j = i;
    while (j < line.length && line[j] !== ' ' && line[j] !== '\t') j++;
    out.push({ text: line.slice(i, j), quoted: false });
    i = j;
  }
  return out;
}

export type PortRange = readonly [number, number];

export type Cond =
  | { kind: 'src' | 'dst'; net: Net; neg: boolean; text: string }
  | { kind: 'in' | 'out'; name: string; neg: boolean; text: string }
  | { kind: 'proto'; proto: string; neg: boolean; text: string }
  /** `-m tcp` / `-m udp`: the module itself only matches its own protocol. */
  | { kind: 'module-proto'; proto: 'tcp' | 'udp'; text: string }
  | { kind: 'dport'; ranges: PortRange[]; neg: boolean; text: string }
  /** The client's source port is not known: anything testing it is uncertain. */
  | { kind: 'sport'; neg: boolean; text: string }
  /** multiport --ports: source or destination port. */
  | { kind: 'anyport'; ranges: PortRange[]; neg: boolean; text: string }
  | { kind: 'tcpflags'; mask: ReadonlySet<string>; comp: ReadonlySet<string>; neg: boolean; text: string }
  | { kind: 'ctstate'; states: string[]; neg: boolean; module: 'conntrack' | 'state'; text: string }
  | { kind: 'ctdir'; dir: string; neg: boolean; text: string }
  | { kind: 'addrtype'; which: 'src' | 'dst'; types: string[]; neg: boolean; text: string }
  /** `-m set --match-set NAME src|dst`: decided from the set's members when the tracer has them (sets.ts). */
  | SetCond
  | { kind: 'unknown'; text: string };

export interface ParsedRule {
  conds: Cond[];
  /** Absent: a rule without -j/-g (it only counts packets). */
  target?: string;
  goto: boolean;
  /** The target's own options, e.g. `--to-destination 172.17.0.3:80`. */
  targetArgs: string[];
}

const isBreak = (t: Token | undefined): boolean => t !== undefined && !t.quoted && (t.text === '-m' || t.text === '-j' || t.text === '-g');

function parsePorts(text: string): PortRange[] | undefined {
  const out: PortRange[] = [];
  for (const part of text.split(',')) {
    const m = /^(\d{0,5})(?::(\d{0,5}))?$/.exec(part);
    if (!m || part === '') return undefined;
    const lo = m[1] === '' ? 0 : Number(m[1]);
    const hi = m[2] === undefined ? lo : m[2] === '' ? 65535 : Number(m[2]);
    if (lo > 65535 || hi > 65535 || lo > hi) return undefined;
    out.push([lo, hi]);
  }
  return out;
}

const FLAGS = new Set(['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR']);
function parseFlags(text: string): Set<string> | undefined {
  if (text === 'ALL') return new Set(FLAGS);
  if (text === 'NONE') return new Set();
  const out = new Set<string>();
  for (const f of text.split(',')) {
    if (!FLAGS.has(f)) return undefined;
    out.add(f);
  }
  return out;
}

/** Option → how many values it takes, per module the tracer judges. Others make the module unknown. */
const MODULE_OPTIONS: Record<string, Record<string, number>> = {
  tcp: { '--dport': 1, '--destination-port': 1, '--sport': 1, '--source-port': 1, '--syn': 0, '--tcp-flags': 2 },
  udp: { '--dport': 1, '--destination-port': 1, '--sport': 1, '--source-port': 1 },
  multiport: { '--dports': 1, '--destination-ports': 1, '--sports': 1, '--source-ports': 1, '--ports': 1 },
  conntrack: { '--ctstate': 1, '--ctdir': 1 },
  state: { '--state': 1 },
  addrtype: { '--dst-type': 1, '--src-type': 1 },
  comment: { '--comment': 1 },
  set: { '--match-set': 2 },
};

function moduleConds(name: string, opts: Token[], out: Cond[]): void {
  const whole = `-m ${name}${opts.length ? ' ' : ''}${opts.map((t) => (t.quoted ? JSON.stringify(t.text) : t.text)).join(' ')}`;
  const known = MODULE_OPTIONS[name];
  if (!known) {
    out.push({ kind: 'unknown', text: whole });
    return;
  }
  if (name === 'tcp' || name === 'udp') out.push({ kind: 'module-proto', proto: name, text: `-m ${name}` });
  let i = 0;
  while (i < opts.length) {
    let neg = false;
    if (opts[i]!.text === '!' && !opts[i]!.quoted) {
      neg = true;
      i++;
    }
    const opt = opts[i];
    const arity = opt && !opt.quoted ? known[opt.text] : undefined;
    if (opt === undefined || arity === undefined) {
      out.push({ kind: 'unknown', text: whole });
      return;
    }
    const values = opts.slice(i + 1, i + 1 + arity).map((t) => t.text);
    if (values.length !== arity) {
      out.push({ kind: 'unknown', text: whole });
      return;
    }
    const text = `${neg ? '! ' : ''}${opt.text}${values.length ? ` ${values.join(' ')}` : ''}`;
    const cond = optionCond(name, opt.text, values, neg, text);
    if (!cond) {
      // A value the tracer cannot read (a service name, a state it does not know): not judged.
      out.push({ kind: 'unknown', text: `-m ${name} ${text}` });
    } else if (cond !== 'ignore') {
      out.push(cond);
    }
    i += 1 + arity;
  }
}

const CT_STATES = new Set(['NEW', 'ESTABLISHED', 'RELATED', 'INVALID', 'UNTRACKED', 'SNAT', 'DNAT']);
const ADDR_TYPES = new Set(['UNSPEC', 'UNICAST', 'LOCAL', 'BROADCAST', 'ANYCAST', 'MULTICAST', 'BLACKHOLE', 'UNREACHABLE', 'PROHIBIT', 'THROW', 'NAT', 'XRESOLVE']);

function optionCond(module: string, opt: string, v: string[], neg: boolean, text: string): Cond | 'ignore' | undefined {
  switch (`${module} ${opt}`) {
    case 'comment --comment':
      return 'ignore';
    case 'tcp --dport':
    case 'tcp --destination-port':
    case 'udp --dport':
    case 'udp --destination-port':
    case 'multiport --dports':
    case 'multiport --destination-ports': {
      const ranges = parsePorts(v[0]!);
      return ranges ? { kind: 'dport', ranges, neg, text } : undefined;
    }
    case 'tcp --sport':
    case 'tcp --source-port':
    case 'udp --sport':
    case 'udp --source-port':
    case 'multiport --sports':
    case 'multiport --source-ports':
      return { kind: 'sport', neg, text };
    case 'multiport --ports': {
      const ranges = parsePorts(v[0]!);
      return ranges ? { kind: 'anyport', ranges, neg, text } : undefined;
    }
    case 'tcp --syn':
      return { kind: 'tcpflags', mask: new Set(['FIN', 'SYN', 'RST', 'ACK']), comp: new Set(['SYN']), neg, text };
    case 'tcp --tcp-flags': {
      const mask = parseFlags(v[0]!);
      const comp = parseFlags(v[1]!);
      return mask && comp ? { kind: 'tcpflags', mask, comp, neg, text } : undefined;
    }
    case 'conntrack --ctstate':
    case 'state --state': {
      const states = v[0]!.split(',');
      const allowed = module === 'state' ? new Set(['NEW', 'ESTABLISHED', 'RELATED', 'INVALID', 'UNTRACKED']) : CT_STATES;
      return states.every((s) => allowed.has(s)) ? { kind: 'ctstate', states, neg, module: module as 'conntrack' | 'state', text } : undefined;
    }
    case 'conntrack --ctdir':
      return v[0] === 'ORIGINAL' || v[0] === 'REPLY' ? { kind: 'ctdir', dir: v[0], neg, text } : undefined;
    case 'addrtype --dst-type':
    case 'addrtype --src-type': {
      const types = v[0]!.split(',');
      return types.every((t) => ADDR_TYPES.has(t)) ? { kind: 'addrtype', which: opt === '--dst-type' ? 'dst' : 'src', types, neg, text } : undefined;
    }
    case 'set --match-set':
      return setCond(v, neg, text);
    default:
      return undefined;
  }
}

const cache = new Map<string, ParsedRule>();

/** Parses one rule line. Never throws: what it cannot read becomes an `unknown` condition. */
export function parseRule(line: string): ParsedRule {
  const hit = cache.get(line);
  if (hit) return hit;
  const parsed = parse(line);
  if (cache.size > 50_000) cache.clear();
  cache.set(line, parsed);
  return parsed;
}

function parse(line: string): ParsedRule {
  const tokens = tokenize(line);
  if (!tokens) return { conds: [{ kind: 'unknown', text: line }], goto: false, targetArgs: [] };
  const conds: Cond[] = [];
  let i = 0;
  while (i < tokens.length) {
    let neg = false;
    if (tokens[i]!.text === '!' && !tokens[i]!.quoted) {
      neg = true;
      i++;
    }
    const t = tokens[i];
    if (!t) {
      conds.push({ kind: 'unknown', text: '!' });
      break;
    }
    const bang = neg ? '! ' : '';
    if (!t.quoted && (t.text === '-j' || t.text === '-g')) {
      const target = tokens[i + 1]?.text;
      if (target === undefined) {
        conds.push({ kind: 'unknown', text: t.text });
        return { conds, goto: false, targetArgs: [] };
      }
      return { conds, target, goto: t.text === '-g', targetArgs: tokens.slice(i + 2).map((x) => x.text) };
    }
    if (!t.quoted && t.text === '-m') {
      const name = tokens[i + 1]?.text ?? '';
      let j = i + 2;
      while (j < tokens.length && !isBreak(tokens[j])) j++;
      // A `!` right before the next -m/-j belongs to nothing in save output: keep it with the module.
      moduleConds(name, tokens.slice(i + 2, j), conds);
      if (neg) conds.push({ kind: 'unknown', text: `! -m ${name}` });
      i = j;
      continue;
    }
    const value = tokens[i + 1]?.text;
    const base = !t.quoted && value !== undefined ? t.text : '';
    const text = `${bang}${t.text} ${value ?? ''}`.trim();
    if (base === '-s' || base === '-d') {
      const net = parseNet(value!);
      conds.push(net ? { kind: base === '-s' ? 'src' : 'dst', net, neg, text } : { kind: 'unknown', text });
      i += 2;
    } else if (base === '-i' || base === '-o') {
      conds.push({ kind: base === '-i' ? 'in' : 'out', name: value!, neg, text });
      i += 2;
    } else if (base === '-p') {
      conds.push({ kind: 'proto', proto: value!.toLowerCase(), neg, text });
      i += 2;
    } else {
      // -f (fragments), or anything save output never holds here: not judged.
      conds.push({ kind: 'unknown', text: `${bang}${t.text}` });
      i += 1;
    }
  }
  return { conds, goto: false, targetArgs: [] };
}
