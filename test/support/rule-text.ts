// Tests that write a plan by hand write its rules as iptables-save prints them, which reads best
// for a rule's exact text. This turns such a line into the typed rule the plan holds, and throws
// unless the renderer gives the very same line back, so a hand-written plan can never drift from
// what dockgate would write. Test-only: nothing in src/ parses dockgate's own rule text.
import type { Action, CtState, Match, Rule } from '../../src/model/rule.js';
import type { MarkBit } from '../../src/model/mark-bit.js';
import { renderRule } from '../../src/plan/render.js';

const TARGETS: Record<string, Action> = {
  ACCEPT: { kind: 'accept' },
  DROP: { kind: 'drop' },
  RETURN: { kind: 'return' },
  MASQUERADE: { kind: 'masquerade' },
};

function actionOf(target: string): Action {
  const fixed = TARGETS[target];
  if (fixed) return fixed;
  const dnat = /^DNAT --to-destination \[?([^\]]+?)\]?:(\d+)$/.exec(target);
  if (dnat) return { kind: 'dnat', ip: dnat[1]!, port: Number(dnat[2]) };
  const nflog = /^NFLOG --nflog-prefix "([^"]*)" --nflog-group (\d+)$/.exec(target);
  if (nflog) return { kind: 'nflog', prefix: nflog[1]!, group: Number(nflog[2]) };
  const mark = /^MARK --set-xmark (0x[0-9a-f]+)\/\1$/.exec(target);
  if (mark) return { kind: 'mark', bit: Number(mark[1]) as MarkBit };
  if (/^[A-Z][A-Za-z0-9_-]*$/.test(target)) return { kind: 'jump', chain: target };
  throw new Error(`rule-text: unknown target ${target}`);
}

const plain = (addr: string): string => addr.replace(/\/(32|128)$/, '');

/** The typed rule iptables-save prints as `line` (the part after `-A CHAIN `). */
export function ruleOf(line: string): Rule {
  const j = line.lastIndexOf(' -j ');
  const head = j < 0 ? '' : line.slice(0, j);
  const target = line.slice(j + 4);
  const c = /(?:^| )-m comment --comment ("(?:[^"\\]|\\.)*"|\S+)$/.exec(head);
  if (!c) throw new Error(`rule-text: no comment at the end of the matches in ${line}`);
  const comment = c[1]!.startsWith('"') ? c[1]!.slice(1, -1) : c[1]!;
  const words = head.slice(0, c.index).trim().split(' ').filter((w) => w !== '');
  const m: Match = {};
  const states = (s: string): CtState[] => s.split(',') as CtState[];
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const next = (): string => words[++i] ?? '';
    if (w === '-s') m.src = plain(next());
    else if (w === '-d') m.dst = plain(next());
    else if (w === '-i') m.in = next();
    else if (w === '-o') m.out = next();
    else if (w === '!' && words[i + 1] === '-i') (i++, (m.notIn = next()));
    else if (w === '!' && words[i + 1] === '-o') (i++, (m.notOut = next()));
    else if (w === '-p') m.proto = next() as Match['proto'];
    else if (w === '-m' && (words[i + 1] === 'tcp' || words[i + 1] === 'udp') && words[i + 2] === '--dport') {
      i += 2;
      const [a, b] = next().split(':').map(Number);
      m.dport = { start: a!, end: b ?? a! };
    } else if (w === '-m' && words[i + 1] === 'conntrack' && words[i + 2] === '--ctstate') (i += 2, (m.ctstate = states(next())));
    else if (w === '-m' && words[i + 1] === 'conntrack' && words[i + 2] === '!') (i += 3, (m.notCtstate = states(next())));
    else if (w === '-m' && words[i + 1] === 'addrtype') (i += 2, next(), (m.dstLocal = true));
    else if (w === '-m' && words[i + 1] === 'set') (i += 2, (m.dstSet = next()), next());
    else throw new Error(`rule-text: cannot read ${w} in ${line}`);
  }
  const rule: Rule = { match: m, action: actionOf(target), comment };
  const back = renderRule(rule);
  if (back !== line) throw new Error(`rule-text: ${line}\n renders back as ${back}`);
  return rule;
}

export const rulesOf = (lines: readonly string[]): Rule[] => lines.map(ruleOf);
