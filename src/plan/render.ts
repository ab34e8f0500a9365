// Rule → the line iptables-save prints for it (without `-A CHAIN `): the one place where rule
// text is made. Everything upstream of here is typed data (src/model/rule.ts); the kernel-state
// comparison and the restore texts downstream work on these lines.
import type { ChainPlan, JumpRule } from '../model/types.js';
import type { Action, Match, Rule } from '../model/rule.js';
import { shortHex } from '../model/mark-bit.js';
import { comment, host } from './syntax.js';
import { JUMP_COMMENT } from './chains.js';
import { bracketed } from '../model/format.js';

/** The matches in iptables-save's fixed order: -s -d -i -o -p, then match modules. */
export function renderMatch(m: Match): string[] {
  const out: string[] = [];
  if (m.src !== undefined) out.push(`-s ${host(m.src)}`);
  if (m.dst !== undefined) out.push(`-d ${host(m.dst)}`);
  if (m.in !== undefined) out.push(`-i ${m.in}`);
  if (m.notIn !== undefined) out.push(`! -i ${m.notIn}`);
  if (m.out !== undefined) out.push(`-o ${m.out}`);
  if (m.notOut !== undefined) out.push(`! -o ${m.notOut}`);
  if (m.proto !== undefined) out.push(`-p ${m.proto}`);
  if (m.proto !== undefined && m.dport !== undefined) {
    const d = m.dport;
    out.push(`-m ${m.proto} --dport ${d.start === d.end ? d.start : `${d.start}:${d.end}`}`);
  }
  if (m.dstSet !== undefined) out.push(`-m set --match-set ${m.dstSet} dst`);
  if (m.dstLocal) out.push('-m addrtype --dst-type LOCAL');
  if (m.ctstate !== undefined) out.push(`-m conntrack --ctstate ${m.ctstate.join(',')}`);
  if (m.notCtstate !== undefined) out.push(`-m conntrack ! --ctstate ${m.notCtstate.join(',')}`);
  if (m.limit !== undefined) {
    const l = m.limit;
    out.push(`-m hashlimit --hashlimit-upto ${l.perSecond}/sec --hashlimit-burst ${l.burst} --hashlimit-name ${l.name}`);
  }
  return out;
}

/** The target as iptables-save prints it, after `-j `. */
export function renderAction(a: Action): string {
  switch (a.kind) {
    case 'accept':
      return 'ACCEPT';
    case 'drop':
      return 'DROP';
    case 'return':
      return 'RETURN';
    case 'masquerade':
      return 'MASQUERADE';
    case 'jump':
      return a.chain;
    case 'dnat':
      return `DNAT --to-destination ${bracketed(a.ip)}:${a.port}`;
    case 'nflog':
      return `NFLOG --nflog-prefix "${a.prefix}" --nflog-group ${a.group}`;
    case 'mark':
      return `MARK --set-xmark ${shortHex(a.bit)}/${shortHex(a.bit)}`;
  }
}

// Rules are immutable and shared between plans (the plan cache hands the same objects back), so
// each is rendered once however many diffs and drift checks compare it.
const rendered = new WeakMap<Rule, string>();

export function renderRule(r: Rule): string {
  let line = rendered.get(r);
  if (line === undefined) {
    line = [...renderMatch(r.match), comment(r.comment), `-j ${renderAction(r.action)}`].join(' ');
    rendered.set(r, line);
  }
  return line;
}

/** A chain's rules as lines, in order. */
export const renderRules = (rules: readonly Rule[]): string[] => rules.map(renderRule);

/** A chain's lines (what `iptables-save` prints after `-A NAME `). */
export const linesOf = (c: Pick<ChainPlan, 'rules'>): string[] => renderRules(c.rules);

/** A jump from a built-in chain, as iptables-save prints it after `-A BUILTIN `. */
export function jumpLine(j: JumpRule): string {
  return [...renderMatch(j.match), comment(JUMP_COMMENT), `-j ${j.target}`].join(' ');
}
