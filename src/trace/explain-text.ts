// `dockgate explain` as text and JSON: the answer, the owner, the rules on the path, the notes.
import { bracketed, describeOpening, describeSources, openingJson } from '../model/format.js';
import { escapeControls, labelText } from '../labels/text.js';
import { type ContainerExplanation, type Explanation, type OwnerInfo, where, writerOf } from './explain.js';
import { type Step, type TraceResult, describeStep } from './trace.js';
import { egressLines } from './egress.js';

const describeLabels = (prefix: string, l: OwnerInfo['labels']): string =>
  (['ports', 'from', 'mode', 'egress'] as const).map((k) => (l[k] !== undefined ? labelText(`${prefix}.${k}`, l[k]) : `${prefix}.${k}=(default)`)).join(' ');

/** Steps worth reading: every rule that matched, and the policies that decided. */
function shownSteps(t: TraceResult): Step[] {
  return t.steps.filter((s) => s.action !== 'policy' || s.policy !== 'ACCEPT' || s.table === 'filter');
}

export function renderExplanation(e: Explanation, labelPrefix: string, indent = ''): string {
  const p = e.packet;
  const out: string[] = [];
  const head = `${p.src} -> ${bracketed(p.dst)}:${p.dport}/${p.protocol}`;
  out.push(`${indent}${head}: ${e.answer.toUpperCase()}`);
  out.push(`${indent}  ${e.summary}`);
  if (e.owner) {
    const o = e.owner;
    out.push(`${indent}  container: ${o.container} (${o.id.slice(0, 12)}) ${describeLabels(labelPrefix, o.labels)}, mode ${o.mode}`);
    out.push(`${indent}  opening:   ${describeOpening(o.opening)} from ${describeSources(o.opening.sources)}${o.sourceAllowed === 'yes' ? '' : o.sourceAllowed === 'partly' ? ` (${p.src} only partly among them)` : ` (${p.src} is not among them)`}`);
  } else {
    for (const w of e.ownership) out.push(`${indent}  owner: ${escapeControls(w)}`);
  }
  if (e.egress) for (const l of egressLines(e.egress, labelPrefix, p.family)) out.push(`${indent}  ${escapeControls(l)}`);
  for (const r of e.remarks) out.push(`${indent}  note: ${r}`);
  out.push(`${indent}  arrives on: ${p.inInterface ?? '(unknown)'} (${e.inInterfaceHow})`);
  if (e.trace.dnat) out.push(`${indent}  DNAT to ${bracketed(e.trace.dnat.dst)}:${e.trace.dnat.dport}`);
  if (e.trace.route) out.push(`${indent}  routed to ${e.trace.route}${e.trace.outInterface ? `, out of ${e.trace.outInterface}` : ''}`);
  out.push(`${indent}  rules on the path (IPv${p.family}):`);
  const decided = e.decidedBy ? e.trace.decidedBy : undefined;
  for (const s of shownSteps(e.trace)) {
    const mark = s === decided ? `   <- decided (${writerOf(s)})` : '';
    out.push(`${indent}    ${describeStep(s)}${mark}`);
  }
  if (e.trace.verdict === 'unknown' && e.trace.outcomes.length > 1) {
    out.push(`${indent}  possible outcomes:`);
    for (const o of e.trace.outcomes.slice(0, 6)) {
      const assumed = o.assumptions.map((a) => `${a.chain} rule ${a.rule} ${a.matched ? 'matches' : 'does not match'}`).join(', ');
      out.push(`${indent}    ${o.verdict}${o.decidedBy ? ` at ${where(o.decidedBy)}` : ''}${assumed ? ` if ${assumed}` : ''}`);
    }
  }
  for (const n of e.trace.notes) out.push(`${indent}  trace: ${n}`);
  const of = e.otherFirewalls;
  if (of.checked) {
    out.push(
      `${indent}  other firewalls (nft base chains): ${
        of.state === 'effective' ? 'none drops it' : `${of.state}: ${(of.blockers ?? []).map((b) => `${b.chain} (${b.by}; ${b.packets})`).join(', ')}`
      }`,
    );
  } else if (of.error !== undefined) {
    out.push(`${indent}  other firewalls (nft base chains): not checked: ${of.error}`);
  }
  return `${out.join('\n')}\n`;
}

export function renderContainer(x: ContainerExplanation, labelPrefix: string): string {
  const c = x.container;
  const out: string[] = [`${c.name} (${c.id.slice(0, 12)}) mode=${c.mode} egress=${c.egress} ${describeLabels(labelPrefix, x.labels)}: ${x.answer.toUpperCase()}`];
  for (const e of c.errors) out.push(`  ERROR ${labelText(e.label, e.value)}: ${escapeControls(e.reason)}`);
  for (const w of c.warnings) out.push(`  warn  ${escapeControls(w)}`);
  if (c.openings.length === 0) out.push('  nothing opened');
  let text = `${out.join('\n')}\n`;
  for (const o of x.openings) {
    text += `\n  ${describeOpening(o.opening)} from ${o.source}:\n`;
    text += o.explanation ? renderExplanation(o.explanation, labelPrefix, '    ') : `    not traced: ${o.skipped}\n`;
  }
  return text;
}

/** JSON for --json: the trace's outcomes without their full step lists (the shown path has them). */
export function explanationJson(e: Explanation): unknown {
  return {
    ...e,
    allowed: e.answer === 'allowed',
    owner: e.owner ? { ...e.owner, opening: openingJson(e.owner.opening) } : null,
    trace: {
      ...e.trace,
      outcomes: e.trace.outcomes.map((o) => ({ verdict: o.verdict, decidedBy: o.decidedBy, unknown: o.unknown, assumptions: o.assumptions })),
    },
  };
}
